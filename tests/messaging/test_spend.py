"""Spend (issue 17 item 6): each provider's reported price lands on the message; estimates from the last prices."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import responses
from django.utils import timezone

from messaging.models import Message, Status
from messaging.spend import estimate, fetch_missing_prices, record_prices
from tests.conftest import celery_eager
from tests.factories import make_account
from tests.providers import test_end_to_end as e2e
from tests.providers.test_end_to_end import PAYLOADS, TWILIO_SID, TWILIO_TOKEN

# The end-to-end tests' provider on 127.0.0.1 and their accounts pointing at it.
_setup, fake, send, infobip, unifonic = e2e._setup, e2e.fake, e2e.send, e2e.infobip, e2e.unifonic


def test_a_unifonic_send_records_its_cost_and_currency(acme_api, unifonic, send):
    _, message = send(acme_api, body="Your code is 4821")
    assert message.price == Decimal("0.03")
    assert message.price_currency == "SAR"


def test_an_infobip_delivery_report_records_its_price(
    acme_api, infobip, send, client, django_capture_on_commit_callbacks
):
    _, message = send(acme_api, body="Your code is 4821")
    assert message.price is None
    report = json.loads((PAYLOADS / "infobip/delivery_report__delivered_to_handset.json").read_text())
    report["results"][0]["messageId"] = str(message.public_id)
    report["results"][0]["callbackData"] = str(message.public_id)
    url = urlsplit(infobip.callback_url)
    with celery_eager(propagate=True), django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{url.path}?{url.query}", json.dumps(report), content_type="application/json")
    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert (message.price, message.price_currency) == (Decimal("0.03"), "EUR")


@pytest.fixture
def twilio_account(acme):
    return make_account(
        acme, "twilio", credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN}, messages_per_second=0
    )


def sent_message(account, sid: str, minutes_ago: int = 10, **fields) -> Message:
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return Message.objects.create(
        organization=account.organization,
        channel="sms",
        to=fields.pop("to", "+966501234567"),
        body="Hi",
        status=fields.pop("status", Status.DELIVERED),
        provider_account=account,
        provider="twilio",
        provider_message_id=sid,
        created_at=at,
        sent_at=at,
        **fields,
    )


def twilio_message_url(sid: str) -> str:
    return f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json"


@responses.activate
def test_twilio_prices_are_fetched_after_the_send(twilio_account):
    priced = sent_message(twilio_account, "SM1")
    later = sent_message(twilio_account, "SM2")
    too_early = sent_message(twilio_account, "SM3", minutes_ago=0)
    responses.get(
        twilio_message_url("SM1"), json={"sid": "SM1", "status": "delivered", "price": "-0.04", "price_unit": "USD"}
    )
    responses.get(twilio_message_url("SM2"), json={"sid": "SM2", "status": "sent", "price": None, "price_unit": "USD"})

    assert fetch_missing_prices() == {"priced": 1, "asked": 2}

    priced.refresh_from_db(), later.refresh_from_db(), too_early.refresh_from_db()
    assert (priced.price, priced.price_currency) == (Decimal("0.04"), "USD")
    assert later.price is None and later.price_checked_at is not None
    assert too_early.price_checked_at is None
    # A second run right away asks nobody again (SM2 waits its retry interval).
    assert fetch_missing_prices() == {"priced": 0, "asked": 0}
    assert len(responses.calls) == 2
    # After the interval, SM2 is asked again and priced.
    responses.replace(
        responses.GET,
        twilio_message_url("SM2"),
        json={"sid": "SM2", "status": "delivered", "price": "-0.05", "price_unit": "USD"},
    )
    assert fetch_missing_prices(now=timezone.now() + timedelta(minutes=20))["priced"] == 1
    later.refresh_from_db()
    assert later.price == Decimal("0.05")


@responses.activate
def test_a_twilio_message_that_will_never_be_priced_is_not_asked_again(twilio_account):
    failed = sent_message(twilio_account, "SM9", status=Status.FAILED)
    responses.get(twilio_message_url("SM9"), json={"sid": "SM9", "status": "failed", "price": None})
    fetch_missing_prices()
    assert fetch_missing_prices(now=timezone.now() + timedelta(hours=2)) == {"priced": 0, "asked": 0}
    failed.refresh_from_db()
    assert failed.price is None


def test_record_prices_takes_the_amount_and_ignores_no_price(acme, twilio_account):
    message = sent_message(twilio_account, "SM1")
    assert record_prices([(message.pk, "-0.0075", "usd"), (message.pk, "", "USD")]) == 1
    message.refresh_from_db()
    assert (message.price, message.price_currency) == (Decimal("0.0075"), "USD")


def test_the_estimate_uses_the_last_price_per_account_and_country(acme, globex, twilio_account):
    old = sent_message(twilio_account, "SM1", price=Decimal("0.10"), price_currency="USD")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=1))
    sent_message(twilio_account, "SM2", price=Decimal("0.08"), price_currency="USD", segments=2)  # 0.04 a segment
    sent_message(twilio_account, "SM3", to="+971501234567", price=Decimal("0.02"), price_currency="USD")
    # Another organization's prices are not ours to estimate from.
    other = make_account(globex, "twilio", credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN})
    sent_message(other, "SM4", to="+14155550100", price=Decimal("9"), price_currency="USD")

    result = estimate(acme, "sms", ["+966501234560", "+966501234561", "+971501234567", "+14155550101"], segments=3)

    assert result.messages == 4
    assert result.segments == 12
    assert result.priced == 3
    assert result.cost == {"USD": Decimal("0.3000")}  # 2 × 3 × 0.04 + 1 × 3 × 0.02
    assert result.unpriced_countries == ["1"]
    assert not result.complete


def test_price_shows_per_message_in_the_api_and_per_batch_in_the_portal(acme, owner, acme_api, twilio_account):
    from messaging.models import Batch
    from tests.factories import login

    batch = Batch.objects.create(organization=acme, channel="sms", total=3, accepted=3)
    one = sent_message(twilio_account, "SM1", batch=batch, price=Decimal("0.05"), price_currency="USD")
    sent_message(twilio_account, "SM2", batch=batch, price=Decimal("0.0250"), price_currency="USD")
    sent_message(twilio_account, "SM3", batch=batch)

    body = acme_api.get(f"/api/v1/messages/{one.public_id}").json()
    assert (body["price"], body["price_currency"]) == ("0.050000", "USD")
    page = login(owner).get(f"/portal/batches/{batch.public_id}/").content.decode()
    assert "0.075 USD" in page and "2 priced" in page
    assert "0.05 USD" in login(owner).get(f"/portal/messages/{one.public_id}/").content.decode()


def test_the_bulk_preview_estimates_segments_and_cost(acme, owner, twilio_account):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import login

    sent_message(twilio_account, "SM1", price=Decimal("0.04"), price_currency="USD")  # +966: 0.04 a segment
    client = login(owner)
    csv_text = "Phone\n+966501234560\n+966501234561\n+971501234567\n"
    body = "x" * 200  # two GSM-7 segments each
    response = client.post(
        "/portal/bulk/",
        {"channel": "sms", "name": "n", "body": body, "file": SimpleUploadedFile("a.csv", csv_text.encode())},
    )
    assert response.status_code == 302, response.content
    map_url = response["Location"]
    preview_url = client.post(map_url, {"phone_column": "0"})["Location"]
    page = client.get(preview_url).content.decode()
    estimate = page.split("data-estimate", 1)[1].split("</div>", 1)[0]
    # Two Saudi numbers priced at 2 × 0.04; the UAE number has no known price yet.
    assert "0.1600 USD" in estimate and "6 segments" in estimate
    assert "2 of 3 priced" in estimate and "+971" in estimate


def test_the_api_estimates_a_send_before_it_is_made(acme, acme_api, globex_api, twilio_account):
    sent_message(twilio_account, "SM1", price=Decimal("0.04"), price_currency="USD")
    response = acme_api.post(
        "/api/v1/estimate",
        {"channel": "sms", "to": ["0501234560", "+966501234561", "+971501234567", "12"], "body": "x" * 200},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["messages"], body["segments"], body["priced"]) == (3, 6, 2)
    assert body["cost"] == [{"currency": "USD", "amount": "0.16"}]
    assert body["unpriced_countries"] == ["971"]
    assert body["refused"] == [{"to": "12", "reason": "too short"}]
    # Another organization has no price of ours to estimate from.
    other = globex_api.post("/api/v1/estimate", {"channel": "sms", "to": ["+966501234561"]}, format="json").json()
    assert other["cost"] == [] and other["priced"] == 0
    bad = acme_api.post("/api/v1/estimate", {"channel": "sms", "to": []}, format="json")
    assert bad.status_code == 400 and "error" in bad.json()
