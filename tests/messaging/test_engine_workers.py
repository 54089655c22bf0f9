"""The dispatch engine across real processes: a Celery worker on Redis and PostgreSQL.

A chunk whose recording fails sends nothing more and loses nothing; a provider that times out after
accepting does not get the message twice when its callback carries our id; a slow account's lane
does not delay another account; a retry goes out within 5 s of its due time; a crashing send fails
after N attempts. The provider is a local HTTP server (tests/messaging/test_engine.py `Provider`).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from messaging import dispatch
from messaging.models import DeliveryAttempt, Message, Status
from tests.factories import make_account
from tests.messaging.conftest import queued_rows
from tests.messaging.test_engine import Provider, twilio, twilio_callback
from tests.messaging.test_workers import ROOT, empty_broker_queue, start_worker, stop, subprocess_env, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("broker_lock"),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL) for a real broker"),
]


@pytest.fixture
def provider():
    servers = []

    def start(**behaviour) -> Provider:
        servers.append(Provider(**behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def worker():
    started = []
    empty_broker_queue()

    def start(**env):
        started.append(start_worker(**env))
        return started[-1]

    yield start
    for process in started:
        stop(process)
    empty_broker_queue()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the failure is a PostgreSQL trigger")
def test_a_chunk_whose_recording_fails_sends_nothing_more_and_loses_nothing(acme, provider, worker, settings):
    server = provider()
    twilio(acme, server.url)
    ids = queued_rows(acme, 200)
    poison = ids[len(ids) // 2]
    with connection.cursor() as cursor:
        # A real failure of the database for one chunk's recording, from the worker's own transaction.
        cursor.execute(
            "CREATE FUNCTION jood_test_refuse() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.message_id = {poison} THEN RAISE EXCEPTION 'recording refused for a test'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER jood_test_refuse BEFORE INSERT ON messaging_deliveryattempt "
            "FOR EACH ROW EXECUTE FUNCTION jood_test_refuse()"
        )
    try:
        process = worker(DISPATCH_CHUNK_SIZE=25, DISPATCH_LANE_DRAINS=1)
        dispatch.publish_dispatch(ids)
        assert wait_for(lambda: sum(server.sends.values()) > 0 and _settled(ids), 60)
        time.sleep(2)  # would the worker go on sending?
        sends_at_failure = sum(server.sends.values())
        time.sleep(2)
        assert sum(server.sends.values()) == sends_at_failure, "the worker sent after a chunk it could not record"
        assert process.poll() is None
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER jood_test_refuse ON messaging_deliveryattempt")
            cursor.execute("DROP FUNCTION jood_test_refuse()")

    stuck = Message.objects.filter(pk__in=ids, status=Status.SENDING)
    # The chunk that could not be recorded is still claimed, the poison message among it.
    stuck_ids = set(stuck.values_list("pk", flat=True))
    assert poison in stuck_ids
    assert len(stuck_ids) <= 25
    recorded = Message.objects.filter(pk__in=ids, status=Status.SENT).count()
    assert sends_at_failure == recorded + len(stuck_ids)  # nothing sent beyond the failed chunk
    assert Message.objects.filter(pk__in=ids, status=Status.QUEUED).count() == 200 - recorded - len(stuck_ids)

    # The lease brings the chunk back (no callbacks here: after a zero reconciliation window).
    settings.DISPATCH_RECONCILE_MINUTES = 0
    Message.objects.filter(pk__in=stuck_ids).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    from messaging.dispatch import PAUSE_KEY, redis_client

    for lane in range(settings.DISPATCH_LANES):
        redis_client().delete(PAUSE_KEY.format(lane))
    assert dispatch.sweep()["expired_leases"] == len(stuck_ids)
    dispatch.publish_dispatch(ids)  # what the sweeper does for rows whose wake-up is a minute old
    assert wait_for(lambda: Message.objects.filter(pk__in=ids, status=Status.SENT).count() == 200, 90), Counter(
        Message.objects.filter(pk__in=ids).values_list("status", flat=True)
    )
    assert len(server.sends) == 200  # nothing lost
    # Sent twice: at most the chunk whose acceptance could not be recorded (README "Duplicates").
    assert sum(server.sends.values()) - 200 <= 25


def _settled(ids) -> bool:
    """No message is moving: every row is sent, queued, or still claimed by the failed chunk."""
    before = list(Message.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True))
    time.sleep(0.5)
    return before == list(Message.objects.filter(pk__in=ids).order_by("pk").values_list("status", flat=True))


def test_a_provider_that_times_out_after_accepting_does_not_get_it_twice_when_its_callback_has_our_id(
    acme, provider, worker, client, settings
):
    settings.PUBLIC_BASE_URL = "https://jood.example.com"
    server = provider(hang=3.0)
    twilio(acme, server.url, settings={"read_timeout_seconds": 0.5})
    [pk] = queued_rows(acme, 1)
    worker(DISPATCH_RECONCILE_MINUTES=0.1, PUBLIC_BASE_URL=settings.PUBLIC_BASE_URL)
    dispatch.publish_dispatch([pk])
    assert wait_for(lambda: DeliveryAttempt.objects.filter(message_id=pk, outcome="unknown").exists(), 60)
    message = Message.objects.get(pk=pk)
    assert message.status == Status.QUEUED
    callback = server.callbacks[message.to]
    assert parse_qs(urlsplit(callback).query)["m"] == [str(message.public_id)]

    # Twilio's callback carries our id: the worker's webhook lane applies it.
    assert twilio_callback(client, settings, callback, "SM" + "e" * 32, "sent").status_code == 200
    assert wait_for(lambda: Message.objects.get(pk=pk).status == Status.SENT, 30)
    time.sleep(7)  # past the 6 s window
    dispatch.publish_due_retries()
    dispatch.sweep(now=timezone.now() + timedelta(minutes=2))
    time.sleep(2)
    assert server.sends == Counter({message.to: 1})
    assert Message.objects.get(pk=pk).provider_message_id == "SM" + "e" * 32


def test_a_slow_accounts_lane_does_not_delay_another_account(globex, acme, provider, worker):
    slow_server, fast_server = provider(delay=6.0), provider()
    slow = twilio(globex, slow_server.url, label="slow")
    fast = twilio(acme, fast_server.url, label="fast")
    while dispatch.lane_of(fast.pk) == dispatch.lane_of(slow.pk):
        fast.delete()
        fast = twilio(acme, fast_server.url, label="fast")
    slow_ids, fast_ids = queued_rows(globex, 60), queued_rows(acme, 60)
    worker(pool="prefork", concurrency=3, DISPATCH_CHUNK_SIZE=20, DISPATCH_LANE_DRAINS=2)
    dispatch.publish_dispatch(slow_ids)
    assert wait_for(lambda: sum(slow_server.sends.values()) >= 20, 30)  # the slow lane is busy
    started = time.monotonic()
    dispatch.publish_dispatch(fast_ids)
    assert wait_for(lambda: Message.objects.filter(pk__in=fast_ids, status=Status.SENT).count() == 60, 30)
    took = time.monotonic() - started
    assert took < 4.0, f"the fast account waited {took:.1f} s behind a provider answering in 6 s"
    assert Message.objects.filter(pk__in=slow_ids, status=Status.SENT).count() < 60


def test_a_retry_goes_out_within_5_s_of_its_due_time(acme, provider, worker):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    server = provider(error=20429)  # "Too Many Requests": retryable
    twilio(acme, server.url)
    every_2s, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="messaging: publish due retries",
        defaults={"task": "messaging.tasks.publish_due_retries", "interval": every_2s, "expire_seconds": 10},
    )
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "jood", "beat", "--loglevel=WARNING", "-s", "/dev/null"],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        worker()
        [pk] = queued_rows(acme, 1)
        dispatch.publish_dispatch([pk])
        assert wait_for(lambda: DeliveryAttempt.objects.filter(message_id=pk).exists(), 30)
        server.error = None
        due = Message.objects.get(pk=pk).next_attempt_at
        assert due > timezone.now()
        assert wait_for(lambda: Message.objects.get(pk=pk).status == Status.SENT, 60)
        second = DeliveryAttempt.objects.filter(message_id=pk).order_by("id").last()
        assert second.outcome == "accepted"
        late = (second.started_at - due).total_seconds()
        assert late <= 5.0, f"the retry went out {late:.1f} s after its due time"
    finally:
        stop(beat)


def test_a_crashing_send_fails_after_n_attempts(acme, worker):
    # A setting the sandbox cannot read makes our own code raise on every send.
    make_account(acme, settings={"latency_ms": "not a number"})
    [pk] = queued_rows(acme, 1)
    worker(DISPATCH_MAX_INTERNAL_ERRORS=3)
    for n in range(1, 4):
        dispatch.publish_dispatch([pk])
        assert wait_for(lambda n=n: Message.objects.get(pk=pk).internal_errors == n, 30)
        Message.objects.filter(pk=pk, status=Status.QUEUED).update(next_attempt_at=timezone.now())
    message = Message.objects.get(pk=pk)
    assert (message.status, message.error_code) == (Status.FAILED, "internal_error")
    assert DeliveryAttempt.objects.filter(message_id=pk, error_code="internal_error").count() == 3
