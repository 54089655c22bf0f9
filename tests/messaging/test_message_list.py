"""GET /api/v1/messages: filters and cursor pagination."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import Batch, Message, Status
from tests.factories import make_message
from tests.messaging.conftest import assert_error

NOW = timezone.now().replace(microsecond=0)


def hours_ago(hours: int):
    return NOW - timedelta(hours=hours)


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [m["id"] for m in response.json()["results"]]


@pytest.fixture
def messages(acme, globex):
    batch = Batch.objects.create(organization=acme, channel="sms", total=2)
    made = {
        "sent": make_message(acme, hours_ago(1)),
        "failed": make_message(acme, hours_ago(2), status=Status.FAILED, to="+971501234567"),
        "whatsapp": make_message(acme, hours_ago(3), channel="whatsapp", status=Status.READ),
        "batch_a": make_message(acme, hours_ago(4), status=Status.QUEUED, batch=batch),
        "batch_b": make_message(acme, hours_ago(5), status=Status.QUEUED, batch=batch, to="+971501234567"),
        "old": make_message(acme, hours_ago(48)),
    }
    make_message(globex, hours_ago(1))  # never listed for acme
    return {name: str(m.public_id) for name, m in made.items()} | {"batch": str(batch.public_id)}


def test_the_list_is_newest_first_and_only_the_organizations(acme_api, messages):
    assert ids(acme_api.get("/api/v1/messages")) == [
        messages[n] for n in ("sent", "failed", "whatsapp", "batch_a", "batch_b", "old")
    ]


def test_it_filters_by_status(acme_api, messages):
    assert ids(acme_api.get("/api/v1/messages", {"status": "failed"})) == [messages["failed"]]
    assert ids(acme_api.get("/api/v1/messages", {"status": "failed,read"})) == [
        messages["failed"],
        messages["whatsapp"],
    ]


def test_it_filters_by_channel(acme_api, messages):
    assert ids(acme_api.get("/api/v1/messages", {"channel": "whatsapp"})) == [messages["whatsapp"]]


def test_it_filters_by_recipient_in_any_form(acme_api, messages):
    expected = [messages["failed"], messages["batch_b"]]
    assert ids(acme_api.get("/api/v1/messages", {"to": "+971501234567"})) == expected
    assert ids(acme_api.get("/api/v1/messages", {"to": "00971 50 123 4567"})) == expected
    # A '+' left unencoded in a query string arrives as a space.
    assert ids(acme_api.get("/api/v1/messages?to=+971501234567")) == expected


def test_an_invalid_to_filter_is_a_400(acme_api, messages):
    error = assert_error(acme_api.get("/api/v1/messages", {"to": "12"}), 400, "invalid_number")
    assert error["details"]["to"] == "12"


def test_it_filters_by_batch(acme_api, messages):
    assert ids(acme_api.get("/api/v1/messages", {"batch": messages["batch"]})) == [
        messages["batch_a"],
        messages["batch_b"],
    ]


def test_an_invalid_batch_filter_is_a_400(acme_api, messages):
    assert_error(acme_api.get("/api/v1/messages", {"batch": "not-a-uuid"}), 400, "invalid_batch")


def test_it_filters_by_creation_time(acme_api, messages):
    after = (NOW - timedelta(hours=2, minutes=30)).isoformat()
    before = (NOW - timedelta(minutes=90)).isoformat()
    assert ids(acme_api.get("/api/v1/messages", {"created_after": after})) == [messages["sent"], messages["failed"]]
    assert ids(acme_api.get("/api/v1/messages", {"created_after": after, "created_before": before})) == [
        messages["failed"]
    ]
    assert ids(acme_api.get("/api/v1/messages", {"created_before": (NOW - timedelta(hours=24)).isoformat()})) == [
        messages["old"]
    ]


def test_a_date_alone_is_taken_as_midnight(acme_api, messages):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert ids(acme_api.get("/api/v1/messages", {"created_after": tomorrow})) == []


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45T00:00:00", "2024-02-30"])
def test_an_invalid_date_is_a_400(acme_api, messages, value):
    assert_error(acme_api.get("/api/v1/messages", {"created_after": value}), 400, "invalid_date")


def test_filters_combine(acme_api, messages):
    response = acme_api.get("/api/v1/messages", {"status": "queued", "to": "+971501234567", "channel": "sms"})
    assert ids(response) == [messages["batch_b"]]


def test_cursor_pagination_walks_every_message_once(acme_api, acme):
    # Bulk sends give many messages one creation time: the order must still be total.
    for _ in range(7):
        make_message(acme, hours_ago(1))
    for ago in range(5):
        make_message(acme, hours_ago(ago + 2))
    expected = [str(p) for p in Message.objects.order_by("-created_at", "-id").values_list("public_id", flat=True)]

    seen, url, pages = [], "/api/v1/messages?page_size=3", 0
    while url:
        page = acme_api.get(url)
        seen += ids(page)
        url = page.json()["next"]
        if url:
            url = urlsplit(url)._replace(scheme="", netloc="").geturl()
        pages += 1
    assert seen == expected
    assert pages == 4


def test_the_previous_link_goes_back(acme_api, acme):
    for _ in range(4):
        make_message(acme, hours_ago(1))
    first = acme_api.get("/api/v1/messages?page_size=2").json()
    second = acme_api.get(first["next"]).json()
    back = acme_api.get(second["previous"]).json()
    assert [m["id"] for m in back["results"]] == [m["id"] for m in first["results"]]


def test_a_viewer_can_list_and_read_messages(acme_viewer_api, messages):
    assert len(ids(acme_viewer_api.get("/api/v1/messages"))) == 6
    assert acme_viewer_api.get(f"/api/v1/messages/{messages['sent']}").status_code == 200


def test_a_page_takes_the_same_number_of_queries_for_3_or_30_messages(acme_api, acme, sandbox):
    batch = Batch.objects.create(organization=acme, channel="sms")

    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert acme_api.get("/api/v1/messages").status_code == 200
        return len(queries)

    for _ in range(3):
        Message.objects.create(
            organization=acme, channel="sms", to="+966501234567", provider_account=sandbox, batch=batch
        )
    queries_for_a_page()  # the first request also writes the key's last_used_at
    few = queries_for_a_page()
    for _ in range(27):
        Message.objects.create(
            organization=acme, channel="sms", to="+966501234567", provider_account=sandbox, batch=batch
        )
    assert queries_for_a_page() == few
