"""Dispatch across real processes: a Celery worker on Redis, a broker outage, a worker killed mid-batch.

These start subprocesses against the test database (hence transaction=True:
the rows must be committed for another process to see them). A local HTTP
server answering as Twilio's send endpoint counts every send per recipient,
whichever process made it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from jood.celery import app as celery_app
from messaging import dispatch
from messaging.models import Message, Status
from providers import services
from tests.messaging.conftest import queued_rows

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_lock")]
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL) for a real broker")


class MockTwilio:
    """Answers POST .../Messages.json as Twilio does (201), counting sends per `To`."""

    def __init__(self, delay: float = 0.0):
        self.sends: Counter = Counter()
        self.delay = delay
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                with lock:
                    owner.sends[form["To"][0]] += 1
                if owner.delay:
                    time.sleep(owner.delay)
                body = json.dumps(
                    {
                        "sid": "SM" + uuid.uuid4().hex,
                        "status": "queued",
                        "num_segments": "1",
                        "to": form["To"][0],
                        "price": None,
                        "error_code": None,
                    }
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/2010-04-01"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def local_providers(settings):
    """The fake provider listens on 127.0.0.1, which the outbound guard refuses unless allowed: here
    for what this process sends itself (embedded mode runs tasks in-process), `subprocess_env` for workers."""
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def mock_twilio():
    server = MockTwilio()
    yield server
    server.close()


def twilio_account(organization, url):
    return services.connect_account(
        organization,
        provider="twilio",
        channel="sms",
        label="Twilio (local)",
        credentials={"account_sid": "AC" + "0" * 32, "auth_token": "test-auth-token"},
        default_sender="+15005550006",
        api_base_url=url,
        messages_per_second=0,
    )


def subprocess_env(**extra) -> dict:
    """The environment of a process that must use this test's database and broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env["PYTHONPATH"] = str(ROOT)
    env["OUTBOUND_ALLOW_PRIVATE"] = "True"  # the fake provider listens on 127.0.0.1
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_worker(*, queues: str = "", pool: str = "solo", concurrency: int = 1, **env) -> subprocess.Popen:
    """A Celery worker on this test's database and broker, for every queue unless `queues` names some."""
    from jood.celery import all_queues

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "jood",
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "-Q",
            queues or ",".join(all_queues()),
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=subprocess_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(predicate, timeout: float = 60.0, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def empty_broker_queue():
    """Drop what an earlier test left in the broker: every queue, the lanes' sets and wake-ups."""
    import redis

    from jood.celery import all_queues

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("celery", *all_queues())
    for pattern in ("jood:lane:*", "jood:wake:*", "jood:drain:*", "jood:lock:*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


@needs_redis
def test_a_message_goes_to_delivered_through_a_real_worker_and_redis(acme, acme_api):
    empty_broker_queue()
    services.connect_account(
        acme, provider="sandbox", channel="sms", label="Sandbox", credentials={}, messages_per_second=0
    )
    worker = start_worker()
    try:
        response = acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hello"}, format="json")
        assert response.status_code == 202
        message_id = response.json()["id"]
        # An SMS: `delivered` is final (SMS has no read receipts).
        assert wait_for(lambda: Message.objects.get(public_id=message_id).status == Status.DELIVERED), (
            Message.objects.get(public_id=message_id).status
        )
    finally:
        stop(worker)
    message = Message.objects.get(public_id=message_id)
    applied = list(message.events.filter(applied=True).order_by("received_at", "id").values_list("status", flat=True))
    assert applied == ["sent", "delivered"]


@needs_redis
def test_with_the_broker_down_the_api_still_accepts_and_the_sweeper_sends_later(acme, acme_api, mock_twilio):
    empty_broker_queue()
    twilio_account(acme, mock_twilio.url)
    real = celery_app.conf.broker_url, celery_app._pool, celery_app.amqp._producer_pool
    celery_app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens there
    # Both pools: the producer pool keeps its connections (run first, this test used to leave it on port 1).
    celery_app._pool = celery_app.amqp._producer_pool = None
    try:
        response = acme_api.post("/api/v1/messages", {"to": "+14155550100", "body": "Hello"}, format="json")
    finally:
        celery_app.conf.broker_url, celery_app._pool, celery_app.amqp._producer_pool = real
    assert response.status_code == 202
    message = Message.objects.get(public_id=response.json()["id"])
    assert message.status == Status.QUEUED
    assert sum(mock_twilio.sends.values()) == 0

    worker = start_worker()
    try:
        found = dispatch.sweep(now=timezone.now() + timedelta(minutes=2))
        assert found["queued"] == 1
        assert wait_for(lambda: Message.objects.get(pk=message.pk).status == Status.SENT)
    finally:
        stop(worker)
    assert mock_twilio.sends == Counter({"+14155550100": 1})


def test_a_worker_killed_mid_chunk_loses_nothing_and_sends_at_most_its_chunk_twice(acme, settings):
    server = MockTwilio(delay=0.5)  # a chunk is in flight for half a second: the kill lands inside one
    victim = None
    try:
        twilio_account(acme, server.url)
        ids = queued_rows(acme, 60)
        lease = 3
        if settings.REDIS_URL:
            empty_broker_queue()
            victim = start_worker(DISPATCH_LEASE_SECONDS=lease, DISPATCH_CHUNK_SIZE=20)
            dispatch.publish_dispatch(ids)
        else:
            code = f"from messaging.dispatch import dispatch; dispatch({ids!r})"
            victim = subprocess.Popen(
                [sys.executable, "manage.py", "shell", "-c", code],
                cwd=ROOT,
                env=subprocess_env(DISPATCH_LEASE_SECONDS=lease, DISPATCH_CHUNK_SIZE=20),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        assert wait_for(lambda: sum(server.sends.values()) >= 15, timeout=60), victim.stderr.read1().decode()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        sent_before_kill = sum(server.sends.values())
        assert sent_before_kill < 60, "the worker finished before it was killed; nothing was tested"
        # Its claim is left behind: those rows stay `sending` until the lease expires.
        assert Message.objects.filter(pk__in=ids, status=Status.SENDING).exists()

        time.sleep(lease + 1)
        # No provider callbacks here: the held chunk goes again once the (zero) reconciliation window is over.
        settings.DISPATCH_RECONCILE_MINUTES = 0
        rescuer = start_worker() if settings.REDIS_URL else None
        try:
            found = dispatch.sweep()
            assert found["expired_leases"] > 0
            # What the sweeper does a minute later for the rows the dead worker never claimed.
            dispatch.publish_dispatch(ids)

            def all_sent() -> bool:
                # The due-retry poll's part (every 2 s under beat): a send whose connection broke
                # mid-exchange was held for the (zero) reconciliation window.
                dispatch.publish_due_retries()
                return not Message.objects.filter(pk__in=ids).exclude(status=Status.SENT).exists()

            assert wait_for(all_sent, timeout=90, step=1.0), Counter(
                Message.objects.filter(pk__in=ids).values_list("status", "error_code")
            )
        finally:
            if rescuer is not None:
                stop(rescuer)
    finally:
        # A victim left running (a failed assertion before the kill) would go on taking the
        # broker's tasks to this test's database in every later test: never leave it behind.
        if victim is not None and victim.poll() is None:
            victim.kill()
            victim.wait()
        server.close()
    assert len(server.sends) == 60
    # The documented window (README "Delivery"): the provider accepted messages of the chunk in
    # flight and the worker died before recording it; with no callback within the reconciliation
    # window they go again. At most that chunk (DISPATCH_CHUNK_SIZE, 20 here) is sent twice.
    assert sum(server.sends.values()) - 60 <= 20
    assert all(count <= 2 for count in server.sends.values())
