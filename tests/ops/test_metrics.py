"""/metrics: Prometheus text, off without METRICS_TOKEN, a bearer token when on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from messaging.models import DeliveryAttempt, Message, Status
from tests.factories import make_account
from tests.messaging.conftest import queued_rows
from webhooks.models import WebhookEvent

TOKEN = "s3cret-metrics-token"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape(client) -> dict:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_are_off_without_a_token(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token(client, db, metrics_on):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401


def test_queue_depths_send_and_error_rates_by_provider_and_webhook_lag(client, acme, metrics_on):
    queued_rows(acme, 3)
    twilio = make_account(acme, provider="twilio")
    sandbox = make_account(acme)
    message = Message.objects.create(organization=acme, channel="sms", to="+14155550100", body="x", status=Status.SENT)
    now = timezone.now()
    for account, outcome, n in [(twilio, "accepted", 6), (twilio, "retryable", 3), (twilio, "permanent", 1)]:
        for _ in range(n):
            DeliveryAttempt.objects.create(message=message, provider_account=account, outcome=outcome, started_at=now)
    DeliveryAttempt.objects.create(message=message, provider_account=sandbox, outcome="accepted", started_at=now)
    # Outside the window: not counted.
    DeliveryAttempt.objects.create(
        message=message, provider_account=sandbox, outcome="permanent", started_at=now - timedelta(hours=1)
    )
    WebhookEvent.objects.create(provider="twilio", body="x", received_at=now - timedelta(seconds=120))

    samples = scrape(client)
    assert samples[("jood_messages_in_flight", (("status", "queued"),))] == 3
    assert samples[("jood_send_attempts", (("outcome", "accepted"), ("provider", "twilio")))] == 6
    assert samples[("jood_send_attempts", (("outcome", "retryable"), ("provider", "twilio")))] == 3
    assert samples[("jood_send_error_ratio", (("provider", "twilio"),))] == pytest.approx(0.4)
    assert samples[("jood_send_error_ratio", (("provider", "sandbox"),))] == 0
    assert samples[("jood_send_rate_per_second", (("provider", "twilio"),))] == pytest.approx(10 / 300)
    assert samples[("jood_webhook_backlog", ())] == 1
    assert samples[("jood_webhook_lag_seconds", ())] >= 120
    assert samples[("jood_health_ok", (("check", "database"),))] == 1
    assert samples[("jood_health_ok", (("check", "beat"),))] == 0  # no beat in this test


def test_broker_queue_lengths_are_read_from_the_broker(client, db, metrics_on, settings):
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs a Redis broker (REDIS_URL)")
    import redis

    client_redis = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client_redis.delete("maintenance")
    client_redis.lpush("maintenance", "a", "b")
    try:
        samples = scrape(client)
    finally:
        client_redis.delete("maintenance")
    assert samples[("jood_broker_queue_length", (("queue", "maintenance"),))] == 2
    assert ("jood_broker_queue_length", (("queue", "dispatch.0"),)) in samples
