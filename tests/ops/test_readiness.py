"""/healthz/ready: every figure an operator alerts on, against its threshold; 503 when one is over.

And celery-beat's heartbeat, the figure that caught nothing before: a real
beat process records it; stopping beat turns readiness 503, starting it again
turns it back to 200.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from jood import heartbeat
from jood.models import Heartbeat
from messaging.models import Message, Status
from tests.messaging.conftest import queued_rows
from tests.ops.processes import ROOT, sigterm_and_wait, subprocess_env, wait_for
from webhooks.models import CallbackDelivery, WebhookEvent

URL = "/healthz/ready"


def ready(client):
    response = client.get(URL)
    body = response.json()
    assert response.status_code == (200 if body["status"] == "ok" else 503)
    return response, body


@pytest.fixture
def beat_alive(db):
    heartbeat.record(heartbeat.BEAT)


def test_ready_is_200_and_lists_every_figure(client, beat_alive):
    response, body = ready(client)
    assert response.status_code == 200, body
    assert set(body["checks"]) == {
        "database",
        "broker",
        "beat",
        "oldest_due_queued",
        "expired_leases",
        "webhook_backlog",
        "webhook_lag",
        "callback_backlog",
    }
    assert body["failing"] == []
    assert body["checks"]["beat"]["threshold"] == 60
    assert "no-cache" in response["Cache-Control"]


def test_ready_turns_503_when_beats_last_tick_is_too_old_and_back_to_200(client, db, settings):
    settings.READY_BEAT_MAX_AGE_SECONDS = 60
    response, body = ready(client)
    assert response.status_code == 503 and body["checks"]["beat"]["value"] == "never"

    heartbeat.record(heartbeat.BEAT, at=timezone.now() - timedelta(seconds=90))
    response, body = ready(client)
    assert response.status_code == 503
    assert body["failing"] == ["beat"]
    assert body["checks"]["beat"]["value"] >= 90
    assert response["Retry-After"]

    heartbeat.record(heartbeat.BEAT)
    response, body = ready(client)
    assert response.status_code == 200, body


def _old_queued(organization):
    ids = queued_rows(organization, 2)
    Message.objects.filter(pk__in=ids).update(queued_at=timezone.now() - timedelta(minutes=10))


def _expired_lease(organization):
    ids = queued_rows(organization, 1)
    Message.objects.filter(pk__in=ids).update(
        status=Status.SENDING, lease_expires_at=timezone.now() - timedelta(minutes=1)
    )


def _webhook_waiting(organization):
    WebhookEvent.objects.create(provider="twilio", body="x", received_at=timezone.now() - timedelta(seconds=60))


def _callback_pending(organization):
    CallbackDelivery.objects.create(
        organization=organization,
        url="https://example.com/hook",
        event_type="message.status",
        payload={},
        webhook_id=uuid.uuid4().hex,
    )


@pytest.mark.parametrize(
    ("check", "setting", "make"),
    [
        ("oldest_due_queued", "READY_OLDEST_DUE_QUEUED_SECONDS", _old_queued),
        ("expired_leases", "READY_EXPIRED_LEASES_MAX", _expired_lease),
        ("webhook_backlog", "READY_WEBHOOK_BACKLOG_MAX", _webhook_waiting),
        ("webhook_lag", "READY_WEBHOOK_OLDEST_SECONDS", _webhook_waiting),
        ("callback_backlog", "READY_CALLBACK_BACKLOG_MAX", _callback_pending),
    ],
)
def test_each_figure_over_its_threshold_turns_ready_503(client, acme, beat_alive, settings, check, setting, make):
    make(acme)
    setattr(settings, setting, 10**6)
    response, body = ready(client)
    assert response.status_code == 200, body
    assert body["checks"][check]["value"] > 0

    setattr(settings, setting, 0)
    response, body = ready(client)
    assert response.status_code == 503
    assert check in body["failing"]


def test_a_retry_not_due_yet_is_not_late(client, acme, beat_alive, settings):
    ids = queued_rows(acme, 1)
    Message.objects.filter(pk__in=ids).update(
        queued_at=timezone.now() - timedelta(hours=1), next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    settings.READY_OLDEST_DUE_QUEUED_SECONDS = 60
    response, body = ready(client)
    assert response.status_code == 200, body
    assert body["checks"]["oldest_due_queued"]["value"] == 0


def test_ready_names_an_unreachable_broker(client, beat_alive, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response, body = ready(client)
    assert response.status_code == 503
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"]["value"] == "unreachable"


def start_beat(**env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "jood", "beat", "--loglevel=WARNING", "--pidfile="],
        cwd=ROOT,
        env=subprocess_env(BEAT_HEARTBEAT_SECONDS=1, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_stopped_beat_turns_ready_503_and_a_restarted_one_back_to_200(client, settings):
    settings.READY_BEAT_MAX_AGE_SECONDS = 4
    beat = start_beat()
    try:
        assert wait_for(lambda: Heartbeat.objects.filter(name="beat").exists(), timeout=30), beat.stderr.read1()
        assert wait_for(lambda: client.get(URL).status_code == 200, timeout=10), client.get(URL).json()
    finally:
        sigterm_and_wait(beat)
    assert wait_for(lambda: client.get(URL).status_code == 503, timeout=15)
    assert client.get(URL).json()["failing"] == ["beat"]

    beat = start_beat()
    try:
        assert wait_for(lambda: client.get(URL).status_code == 200, timeout=30), client.get(URL).json()
    finally:
        sigterm_and_wait(beat)
