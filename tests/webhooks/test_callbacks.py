"""Outgoing callbacks: Standard Webhooks signatures, retries, the SSRF guard, redirects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from jood import outbound
from messaging.inbound import record_inbound
from messaging.status import apply_status
from providers.base import InboundMessage
from tests.factories import make_message
from webhooks import callbacks, services, tasks
from webhooks.models import CallbackAttempt, CallbackDelivery


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.received.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        status, headers, text = self.server.answers.pop(0) if self.server.answers else (200, {}, b"ok")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A customer's server on 127.0.0.1: records each request, answers from `answers` (default 200)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.received = []
    server.answers = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/jood"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_private(settings):
    settings.CALLBACKS_ALLOW_PRIVATE = True


def verify_standard_webhook(secret: str, headers: dict, body: bytes) -> bool:
    """The Standard Webhooks recipe, written from the spec (not with our code)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [part.split(",", 1)[1] for part in headers["webhook-signature"].split() if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, value) for value in given)


# Fixed inputs and the signatures our own HMAC code gave for them before signing moved to the
# `standardwebhooks` package: the header must stay byte-identical.
GOLDEN_SECRETS = [
    "whsec_" + base64.b64encode(bytes(range(32))).decode(),
    "whsec_" + base64.b64encode(b"\xfe" * 24).decode(),
]
GOLDEN_BODY = '{"type":"test","data":{"name":"S\u0101ra \u2713","n":1}}'.encode()
GOLDEN_HEADER = "v1,pdjSJ9LDbMS8+zEc9hDz33IXjpoaECYS+prKDrRhiSA= v1,i9XcQtP0izcp5NGYhmFkGA8L6frVhxj25x2rOpvMXBQ="


def test_the_signature_header_is_byte_identical_to_the_standard_webhooks_recipe():
    assert callbacks.encode_payload({"type": "test", "data": {"name": "S\u0101ra \u2713", "n": 1}}) == GOLDEN_BODY
    header = callbacks.signature_header(GOLDEN_SECRETS, "msg_2b1e6f", 1767225600, GOLDEN_BODY)
    assert header == GOLDEN_HEADER
    one = callbacks.signature_header(GOLDEN_SECRETS[:1], "msg_2b1e6f", 1767225600, GOLDEN_BODY)
    assert one == GOLDEN_HEADER.split()[0]
    assert callbacks.signature_header([], "msg_2b1e6f", 1767225600, GOLDEN_BODY) == ""


def deliver(message, status, capture, **kwargs):
    with capture(execute=True):
        apply_status(message, status, source="webhook", **kwargs)


def test_a_status_change_is_posted_signed(
    acme, sandbox_account, receiver, allow_private, django_capture_on_commit_callbacks
):
    endpoint, secret = services.create_endpoint(acme, receiver.url, events=["message.status"])
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    message = make_message(sandbox_account, provider_message_id="SB1", metadata={"order": "A-17"})
    deliver(
        message,
        "undelivered",
        django_capture_on_commit_callbacks,
        error_code="30003",
        error_message="Unreachable destination handset",
    )

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request["path"] == "/hooks/jood"
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["webhook-id"].startswith("msg_")
    assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 60
    assert verify_standard_webhook(secret, request["headers"], request["body"])
    assert not verify_standard_webhook(
        "whsec_" + base64.b64encode(b"x" * 32).decode(), request["headers"], request["body"]
    )

    payload = json.loads(request["body"])
    assert payload["type"] == "message.status"
    assert payload["timestamp"]
    data = payload["data"]
    assert data["id"] == str(message.public_id)
    assert data["status"] == "undelivered"
    assert data["previous_status"] == "sent"
    assert data["to"] == "+966501234567"
    assert data["channel"] == "sms"
    assert data["provider"] == "sandbox"
    assert data["provider_message_id"] == "SB1"
    assert data["error"] == {"code": "30003", "message": "Unreachable destination handset"}
    assert data["segments"] == 1
    assert data["metadata"] == {"order": "A-17"}
    assert data["batch_id"] is None
    assert data["failed_at"]

    delivery = CallbackDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    assert delivery.webhook_id == request["headers"]["webhook-id"]
    attempt = CallbackAttempt.objects.get()
    assert attempt.succeeded and attempt.status_code == 200 and attempt.latency_ms >= 0


def test_a_500_is_retried_with_backoff_and_every_attempt_is_logged(
    acme, sandbox_account, receiver, allow_private, django_capture_on_commit_callbacks
):
    services.create_endpoint(acme, receiver.url)
    receiver.answers = [(500, {}, b"oops")]
    message = make_message(sandbox_account, provider_message_id="SB2")
    before = timezone.now()
    deliver(message, "delivered", django_capture_on_commit_callbacks)

    delivery = CallbackDelivery.objects.get()
    assert delivery.state == "pending"
    assert delivery.attempts == 1
    assert delivery.last_status_code == 500
    assert delivery.last_error == "HTTP 500"
    # The first retry waits about 5 s (with jitter), kept in the row, not in the broker.
    assert before + timedelta(seconds=4) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=6)
    assert tasks.deliver_due_callbacks() == 0  # not due yet
    assert callbacks.attempt_delivery(delivery.pk) is None  # nor for a direct call

    CallbackDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert tasks.deliver_due_callbacks() == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert list(delivery.attempt_log.values_list("number", "status_code", "succeeded", "response_excerpt")) == [
        (1, 500, False, "oops"),
        (2, 200, True, "ok"),
    ]
    # Both tries carried the same webhook-id, each its own timestamp and signature.
    ids = {r["headers"]["webhook-id"] for r in receiver.received}
    assert ids == {delivery.webhook_id}


def test_it_gives_up_after_more_than_24_hours(acme, sandbox_account, monkeypatch):
    monkeypatch.setattr(callbacks.random, "uniform", lambda low, high: low)  # the shortest jitter
    total = sum(callbacks.next_delay(n) for n in range(1, callbacks.MAX_ATTEMPTS))
    assert total >= 24 * 3600
    assert callbacks.next_delay(callbacks.MAX_ATTEMPTS) is None


def test_the_last_failure_fails_the_delivery(acme, receiver, allow_private):
    endpoint, _ = services.create_endpoint(acme, receiver.url)
    receiver.answers = [(503, {}, b"")]
    delivery = CallbackDelivery.objects.create(
        endpoint=endpoint,
        organization=acme,
        url=endpoint.url,
        event_type="message.status",
        payload={"type": "message.status", "data": {}},
        webhook_id="msg_last",
        attempts=callbacks.MAX_ATTEMPTS - 1,
        next_attempt_at=timezone.now(),
    )
    delivery = callbacks.attempt_delivery(delivery.pk)
    assert delivery.state == "failed"
    assert delivery.next_attempt_at is None
    assert delivery.finished_at is not None


def test_redirects_are_not_followed(acme, sandbox_account, receiver, allow_private, django_capture_on_commit_callbacks):
    services.create_endpoint(acme, receiver.url)
    receiver.answers = [(302, {"Location": receiver.url + "/elsewhere"}, b"")]
    deliver(make_message(sandbox_account, provider_message_id="SB3"), "delivered", django_capture_on_commit_callbacks)
    assert len(receiver.received) == 1
    delivery = CallbackDelivery.objects.get()
    assert delivery.state == "pending"
    assert delivery.last_status_code == 302
    assert "not followed" in delivery.last_error


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/hook",
        "http://0.0.0.0/hook",
        "http://100.64.0.1/hook",
        "http://224.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_a_private_address_is_refused_at_send_time(acme, url):
    endpoint, _ = services.create_endpoint(acme, url)  # services trust their caller; the API validates first
    delivery = callbacks.send_test_event(endpoint)
    assert delivery.state == "failed"
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("Refused")


def test_a_name_resolving_to_loopback_is_refused_unless_allowed(acme, receiver, monkeypatch, settings):
    port = receiver.server_address[1]
    real = socket.getaddrinfo

    def fake_getaddrinfo(host, *args, **kwargs):
        if host == "callbacks.customer.example":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    endpoint, _ = services.create_endpoint(acme, f"http://callbacks.customer.example:{port}/hook")
    delivery = callbacks.send_test_event(endpoint)
    assert delivery.state == "failed"
    assert "127.0.0.1" in delivery.last_error
    assert receiver.received == []

    settings.CALLBACKS_ALLOW_PRIVATE = True
    delivery = callbacks.send_test_event(endpoint)
    assert delivery.state == "succeeded"
    assert len(receiver.received) == 1


def test_the_connected_address_is_checked_too(acme, receiver, monkeypatch):
    """DNS that answers a public address to the check and loopback to the connect is still refused."""
    monkeypatch.setattr(callbacks, "check_destination", lambda url: None)
    monkeypatch.setattr(outbound, "check_host", lambda host, port: None)  # the resolve-first layer too
    endpoint, _ = services.create_endpoint(acme, receiver.url)
    delivery = callbacks.send_test_event(endpoint)
    assert delivery.state == "failed"
    assert "connected to 127.0.0.1" in delivery.last_error
    assert receiver.received == []


def test_a_messages_own_callback_url_is_signed_with_the_default_secret(
    acme, sandbox_account, receiver, allow_private, django_capture_on_commit_callbacks
):
    _, secret = services.create_endpoint(acme, "https://example.com/other", events=["message.inbound"])
    message = make_message(sandbox_account, provider_message_id="SB4", callback_url=receiver.url)
    deliver(message, "delivered", django_capture_on_commit_callbacks)
    delivery = CallbackDelivery.objects.get()  # the endpoint wants inbound only
    assert delivery.endpoint is None and delivery.url == receiver.url
    request = receiver.received[0]
    assert verify_standard_webhook(secret, request["headers"], request["body"])


def test_a_messages_own_callback_url_is_unsigned_without_endpoints(
    acme, sandbox_account, receiver, allow_private, django_capture_on_commit_callbacks
):
    message = make_message(sandbox_account, provider_message_id="SB5", callback_url=receiver.url)
    deliver(message, "delivered", django_capture_on_commit_callbacks)
    request = receiver.received[0]
    assert "webhook-signature" not in request["headers"]
    assert request["headers"]["webhook-id"].startswith("msg_")


def test_inbound_messages_go_to_endpoints_that_want_them(
    acme, whatsapp_account, receiver, allow_private, django_capture_on_commit_callbacks
):
    services.create_endpoint(acme, receiver.url, events=["message.inbound"])
    services.create_endpoint(acme, receiver.url + "/status-only", events=["message.status"])
    services.create_endpoint(acme, receiver.url + "/off", events=["all"], is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        record_inbound(
            whatsapp_account,
            InboundMessage(
                provider_message_id="wamid.X",
                channel="whatsapp",
                from_number="+966501234567",
                to_number="+966920000000",
                body="Hello",
                profile_name="Sara",
            ),
        )
    assert [r["path"] for r in receiver.received] == ["/hooks/jood"]
    payload = json.loads(receiver.received[0]["body"])
    assert payload["type"] == "message.inbound"
    assert payload["data"]["from"] == "+966501234567"
    assert payload["data"]["body"] == "Hello"
    assert payload["data"]["provider"] == "whatsapp"


def test_another_organizations_endpoint_gets_nothing(
    acme, globex, sandbox_account, receiver, allow_private, django_capture_on_commit_callbacks
):
    services.create_endpoint(globex, receiver.url)
    deliver(make_message(sandbox_account, provider_message_id="SB6"), "delivered", django_capture_on_commit_callbacks)
    assert receiver.received == []
    assert not CallbackDelivery.objects.exists()


def test_a_broker_that_is_down_leaves_the_delivery_for_the_beat(
    acme, sandbox_account, receiver, allow_private, monkeypatch, django_capture_on_commit_callbacks
):
    services.create_endpoint(acme, receiver.url)

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.deliver_callback, "delay", broker_down)
    deliver(make_message(sandbox_account, provider_message_id="SB7"), "delivered", django_capture_on_commit_callbacks)
    delivery = CallbackDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    monkeypatch.undo()
    assert tasks.deliver_due_callbacks() == 1
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"


def test_a_disabled_endpoint_stops_its_pending_deliveries(acme, receiver, allow_private):
    endpoint, _ = services.create_endpoint(acme, receiver.url)
    delivery = CallbackDelivery.objects.create(
        endpoint=endpoint,
        organization=acme,
        url=endpoint.url,
        event_type="message.status",
        payload={"type": "message.status", "data": {}},
        webhook_id="msg_off",
        next_attempt_at=timezone.now(),
    )
    services.update_endpoint(endpoint, is_active=False)
    assert callbacks.attempt_delivery(delivery.pk).state == "failed"
    assert receiver.received == []


def test_an_answer_with_binary_bytes_is_logged(acme, receiver, allow_private):
    endpoint, _ = services.create_endpoint(acme, receiver.url)
    receiver.answers = [(500, {"Content-Type": "application/octet-stream"}, b"bad\x00\xff body")]
    delivery = callbacks.send_test_event(endpoint)
    attempt = delivery.attempt_log.get()
    assert attempt.status_code == 500
    assert attempt.response_excerpt.startswith("bad")
