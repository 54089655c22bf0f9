"""The dispatch engine in one process: concurrent sends per chunk, one recording transaction, no blind
resend after a timeout, errors that mean something, bounded rate-limit waits, account health.

The provider is a real local HTTP server answering as Twilio's send endpoint (providers/twilio.md §2),
so timeouts, refused connections and keep-alive are the real thing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging import dispatch
from messaging.models import DeliveryAttempt, Message, MessageEvent, OptOut, Status
from messaging.services import retry_message
from providers import services as provider_services
from providers.models import ProviderAccount
from providers.sandbox import SandboxAdapter
from providers.twilio import TwilioAdapter
from tests.factories import make_account
from tests.messaging.conftest import queued_rows
from tests.providers.shared import closed_port_url

TOKEN = "test-auth-token"


@pytest.fixture(autouse=True)
def local_providers(settings):
    """The providers here listen on 127.0.0.1, which the outbound guard refuses unless allowed
    (jood/outbound.py; tests/providers/test_outbound_guard.py checks the refusal itself)."""
    settings.OUTBOUND_ALLOW_PRIVATE = True


class Provider:
    """Twilio's send endpoint on 127.0.0.1: counts sends per `To`, the most in flight at once, and can
    answer late (`delay`), hang past our read timeout after reading the request (`hang`), or refuse
    with a Twilio error code (`error`)."""

    def __init__(self, delay: float = 0.0, hang: float = 0.0, error: int | None = None):
        self.sends: Counter = Counter()
        self.callbacks: dict[str, str] = {}
        self.delay, self.hang, self.error = delay, hang, error
        self.in_flight = self.most_in_flight = 0
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                to = form["To"][0]
                with lock:
                    owner.sends[to] += 1
                    owner.callbacks[to] = form.get("StatusCallback", [""])[0]
                    owner.in_flight += 1
                    owner.most_in_flight = max(owner.most_in_flight, owner.in_flight)
                try:
                    time.sleep(owner.hang or owner.delay)
                finally:
                    with lock:
                        owner.in_flight -= 1
                if owner.error:
                    status, body = 400, {"code": owner.error, "message": "Refused", "status": 400}
                else:
                    status, body = 201, {"sid": "SM" + uuid.uuid4().hex, "status": "queued", "num_segments": "1"}
                raw = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # we gave up waiting (a read timeout)

            def log_message(self, *args):
                pass

        # A chunk connects all at once: the default listen backlog of 5 refuses some on a busy machine.
        server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 128})
        self.server = server_class(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/2010-04-01"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    servers = []

    def start(**behaviour) -> Provider:
        servers.append(Provider(**behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def twilio(organization, url: str, **fields) -> ProviderAccount:
    return provider_services.connect_account(
        organization,
        provider="twilio",
        channel="sms",
        label=fields.pop("label", "Twilio (local)"),
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": TOKEN},
        default_sender="+15005550006",
        api_base_url=url,
        messages_per_second=fields.pop("messages_per_second", 0),
        **fields,
    )


def test_a_chunk_goes_out_concurrently_over_keep_alive(acme, provider):
    server = provider(delay=0.3)
    twilio(acme, server.url)
    ids = queued_rows(acme, 20)
    assert dispatch.dispatch(ids) == 20
    # One at a time, one request would be in flight; the chunk keeps many (speed itself is the bench's).
    assert server.most_in_flight >= 10
    assert Message.objects.filter(pk__in=ids, status=Status.SENT).count() == 20


def test_a_chunk_is_recorded_with_the_same_queries_for_5_and_50_messages(acme, sandbox):
    def queries(n: int) -> int:
        ids = queued_rows(acme, n)
        with CaptureQueriesContext(connection) as captured:
            assert dispatch.dispatch(ids) == n
        return len(captured)

    assert queries(5) == queries(50)


def twilio_callback(client, settings, callback_url: str, sid: str, status: str):
    """Post Twilio's status callback to the URL the send carried, signed as Twilio signs it."""
    parts = urlsplit(callback_url)
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    signed = callback_url + "".join(name + params[name] for name in sorted(params))
    signature = base64.b64encode(hmac.new(TOKEN.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return client.post(
        f"{parts.path}?{parts.query}",
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


def test_a_read_timeout_holds_the_message_and_a_callback_with_our_id_settles_it(
    acme, provider, monkeypatch, client, settings, dispatching
):
    settings.PUBLIC_BASE_URL = "https://jood.example.com"
    server = provider(hang=1.5)  # takes the message, answers after we stopped waiting
    monkeypatch.setattr(TwilioAdapter, "timeout", (2.0, 0.3))
    twilio(acme, server.url)
    [pk] = queued_rows(acme, 1)
    before = timezone.now()
    dispatch.dispatch([pk])

    message = Message.objects.get(pk=pk)
    assert message.status == Status.QUEUED
    assert message.next_attempt_at >= before + timedelta(minutes=settings.DISPATCH_RECONCILE_MINUTES)
    attempt = DeliveryAttempt.objects.get(message_id=pk)
    assert (attempt.outcome, attempt.error_code) == ("unknown", "read_timeout")
    # Our id rode in the callback URL.
    callback = server.callbacks[message.to]
    assert parse_qs(urlsplit(callback).query)["m"] == [str(message.public_id)]

    # Inside the window: nothing goes again.
    assert dispatch.publish_due_retries(now=timezone.now() + timedelta(seconds=30)) == 0
    with dispatching():
        response = twilio_callback(client, settings, callback, "SM" + "f" * 32, "delivered")
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.provider_message_id == "SM" + "f" * 32

    # Past the window it is not sent again either: the callback settled it.
    later = timezone.now() + timedelta(minutes=settings.DISPATCH_RECONCILE_MINUTES, seconds=1)
    with dispatching():
        dispatch.publish_due_retries(now=later)
        dispatch.sweep(now=later)
    assert server.sends == Counter({message.to: 1})


def test_without_a_callback_a_held_message_goes_again_only_after_the_window(acme, provider, monkeypatch, settings):
    server = provider(hang=1.0)
    monkeypatch.setattr(TwilioAdapter, "timeout", (2.0, 0.3))
    twilio(acme, server.url)
    [pk] = queued_rows(acme, 1)
    dispatch.dispatch([pk])
    assert dispatch.dispatch([pk]) == 0  # held: not due
    server.hang = 0
    Message.objects.filter(pk=pk).update(next_attempt_at=timezone.now())  # the window is over
    assert dispatch.dispatch([pk]) == 1
    assert Message.objects.get(pk=pk).status == Status.SENT
    assert list(DeliveryAttempt.objects.filter(message_id=pk).values_list("outcome", flat=True)) == [
        "unknown",
        "accepted",
    ]


def test_a_refused_connection_is_a_plain_retry(acme):
    twilio(acme, closed_port_url("/2010-04-01"))
    [pk] = queued_rows(acme, 1)
    before = timezone.now()
    dispatch.dispatch([pk])
    message = Message.objects.get(pk=pk)
    assert message.status == Status.QUEUED and message.error_code == "connection_error"
    assert message.next_attempt_at < before + timedelta(seconds=15)  # backoff, not the reconciliation window
    assert DeliveryAttempt.objects.get(message_id=pk).outcome == "retryable"


def test_a_recipient_who_opted_out_at_the_provider_is_recorded_as_an_opt_out(acme, provider):
    server = provider(error=21610)
    twilio(acme, server.url)
    [pk] = queued_rows(acme, 1)
    dispatch.dispatch([pk])
    message = Message.objects.get(pk=pk)
    assert (message.status, message.error_code) == (Status.FAILED, "21610")
    optout = OptOut.objects.get(organization=acme, channel="sms", phone=message.to)
    assert optout.source == "provider"


def test_a_crash_in_our_code_counts_as_an_attempt_and_fails_after_n(acme, sandbox, monkeypatch, settings):
    settings.DISPATCH_MAX_INTERNAL_ERRORS = 3

    def broken(self, account, message):
        raise ValueError("a bug in an adapter")  # not "the media cannot be sent"

    monkeypatch.setattr(SandboxAdapter, "send", broken)
    [pk] = queued_rows(acme, 1)
    for n in range(1, 4):
        dispatch.dispatch([pk])
        message = Message.objects.get(pk=pk)
        assert message.internal_errors == n and message.error_code == "internal_error"
        assert "a bug in an adapter" in message.error_message
        Message.objects.filter(pk=pk, status=Status.QUEUED).update(next_attempt_at=timezone.now())
    assert message.status == Status.FAILED
    assert "operator can retry" in message.error_message
    assert DeliveryAttempt.objects.filter(message_id=pk, error_code="internal_error").count() == 3

    monkeypatch.undo()
    assert retry_message(message)
    message.refresh_from_db()
    assert (message.status, message.internal_errors) == (Status.QUEUED, 0)
    assert dispatch.dispatch([pk]) == 1


def test_a_rate_limit_wait_past_its_bound_releases_the_rest_of_the_chunk_without_a_try(acme, settings):
    settings.DISPATCH_MAX_RATE_WAIT_SECONDS = 1
    make_account(acme, messages_per_second=2)
    ids = queued_rows(acme, 20)
    started = time.monotonic()
    dispatch.dispatch(ids)
    assert time.monotonic() - started < 3  # not a sleep of ~10 s
    sent = Message.objects.filter(pk__in=ids, status=Status.SENT).count()
    assert 2 <= sent <= 5  # the burst and a second's worth
    released = Message.objects.filter(pk__in=ids, status=Status.QUEUED)
    assert released.count() == 20 - sent
    assert all(m.next_attempt_at > timezone.now() and m.attempts == 0 for m in released)
    assert not DeliveryAttempt.objects.filter(message__in=released).exists()


def test_an_acceptance_after_another_worker_took_the_claim_does_not_overwrite_it(acme, sandbox, monkeypatch):
    [pk] = queued_rows(acme, 1)
    original = SandboxAdapter.send
    other_lease = timezone.now() + timedelta(minutes=30)

    def slow(self, account, message):
        # Meanwhile our lease lapsed and another worker claimed the row.
        Message.objects.filter(pk=pk).update(lease_expires_at=other_lease)
        return original(self, account, message)

    monkeypatch.setattr(SandboxAdapter, "send", slow)
    dispatch.dispatch([pk])
    message = Message.objects.get(pk=pk)
    assert (message.status, message.lease_expires_at) == (Status.SENDING, other_lease)
    assert message.provider_message_id == ""
    assert DeliveryAttempt.objects.get(message_id=pk).outcome == "accepted"
    assert MessageEvent.objects.get(message_id=pk).raw_status == "accepted_after_claim_lost"


def test_an_account_that_cannot_be_reached_is_marked_and_skipped_until_none_healthy_is_left(acme, settings):
    settings.ACCOUNT_UNHEALTHY_AFTER = 3
    dead = twilio(acme, closed_port_url("/2010-04-01"), label="dead", priority=1)
    backup = make_account(acme, label="backup", priority=2)
    dispatch.dispatch(queued_rows(acme, 3))
    dead.refresh_from_db()
    assert dead.health_status == "unreachable"

    [pk] = queued_rows(acme, 1)
    dispatch.dispatch([pk])
    assert Message.objects.get(pk=pk).provider_account == backup  # at once, not after its tries

    ProviderAccount.objects.filter(pk=backup.pk).update(is_active=False)
    [last] = queued_rows(acme, 1)
    dispatch.dispatch([last])
    assert Message.objects.get(pk=last).provider_account == dead  # the only one left is still tried


@pytest.mark.skipif(not __import__("django.conf").conf.settings.REDIS_URL, reason="needs Redis (REDIS_URL)")
def test_publishing_wakes_the_accounts_lane_once_not_a_task_per_request(acme, sandbox, broker_lock):
    from tests.messaging.test_workers import empty_broker_queue

    empty_broker_queue()
    client = dispatch.redis_client()
    lane = dispatch.lane_of(sandbox.pk)
    try:
        batches = [queued_rows(acme, 3) for _ in range(5)]
        for ids in batches:  # five requests, each publishing after its commit
            dispatch.publish_dispatch(ids)
        assert client.llen(dispatch.lane_queue(lane)) == 1
        waiting = {int(x) for x in client.smembers(dispatch.LANE_KEY.format(lane))}
        assert waiting == {pk for ids in batches for pk in ids}
        # The woken drain sends them all, chunk by chunk, and clears the wake-up.
        assert dispatch.drain(lane) == 15
        assert not client.exists(dispatch.WAKE_KEY.format(lane))
    finally:
        empty_broker_queue()
