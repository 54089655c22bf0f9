"""GET /api/v1/analytics: counts by day, status, channel and provider, which outlive the purge."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from messaging.analytics import rollup_day
from messaging.models import DailyStats, Message
from tests.messaging.conftest import assert_error

TODAY = timezone.localdate()
DAY = TODAY - timedelta(days=3)
NEXT_DAY = DAY + timedelta(days=1)


def at(day, hour=12):
    return timezone.make_aware(datetime.combine(day, time(hour)))


def make(organization, day, *, channel="sms", provider="sandbox", status="sent", segments=1, hour=12):
    return Message.objects.create(
        organization=organization,
        channel=channel,
        to="+966501234567",
        body="x",
        provider=provider,
        status=status,
        segments=segments,
        created_at=at(day, hour),
    )


@pytest.fixture
def history(acme, globex):
    make(acme, DAY, segments=1, hour=0)
    make(acme, DAY, segments=2, hour=23)
    make(acme, DAY, provider="twilio", status="failed")
    make(acme, DAY, channel="whatsapp", provider="whatsapp", status="read")
    make(acme, DAY, provider="", status="rejected")
    make(acme, NEXT_DAY)
    make(globex, DAY)  # never counted for acme


def rows(api, **params):
    response = api.get("/api/v1/analytics", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_it_counts_by_day_status_channel_and_provider(acme_api, history):
    answer = rows(acme_api, start=DAY.isoformat(), end=NEXT_DAY.isoformat())
    assert answer["start"] == DAY.isoformat() and answer["end"] == NEXT_DAY.isoformat()
    found = {
        (r["day"], r["channel"], r["provider"], r["status"]): (r["count"], r["segments"]) for r in answer["results"]
    }
    d, n = DAY.isoformat(), NEXT_DAY.isoformat()
    assert found == {
        (d, "sms", "sandbox", "sent"): (2, 3),
        (d, "sms", "twilio", "failed"): (1, 1),
        (d, "sms", "", "rejected"): (1, 1),
        (d, "whatsapp", "whatsapp", "read"): (1, 1),
        (n, "sms", "sandbox", "sent"): (1, 1),
    }


def test_the_default_range_is_the_last_30_days(acme_api, history, acme):
    make(acme, TODAY - timedelta(days=30))
    answer = rows(acme_api)
    assert answer["start"] == (TODAY - timedelta(days=29)).isoformat()
    assert answer["end"] == TODAY.isoformat()
    assert sum(r["count"] for r in answer["results"]) == 6


def test_the_totals_survive_the_rollup_and_the_purge_of_the_day(acme_api, history):
    before = rows(acme_api, start=DAY.isoformat(), end=NEXT_DAY.isoformat())

    assert rollup_day(DAY) == 5  # acme's four groups and globex's one
    Message.objects.filter(created_at__gte=at(DAY, 0), created_at__lt=at(NEXT_DAY, 0)).delete()
    assert not Message.objects.filter(created_at__date=DAY).exists()
    after = rows(acme_api, start=DAY.isoformat(), end=NEXT_DAY.isoformat())
    assert after == before

    # Rolling the purged day up again keeps its stats rather than zeroing them.
    rollup_day(DAY)
    assert rows(acme_api, start=DAY.isoformat(), end=NEXT_DAY.isoformat()) == before


def test_rolling_up_a_partly_purged_day_keeps_its_complete_counts(acme_api, history, acme):
    rollup_day(DAY)
    before = rows(acme_api, start=DAY.isoformat(), end=DAY.isoformat())
    # The purge's cut-off falls in the middle of the day: the morning is gone.
    Message.objects.filter(organization=acme, created_at__lt=at(DAY, 6)).delete()
    rollup_day(DAY)
    assert rows(acme_api, start=DAY.isoformat(), end=DAY.isoformat()) == before


def test_rollup_is_idempotent(history):
    rollup_day(DAY)
    rollup_day(DAY)
    assert DailyStats.objects.filter(day=DAY).count() == 5
    assert sum(DailyStats.objects.filter(day=DAY).values_list("count", flat=True)) == 6


def test_a_status_change_after_the_rollup_is_picked_up_by_the_next_one(acme_api, history, acme):
    rollup_day(DAY)
    Message.objects.filter(organization=acme, created_at__date=DAY, status="failed").update(status="delivered")
    rollup_day(DAY)
    statuses = {r["status"] for r in rows(acme_api, start=DAY.isoformat(), end=DAY.isoformat())["results"]}
    assert "failed" not in statuses and "delivered" in statuses


def test_an_invalid_range_is_a_400(acme_api):
    assert_error(acme_api.get("/api/v1/analytics", {"start": "2025-02-01", "end": "2025-01-01"}), 400, "invalid_range")
    assert_error(acme_api.get("/api/v1/analytics", {"start": "2023-01-01", "end": "2025-01-01"}), 400, "invalid_range")


@pytest.mark.parametrize("value", ["2025-02-30", "tomorrow"])
def test_an_invalid_date_is_a_400(acme_api, value):
    assert_error(acme_api.get("/api/v1/analytics", {"start": value}), 400, "invalid_date")


def test_messages_sent_through_the_api_today_are_counted(acme_api, sandbox, dispatching):
    with dispatching():
        acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json")
    answer = rows(acme_api, start=TODAY.isoformat(), end=TODAY.isoformat())
    [row] = answer["results"]
    assert row["day"] == TODAY.isoformat() and row["channel"] == "sms" and row["provider"] == "sandbox"
    assert row["count"] == 1
