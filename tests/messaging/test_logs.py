"""Message logs (issue 17 item 4): search in any number form, filters, CSV export; portal, API and admin alike."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from messaging.logs import safe_cell
from messaging.models import Batch, Message, Status
from tests.factories import login, make_account, make_user
from tests.messaging.conftest import assert_error

NOW = timezone.now()


def make(org, to="+966501234567", *, ago_hours=1, **fields) -> Message:
    at = NOW - timedelta(hours=ago_hours)
    return Message.objects.create(
        organization=org,
        channel=fields.pop("channel", "sms"),
        to=to,
        body=fields.pop("body", "Hello"),
        status=fields.pop("status", Status.DELIVERED),
        created_at=at,
        **fields,
    )


@pytest.fixture
def world(acme, globex):
    acme.country = "SA"
    acme.save(update_fields=["country"])
    twilio = make_account(acme, "twilio", label="Twilio main")
    infobip = make_account(acme, "infobip", label="Infobip backup")
    batch = Batch.objects.create(organization=acme, channel="sms", name="Promo")
    rows = {
        "riyadh": make(acme, "+966501234567", provider_account=twilio, body="Your code is 4821"),
        "dubai": make(
            acme,
            "+971501234567",
            provider_account=infobip,
            status=Status.UNDELIVERED,
            error_code="30003",
            ago_hours=30,
        ),
        "batch": make(acme, "+966507654321", batch=batch, status=Status.FAILED, error_code="21211", ago_hours=2),
        "whatsapp": make(acme, "+966501234567", channel="whatsapp", status=Status.READ, body="=HYPERLINK(1)"),
        # Globex has the same number: never in acme's results.
        "globex": make(globex, "+966501234567", body="Your code is 4821"),
    }
    return {"rows": rows, "twilio": twilio, "infobip": infobip, "batch": batch}


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {m["id"] for m in response.json()["results"]}


def pid(*messages) -> set[str]:
    return {str(m.public_id) for m in messages}


@pytest.mark.parametrize("number", ["+966501234567", "00966501234567", "0501234567", "050 123 4567", "966501234567"])
def test_the_api_finds_a_number_in_any_common_form(acme_api, world, number):
    rows = world["rows"]
    assert ids(acme_api.get("/api/v1/messages", {"q": number})) == pid(rows["riyadh"], rows["whatsapp"])
    assert ids(acme_api.get("/api/v1/messages", {"to": number})) == pid(rows["riyadh"], rows["whatsapp"])


def test_a_local_number_is_read_in_the_organizations_country(acme, acme_api, world):
    acme.country = "AE"
    acme.save(update_fields=["country"])
    assert ids(acme_api.get("/api/v1/messages", {"to": "0501234567"})) == pid(world["rows"]["dubai"])


def test_search_by_id_provider_id_and_text(acme_api, world):
    rows = world["rows"]
    Message.objects.filter(pk=rows["batch"].pk).update(provider_message_id="SMabc123")
    assert ids(acme_api.get("/api/v1/messages", {"q": str(rows["dubai"].public_id)})) == pid(rows["dubai"])
    assert ids(acme_api.get("/api/v1/messages", {"q": "SMabc123"})) == pid(rows["batch"])
    assert ids(acme_api.get("/api/v1/messages", {"q": "code is 48"})) == pid(rows["riyadh"])
    # Another organization's message id finds nothing.
    assert ids(acme_api.get("/api/v1/messages", {"q": str(rows["globex"].public_id)})) == set()


def test_every_filter_in_the_api(acme_api, world):
    rows, get = world["rows"], lambda **p: ids(acme_api.get("/api/v1/messages", p))
    assert get(status="undelivered,failed") == pid(rows["dubai"], rows["batch"])
    assert get(channel="whatsapp") == pid(rows["whatsapp"])
    assert get(provider_account=str(world["infobip"].public_id)) == pid(rows["dubai"])
    assert get(batch=str(world["batch"].public_id)) == pid(rows["batch"])
    assert get(error_code="30003") == pid(rows["dubai"])
    yesterday = (timezone.localtime(NOW) - timedelta(hours=30)).date().isoformat()
    assert get(start=yesterday, end=yesterday) == pid(rows["dubai"])
    assert get(status="undelivered", error_code="21211") == set()


def test_repeated_status_parameters_combine(acme_api, world):
    rows = world["rows"]
    assert ids(acme_api.get("/api/v1/messages?status=failed&status=undelivered")) == pid(rows["dubai"], rows["batch"])


@pytest.mark.parametrize(
    "params, code",
    [
        ({"status": "lost"}, "invalid_status"),
        ({"channel": "fax"}, "invalid_channel"),
        ({"provider_account": "not-a-uuid"}, "invalid_provider_account"),
        ({"batch": "not-a-uuid"}, "invalid_batch"),
        ({"start": "2026-02-30"}, "invalid_date"),
        ({"start": "2026-11-25", "end": "2026-11-24"}, "invalid_date"),
        ({"q": "x" * 201}, "invalid_filter"),
        # NUL bytes: the request guard refuses the whole query string before the filter reads it.
        ({"q": "050\x00123"}, "invalid_query"),
        ({"error_code": "\x00"}, "invalid_query"),
        ({"end": "9999-12-31"}, "invalid_date"),
        ({"start": "0001-01-01"}, "invalid_date"),
        ({"created_after": "0001-01-01T00:00:00+03:00"}, "invalid_date"),
    ],
)
def test_bad_filter_input_is_a_400(acme_api, world, params, code):
    assert_error(acme_api.get("/api/v1/messages", params), 400, code)
    assert_error(acme_api.get("/api/v1/messages/export", params), 400, code)


def test_another_organizations_account_or_batch_matches_nothing(acme_api, globex, world):
    other = make_account(globex, "twilio")
    other_batch = Batch.objects.create(organization=globex, channel="sms")
    make(globex, provider_account=other, batch=other_batch)
    assert ids(acme_api.get("/api/v1/messages", {"provider_account": str(other.public_id)})) == set()
    assert ids(acme_api.get("/api/v1/messages", {"batch": str(other_batch.public_id)})) == set()


def read_csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_the_api_export_is_the_filtered_list_as_csv(acme_api, world):
    rows = world["rows"]
    Message.objects.filter(pk=rows["riyadh"].pk).update(price=Decimal("0.05"), price_currency="USD")
    lines = read_csv(acme_api.get("/api/v1/messages/export", {"to": "0501234567"}, HTTP_ACCEPT="text/csv"))
    assert {line["id"] for line in lines} == pid(rows["riyadh"], rows["whatsapp"])
    riyadh = next(line for line in lines if line["id"] == str(rows["riyadh"].public_id))
    assert riyadh["provider_account"] == str(world["twilio"].public_id)
    assert (riyadh["price"], riyadh["price_currency"]) == ("0.05", "USD")
    # The recipient's text cannot run as a formula in a spreadsheet.
    whatsapp = next(line for line in lines if line["id"] == str(rows["whatsapp"].public_id))
    assert whatsapp["body"] == "'=HYPERLINK(1)"
    # A number in E.164 starts with +: it is kept as text too.
    assert riyadh["to"] == "'+966501234567"


def test_the_export_is_scoped_to_the_organization(acme_api, globex_api, world):
    acme_lines = read_csv(acme_api.get("/api/v1/messages/export"))
    assert {line["id"] for line in acme_lines} == pid(*[m for k, m in world["rows"].items() if k != "globex"])
    assert {line["id"] for line in read_csv(globex_api.get("/api/v1/messages/export"))} == pid(world["rows"]["globex"])


def test_the_export_streams_every_row_in_chunks(acme, acme_api, monkeypatch):
    from messaging import logs

    monkeypatch.setattr(logs, "EXPORT_CHUNK", 100)
    Message.objects.bulk_create(
        Message(organization=acme, channel="sms", to=f"+9665000{i:05d}", body=f"n{i}", created_at=NOW)
        for i in range(1050)
    )
    response = acme_api.get("/api/v1/messages/export")
    lines = read_csv(response)
    assert len(lines) == 1050
    assert len({line["id"] for line in lines}) == 1050


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+966", "'+966"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        (None, ""),
    ],
)
def test_formula_cells_are_neutralised(value, cell):
    assert safe_cell(value) == cell


def test_the_portal_list_searches_filters_and_exports(acme, owner, world):
    client, rows = login(owner), world["rows"]
    page = client.get("/portal/messages/", {"q": "00966 50 123 4567"}).content.decode()
    assert str(rows["riyadh"].public_id) in page and str(rows["whatsapp"].public_id) in page
    assert str(rows["dubai"].public_id) not in page and str(rows["globex"].public_id) not in page
    page = client.get(
        "/portal/messages/", {"provider_account": str(world["infobip"].public_id), "error_code": "30003"}
    ).content.decode()
    assert str(rows["dubai"].public_id) in page and str(rows["riyadh"].public_id) not in page
    assert "/portal/messages/export.csv?provider_account=" in page

    lines = read_csv(client.get("/portal/messages/export.csv", {"q": "0501234567", "channel": "whatsapp"}))
    assert [line["id"] for line in lines] == [str(rows["whatsapp"].public_id)]


def test_the_portal_shows_bad_filters_as_form_errors(owner, world):
    client = login(owner)
    response = client.get("/portal/messages/", {"to": "12", "status": "lost"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "not a valid phone number" in page and "Unknown value lost" in page
    assert str(world["rows"]["riyadh"].public_id) not in page
    # A NUL byte in the query string: the request guard's 400 page, before the filter form.
    refused = client.get("/portal/messages/", {"q": "a\x00b"})
    assert refused.status_code == 400 and refused["Content-Type"].startswith("text/html")
    assert "Bad request" in refused.content.decode()
    assert client.get("/portal/messages/export.csv", {"status": "lost"}).status_code == 302


def test_the_portal_export_is_scoped(globex_owner, world):
    lines = read_csv(login(globex_owner).get("/portal/messages/export.csv"))
    assert [line["id"] for line in lines] == [str(world["rows"]["globex"].public_id)]


def test_a_viewer_can_export(acme, world):
    viewer = make_user("viewer2@acme.test", acme, "viewer")
    assert len(read_csv(login(viewer).get("/portal/messages/export.csv"))) == 4


def test_the_admin_search_takes_every_number_form(client, acme, world):
    from tests.admin.conftest import make_staff

    client.force_login(make_staff("root2@jood.test", superuser=True))
    rows = world["rows"]
    for term in ("0501234567", "00966501234567", "+966 50 123 4567", "966501234567"):
        response = client.get("/admin/messaging/message/", {"q": term})
        assert set(response.context["cl"].result_list) == {rows["riyadh"], rows["whatsapp"], rows["globex"]}, term
