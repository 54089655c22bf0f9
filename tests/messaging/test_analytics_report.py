"""Analytics (issue 17 item 5): breakdowns, rates over time, median time to delivered, spend; after the purge too."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from messaging.analytics import median_seconds, report, rollup_day
from messaging.models import DailyStats, Message
from tests.factories import login, make_account
from tests.messaging.conftest import assert_error

TODAY = timezone.localdate()
DAY = TODAY - timedelta(days=3)
NEXT_DAY = DAY + timedelta(days=1)


def at(day, hour=12):
    return timezone.make_aware(datetime.combine(day, time(hour)))


def make(org, day, *, to="+966501234567", status="delivered", took=None, channel="sms", **fields):
    created = at(day)
    return Message.objects.create(
        organization=org,
        channel=channel,
        to=to,
        body="x",
        status=status,
        created_at=created,
        delivered_at=created + timedelta(seconds=took) if took is not None else None,
        **fields,
    )


@pytest.fixture
def history(acme, globex):
    twilio = make_account(acme, "twilio", label="Twilio KSA")
    infobip = make_account(acme, "infobip", label="Infobip UAE")
    usd = {"provider_account": twilio, "provider": "twilio", "price_currency": "USD"}
    make(acme, DAY, took=3, price=Decimal("0.05"), segments=2, **usd)
    make(acme, DAY, took=4, price=Decimal("0.05"), **usd)
    make(acme, DAY, took=40, status="read", channel="whatsapp", provider="whatsapp")
    make(
        acme,
        DAY,
        to="+971501234567",
        status="undelivered",
        error_code="EC_ABSENT_SUBSCRIBER",
        provider_account=infobip,
        provider="infobip",
        price=Decimal("0.03"),
        price_currency="EUR",
    )
    make(acme, DAY, status="rejected", error_code="opted_out")
    make(acme, NEXT_DAY, took=8, status="delivered", channel="whatsapp", provider="whatsapp")
    make(
        acme,
        NEXT_DAY,
        to="+971501234567",
        status="failed",
        error_code="EC_ABSENT_SUBSCRIBER",
        provider_account=infobip,
        provider="infobip",
    )
    make(globex, DAY, took=1, price=Decimal("9"), price_currency="USD")  # never in acme's numbers
    return {"twilio": twilio, "infobip": infobip}


def by_key(entries):
    return {e["key"]: e for e in entries}


def check_acme_report(data, history):
    totals = data["totals"]
    assert totals["total"] == 7
    assert (totals["delivered"], totals["read"], totals["failed"]) == (4, 1, 3)
    assert totals["delivery_rate"] == round(100 * 4 / 6, 1)  # rejected never reached a provider
    assert totals["spend"] == [{"currency": "EUR", "amount": "0.03"}, {"currency": "USD", "amount": "0.1"}]
    day, next_day = data["days"][0], data["days"][1]
    assert day["day"] == DAY and day["total"] == 5 and day["segments"] == 2 + 1 + 1 + 1  # SMS only
    assert day["delivery_rate"] == 75.0  # 3 of 4 finished
    assert day["read_rate"] == 100.0  # the one WhatsApp message delivered was read
    assert next_day["read_rate"] == 0.0 and next_day["delivery_rate"] == 50.0
    assert 2 <= day["median_seconds_to_delivered"] <= 5  # 3 s, 4 s, 40 s
    assert day["spend"] == [{"currency": "EUR", "amount": "0.03"}, {"currency": "USD", "amount": "0.1"}]
    channels = by_key(data["breakdowns"]["channel"])
    assert (channels["sms"]["total"], channels["whatsapp"]["total"]) == (5, 2)
    countries = by_key(data["breakdowns"]["country"])
    assert (countries["966"]["total"], countries["971"]["total"]) == (5, 2)
    assert countries["971"]["label"] == "+971 AE" and countries["971"]["delivery_rate"] == 0.0
    accounts = by_key(data["breakdowns"]["provider_account"])
    assert accounts[str(history["twilio"].public_id)]["total"] == 2
    assert accounts[str(history["twilio"].public_id)]["label"] == "Twilio KSA (Twilio)"
    assert accounts[str(history["infobip"].public_id)]["failed"] == 2
    errors = by_key(data["breakdowns"]["error_code"])
    assert set(errors) == {"EC_ABSENT_SUBSCRIBER", "opted_out"}
    assert errors["EC_ABSENT_SUBSCRIBER"]["total"] == 2


def test_the_report_breaks_down_live_rows(acme, history):
    check_acme_report(report(acme, DAY, NEXT_DAY), history)


def test_the_report_is_the_same_after_the_roll_up_and_the_purge(acme, history):
    before = report(acme, DAY, NEXT_DAY)
    rollup_day(DAY)
    rollup_day(NEXT_DAY)
    assert DailyStats.objects.filter(organization=acme, day=DAY).exists()
    Message.objects.filter(organization=acme).delete()  # what the purge does once the stats are rolled up
    after = report(acme, DAY, NEXT_DAY)
    assert after == before
    check_acme_report(after, history)


def test_the_median_comes_from_the_histogram():
    assert median_seconds({}) is None
    assert median_seconds({"5": 2}) == 3.5  # both in (2, 5]: the middle of the bucket
    assert median_seconds({"1": 1, "60": 1, "120": 1}) == 45.0  # the middle one is in (30, 60]
    assert median_seconds({"inf": 3}) == 86400.0


def test_the_api_returns_the_report_and_the_old_rows(acme_api, globex_api, history):
    response = acme_api.get("/api/v1/analytics", {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totals"]["total"] == 7 and body["totals"]["delivery_rate"] == 66.7
    assert body["days"][0]["day"] == DAY.isoformat()
    assert {e["key"] for e in body["breakdowns"]["country"]} == {"966", "971"}
    assert sum(r["count"] for r in body["results"]) == 7
    globex = globex_api.get("/api/v1/analytics", {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat()}).json()
    assert globex["totals"]["total"] == 1 and globex["breakdowns"]["provider_account"][0]["key"] == ""


def test_the_api_refuses_a_bad_range(acme_api):
    assert_error(acme_api.get("/api/v1/analytics", {"start": "2026-02-30"}), 400, "invalid_date")
    assert_error(acme_api.get("/api/v1/analytics", {"start": "2026-01-02", "end": "2026-01-01"}), 400, "invalid_range")
    assert_error(acme_api.get("/api/v1/analytics/export", {"start": "x"}), 400, "invalid_date")
    # A NUL byte: the request guard refuses the query string before the view reads the date.
    assert_error(acme_api.get("/api/v1/analytics/export", {"start": "x\x00"}), 400, "invalid_query")
    # The ends of the calendar are mistakes, not a day's bounds that overflow into a 500.
    assert_error(acme_api.get("/api/v1/analytics", {"end": "0001-01-01"}), 400, "invalid_range")
    assert_error(acme_api.get("/api/v1/analytics", {"start": "9999-12-30", "end": "9999-12-31"}), 400, "invalid_range")


def parse_csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_numbers_download_as_csv_from_the_portal_and_the_api(acme_api, owner, history):
    params = {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat()}
    for response in (
        acme_api.get("/api/v1/analytics/export", params),
        login(owner).get("/portal/analytics/export.csv", params),
    ):
        lines = parse_csv(response)
        days = [line for line in lines if line["section"] == "day"]
        assert [line["key"] for line in days] == [DAY.isoformat(), NEXT_DAY.isoformat()]
        assert days[0]["total"] == "5" and days[0]["spend"] == "0.03 EUR; 0.1 USD"
        total = next(line for line in lines if line["section"] == "total")
        assert total["total"] == "7" and total["delivery_rate"] == "66.7"
        assert {line["key"] for line in lines if line["section"] == "country"} == {"966", "971"}


def test_the_portal_page_draws_the_charts_without_script(acme, owner, history):
    response = login(owner).get("/portal/analytics/", {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat()})
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("<svg") >= 4
    assert '<rect class="bar-delivered"' in page and '<polyline class="line-delivered"' in page
    assert "+971 AE" in page and "Twilio KSA" in page and "EC_ABSENT_SUBSCRIBER" in page
    assert "0.1 USD" in page
    content = page.split("<main", 1)[1]
    assert "<script" not in content  # no inline script: the charts are drawn on the server
    assert "cdn" not in page.lower()


def test_the_portal_page_is_scoped_and_says_when_dates_are_wrong(globex_owner, history):
    client = login(globex_owner)
    page = client.get("/portal/analytics/", {"start": DAY.isoformat(), "end": NEXT_DAY.isoformat()}).content.decode()
    assert "Twilio KSA" not in page and "+971" not in page
    page = client.get("/portal/analytics/", {"start": "2026-01-02", "end": "2026-01-01"}).content.decode()
    assert "The start date is after the end date." in page
    assert client.get("/portal/analytics/export.csv", {"start": "2026-01-02", "end": "2026-01-01"}).status_code == 400
    page = client.get("/portal/analytics/", {"end": "0001-01-01"}).content.decode()
    assert "Use dates between the years" in page
