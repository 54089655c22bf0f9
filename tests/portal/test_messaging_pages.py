"""Dashboard, messages, sending one, bulk CSV, batches, templates and opt-outs in the portal."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from messaging.forms import build_params, parse_csv, template_fields
from messaging.models import Batch, DeliveryAttempt, MediaFile, Message, MessageEvent, OptOut, Template
from tests.conftest import celery_eager
from tests.factories import make_account, make_message

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def send(client, **data):
    payload = {"channel": "sms", "to": "+966501234567", "body": "Hello", **data}
    return client.post(reverse("portal-send"), payload)


# --- dashboard ------------------------------------------------------------------------------------
def test_the_dashboard_charts_30_days_by_status(member_client, acme, sandbox):
    make_message(acme, status="delivered", provider_account=sandbox)
    make_message(acme, status="read", provider_account=sandbox)
    make_message(acme, status="failed", provider_account=sandbox, error_code="30003")
    old = make_message(acme, status="delivered")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    response = member_client.get(reverse("portal-dashboard"))
    chart = response.context["chart"]
    assert len(chart["days"]) == 30 and chart["days"][-1] == timezone.localdate().isoformat()
    series = {s["key"]: s["values"] for s in chart["series"]}
    assert series["delivered"][-1] == 2 and series["failed"][-1] == 1 and series["delivered"][-4] == 1
    page = response.content.decode()
    assert 'id="chart-data"' in page and 'data-chart="#chart-data"' in page
    # Delivery rate: 2 delivered of 3 with a final receipt.
    assert "66.7%" in page
    # The recent failure, explained.
    assert "Unreachable handset" in page


def test_the_dashboard_invites_to_connect_an_account_first(admin_client):
    assert b"Start here: connect a provider account" in admin_client.get(reverse("portal-dashboard")).content


# --- messages -------------------------------------------------------------------------------------------
def test_the_message_list_filters(viewer_client, acme):
    make_message(acme, to="+966501111111", status="delivered")
    make_message(acme, to="+966502222222", status="failed", channel="whatsapp")
    old = make_message(acme, to="+966503333333", status="delivered")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    def listed(query: str) -> str:
        return viewer_client.get(reverse("portal-messages") + query).content.decode()

    page = listed("?status=failed")
    assert "+966502222222" in page and "+966501111111" not in page
    page = listed("?channel=sms")
    assert "+966501111111" in page and "+966502222222" not in page
    page = listed("?phone=0501111111")
    assert "+966501111111" in page and "+966502222222" not in page
    page = listed("?phone=%2B966%2050%20111%201111")
    assert "+966501111111" in page and "+966502222222" not in page
    start = (timezone.localdate() - timedelta(days=11)).isoformat()
    end = (timezone.localdate() - timedelta(days=9)).isoformat()
    page = listed(f"?start={start}&end={end}")
    assert "+966503333333" in page and "+966501111111" not in page


def test_the_message_list_filters_by_batch(viewer_client, acme):
    batch = Batch.objects.create(organization=acme, channel="sms", name="Promo")
    make_message(acme, status="queued", to="+966501111111", batch=batch)
    make_message(acme, status="queued", to="+966502222222")
    page = viewer_client.get(reverse("portal-messages") + f"?batch={batch.public_id}").content.decode()
    assert "+966501111111" in page and "+966502222222" not in page and "Promo" in page


def test_the_message_list_pages_without_a_count(viewer_client, acme):
    now = timezone.now()
    Message.objects.bulk_create(
        Message(organization=acme, channel="sms", to=f"+9665012{n:05d}", status="queued", created_at=now)
        for n in range(51)
    )
    page = viewer_client.get(reverse("portal-messages")).content.decode()
    assert 'rel="next"' in page and "1–50" in page
    page = viewer_client.get(reverse("portal-messages") + "?page=2").content.decode()
    assert 'rel="prev"' in page and "51–51" in page


def test_the_message_page_explains_the_error_and_shows_the_timeline(viewer_client, acme, sandbox):
    message = make_message(
        acme,
        status="undelivered",
        provider_account=sandbox,
        provider="sandbox",
        provider_message_id="SB123",
        error_code="30003",
        error_message="Unreachable destination handset",
        encoding="GSM-7",
        segments=1,
        price=Decimal("0.0075"),
        price_currency="USD",
    )
    MessageEvent.objects.create(message=message, status="sent", source="dispatch", applied=True)
    MessageEvent.objects.create(
        message=message, status="undelivered", source="webhook", applied=True, error_code="30003"
    )
    MessageEvent.objects.create(message=message, status="sent", source="webhook", applied=False)
    DeliveryAttempt.objects.create(message=message, provider_account=sandbox, outcome="retryable", error_code="503")
    DeliveryAttempt.objects.create(message=message, provider_account=sandbox, outcome="accepted", latency_ms=42)
    page = viewer_client.get(reverse("portal-message", args=[message.public_id])).content.decode()
    assert "Unreachable handset: the phone is off" in page
    assert "not applied" in page
    assert "0.0075 USD" in page and "GSM-7" in page and "SB123" in page
    assert "The provider was unavailable (HTTP 503)" in page
    assert "42 ms" in page


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("opted_out", "opted out of this channel"),
        ("whatsapp_window_closed", "within 24 hours"),
        ("organization_paused", "Sending is paused"),
        ("21211", "not a valid phone number"),
        ("21610", "replied STOP"),
        ("131047", "24 hours have passed"),
        ("no_provider_account", "No active provider account"),
        ("timeout", "did not answer in time"),
    ],
)
def test_common_error_codes_are_explained_in_words(viewer_client, acme, code, words):
    message = make_message(acme, status="failed", error_code=code, error_message="raw")
    assert words in viewer_client.get(reverse("portal-message", args=[message.public_id])).content.decode()


def test_a_member_cancels_a_queued_message(member_client, acme):
    message = make_message(acme, status="queued")
    page = member_client.get(reverse("portal-message", args=[message.public_id])).content.decode()
    assert "Cancel the message" in page
    response = member_client.post(reverse("portal-message-cancel", args=[message.public_id]), follow=True)
    assert b"The message is canceled" in response.content
    message.refresh_from_db()
    assert message.status == "canceled"


def test_a_sent_message_cannot_be_canceled(member_client, acme):
    message = make_message(acme, status="sent")
    assert b"Cancel the message" not in member_client.get(reverse("portal-message", args=[message.public_id])).content
    response = member_client.post(reverse("portal-message-cancel", args=[message.public_id]), follow=True)
    assert b"cannot be canceled" in response.content
    message.refresh_from_db()
    assert message.status == "sent"


def test_the_status_endpoint_follows_a_message(viewer_client, acme):
    message = make_message(acme, status="sent")
    data = viewer_client.get(reverse("portal-message-status", args=[message.public_id])).json()
    assert data["status"] == "sent"


# --- send one --------------------------------------------------------------------------------------------
def test_the_send_form_creates_a_message(member_client, member, acme, sandbox):
    response = send(member_client, body="Your code is 4821\r\nThanks")
    message = Message.objects.get(organization=acme)
    assert response["Location"] == reverse("portal-message", args=[message.public_id])
    assert (message.status, message.to, message.channel) == ("queued", "+966501234567", "sms")
    assert message.body == "Your code is 4821\nThanks"
    assert (message.encoding, message.segments) == ("GSM-7", 1)


def test_the_send_form_sends_through_a_chosen_account(member_client, acme, sandbox):
    other = make_account(acme, label="Second")
    send(member_client, provider_account=str(other.pk))
    assert Message.objects.get(organization=acme).requested_account == other


def test_the_send_form_refuses_another_organizations_account(member_client, acme, sandbox, globex_sandbox):
    response = send(member_client, provider_account=str(globex_sandbox.pk))
    assert b'id="id_provider_account_error"' in response.content
    assert not Message.objects.exists()


def test_an_invalid_number_is_refused_next_to_the_field(member_client, sandbox):
    response = send(member_client, to="12345")
    assert response.status_code == 200
    assert b'id="id_to_error"' in response.content and b"Not a valid phone number" in response.content
    assert not Message.objects.exists()


def test_without_an_account_the_send_is_refused(member_client, acme):
    response = send(member_client)
    assert b"No active sms provider account" in response.content
    assert not Message.objects.exists()


def test_a_template_is_sent_with_its_parameters(member_client, acme, sandbox):
    template = Template.objects.create(organization=acme, name="welcome", body="Hi {{first_name}}, order {{order}}")
    response = send(member_client, body="", template=str(template.pk), params="first_name=Sara\norder = 1042")
    assert response.status_code == 302
    message = Message.objects.get(organization=acme)
    assert message.body == "Hi Sara, order 1042" and message.template == template
    assert message.template_params == {"first_name": "Sara", "order": "1042"}


def test_a_missing_template_parameter_is_refused_next_to_the_field(member_client, acme, sandbox):
    template = Template.objects.create(organization=acme, name="welcome", body="Hi {{first_name}}")
    response = send(member_client, body="", template=str(template.pk), params="")
    assert b'id="id_params_error"' in response.content and b"first_name" in response.content
    response = send(member_client, body="", template=str(template.pk), params="first_name Sara")
    assert b"has no" in response.content
    assert not Message.objects.exists()


def test_a_message_can_be_scheduled(member_client, acme, sandbox):
    when = timezone.localtime() + timedelta(days=1)
    send(member_client, scheduled_at=when.strftime("%Y-%m-%dT%H:%M"))
    message = Message.objects.get(organization=acme)
    assert message.status == "scheduled"
    assert abs((message.scheduled_at - when).total_seconds()) < 60


def test_a_time_in_the_past_is_refused(member_client, sandbox):
    when = timezone.localtime() - timedelta(days=1)
    response = send(member_client, scheduled_at=when.strftime("%Y-%m-%dT%H:%M"))
    assert b'id="id_scheduled_at_error"' in response.content


def test_an_opted_out_recipient_is_rejected_with_a_warning(member_client, acme, sandbox):
    OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    response = member_client.post(
        reverse("portal-send"), {"channel": "sms", "to": "+966501234567", "body": "Hi"}, follow=True
    )
    assert b"Refused before sending" in response.content
    message = Message.objects.get(organization=acme)
    assert (message.status, message.error_code) == ("rejected", "opted_out")


def test_an_attachment_is_stored_as_a_media_file(member_client, acme, sandbox):
    response = send(member_client, body="See the picture", media=SimpleUploadedFile("photo.png", PNG, "image/png"))
    assert response.status_code == 302
    media = MediaFile.objects.get(organization=acme)
    assert (media.kind, media.content_type, media.size) == ("image", "image/png", len(PNG))
    message = Message.objects.get(organization=acme)
    assert message.media == [{"kind": "image", "media_id": str(media.public_id)}]


def test_an_attachment_whatsapp_would_refuse_is_refused(member_client, acme, sandbox):
    junk = SimpleUploadedFile("photo.png", b"\x00\x01\x02 not an image", "image/png")
    response = send(member_client, media=junk)
    assert b'id="id_media_error"' in response.content
    assert not MediaFile.objects.exists() and not Message.objects.exists()


def test_the_send_page_carries_the_gsm_charset_for_the_live_counter(member_client, sandbox):
    page = member_client.get(reverse("portal-send")).content.decode()
    charset = json.loads(re.search(r'id="sms-charset" type="application/json">(.*?)</script>', page).group(1))
    assert "@" in charset["basic"] and "€" in charset["extension"]
    assert "sms-counter.js" in page


# --- WhatsApp template parameters ------------------------------------------------------------------------
def _wa_template(acme, body_text: str, **extra) -> Template:
    components = [{"type": "BODY", "text": body_text}, *extra.pop("components", [])]
    return Template.objects.create(
        organization=acme,
        kind="whatsapp",
        channel="whatsapp",
        name="order_update",
        body=body_text,
        components=components,
        approval_status="APPROVED",
    )


def test_positional_whatsapp_parameters_become_meta_components(acme):
    template = _wa_template(
        acme,
        "Hi {{1}}, your order {{2}} is ready",
        components=[
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://shop.example/{{1}}"}]},
        ],
    )
    assert template_fields(template) == ["header.1", "1", "2", "button.0"]
    params = build_params(template, {"header.1": "42", "1": "Sara", "2": "42", "button.0": "track/42"})
    assert params == {
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "42"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Sara"}, {"type": "text", "text": "42"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "track/42"}]},
        ]
    }


def test_named_whatsapp_parameters_carry_their_names(member_client, acme):
    make_account(acme, channel="whatsapp")
    template = _wa_template(acme, "Hi {{first_name}}")
    response = member_client.post(
        reverse("portal-send"),
        {"channel": "whatsapp", "to": "+966501234567", "template": str(template.pk), "params": "first_name=Sara"},
    )
    assert response.status_code == 302, response.content
    message = Message.objects.get(organization=acme)
    assert message.status == "queued"
    assert message.template_params["components"][0]["parameters"] == [
        {"type": "text", "text": "Sara", "parameter_name": "first_name"}
    ]


# --- bulk ---------------------------------------------------------------------------------------------------
CSV = (
    "Phone;First name;Order\n"
    "+966501234567;Sara;1042\n"
    "+971501234567;Omar;1043\n"
    "+966501234567;Sara again;1044\n"
    "12;Nobody;1045\n"
    "+14155550123;;1046\n"
)


def upload(client, content: str = CSV, **data):
    payload = {"channel": "sms", "name": "November promo", "body": "Hello!", **data}
    payload["file"] = SimpleUploadedFile("customers.csv", content.encode(), "text/csv")
    return client.post(reverse("portal-bulk"), payload)


def test_a_bulk_csv_goes_from_upload_to_a_batch(member_client, acme, sandbox, django_capture_on_commit_callbacks):
    template = Template.objects.create(
        organization=acme, name="promo", body="Hi {{first_name}}, order {{order}} ships today"
    )
    OptOut.objects.create(organization=acme, channel="sms", phone="+971501234567")
    response = upload(member_client, template=str(template.pk), body="")
    assert response.status_code == 302
    map_url = response["Location"]
    page = member_client.get(map_url).content.decode()
    assert "Phone column" in page and "First name" in page
    # The phone column is guessed; parameters are mapped to columns.
    form = member_client.get(map_url).context["form"]
    assert form["phone_column"].initial == "0"
    response = member_client.post(map_url, {"phone_column": "0", "param_first_name": "1", "param_order": "2"})
    preview_url = response["Location"]
    assert preview_url.endswith("/preview/")
    page = member_client.get(preview_url).content.decode()
    assert "Hi Sara, order 1042 ships today" in page
    assert "appears twice in the file" in page
    assert "invalid number" in page and "no value for first_name" in page
    assert "opted out" in page
    assert "Send 2 messages" in page

    with django_capture_on_commit_callbacks() as accepting:
        response = member_client.post(preview_url)
    # The click answers at once: the batch exists, its rows wait for the task.
    batch = Batch.objects.get(organization=acme)
    assert response["Location"] == reverse("portal-batch", args=[batch.public_id])
    assert (batch.state, batch.total, batch.accepted) == ("accepting", 5, 0)
    assert not Message.objects.exists()
    page = member_client.get(response["Location"]).content.decode()
    assert "Checking and writing 5 rows" in page and 'http-equiv="refresh"' in page
    assert len(accepting) == 1  # one task publish for the whole upload
    from messaging import tasks

    assert tasks.accept_batch(batch.pk) == "accepted"
    batch.refresh_from_db()
    assert batch.state == "accepted" and batch.pending is None
    assert (batch.name, batch.total, batch.accepted, batch.refused) == ("November promo", 5, 2, 3)
    refused_csv = member_client.get(reverse("portal-batch-refused", args=[batch.public_id]))
    assert refused_csv["Content-Type"].startswith("text/csv")
    lines = refused_csv.content.decode().splitlines()
    assert lines[0] == "row,index,to,code,message"
    assert [line.split(",")[:4] for line in lines[1:]] == [
        ["4", "2", "+966501234567", "duplicate_recipient"],
        ["5", "3", "12", "invalid_number"],
        ["6", "4", "+14155550123", "missing_parameter"],
    ]
    statuses = dict(Message.objects.filter(batch=batch).values_list("to", "status"))
    assert statuses == {"+966501234567": "queued", "+971501234567": "rejected"}
    assert Message.objects.get(to="+966501234567").body == "Hi Sara, order 1042 ships today"

    page = member_client.get(response["Location"]).content.decode()
    assert "progress.json" in page and 'role="progressbar"' in page
    progress = member_client.get(reverse("portal-batch-progress", args=[batch.public_id])).json()
    assert progress["total"] == 2 and progress["done"] == 1 and progress["percent"] == 50.0
    assert progress["counts"] == {"queued": 1, "rejected": 1}
    # The upload is gone once sent.
    assert member_client.get(preview_url).status_code == 404


def test_a_bulk_batch_reaches_100_percent_once_dispatched(
    member_client, acme, sandbox, django_capture_on_commit_callbacks
):
    upload_response = upload(member_client, "phone\n+966501234567\n+971501234567\n")
    map_url = upload_response["Location"]
    preview_url = member_client.post(map_url, {"phone_column": "0"})["Location"]
    with celery_eager(), django_capture_on_commit_callbacks(execute=True):
        member_client.post(preview_url)
    batch = Batch.objects.get(organization=acme)
    progress = member_client.get(reverse("portal-batch-progress", args=[batch.public_id])).json()
    assert progress["percent"] == 100.0 and progress["done"] == 2


def test_a_bulk_upload_refused_as_a_whole_shows_why(member_client, acme, sandbox, django_capture_on_commit_callbacks):
    preview_url = member_client.post(
        upload(member_client, "phone\n+966501234567\n")["Location"], {"phone_column": "0"}
    )["Location"]
    sandbox.is_active = False  # the only account goes away between the preview and the task
    sandbox.save(update_fields=["is_active"])
    with celery_eager(), django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(preview_url)
    batch = Batch.objects.get(organization=acme)
    assert batch.state == "failed" and "provider account" in batch.error
    assert "Nothing was sent" in member_client.get(response["Location"]).content.decode()


def test_a_lost_acceptance_task_is_swept_up(member_client, acme, sandbox):
    from messaging import tasks

    preview_url = member_client.post(
        upload(member_client, "phone\n+966501234567\n")["Location"], {"phone_column": "0"}
    )["Location"]
    member_client.post(preview_url)  # on_commit never runs here: the publish is lost
    batch = Batch.objects.get(organization=acme)
    assert batch.state == "accepting"
    assert tasks.sweep_pending_batches() == 0  # too young: maybe still on its way
    Batch.objects.filter(pk=batch.pk).update(created_at=batch.created_at - timedelta(minutes=2))
    with celery_eager():
        assert tasks.sweep_pending_batches() == 1
    batch.refresh_from_db()
    assert (batch.state, batch.accepted) == ("accepted", 1)
    assert tasks.accept_batch(batch.pk) == "accepted"  # a second run changes nothing
    assert Message.objects.filter(batch=batch).count() == 1


def test_an_upload_that_is_not_a_csv_is_refused(member_client, sandbox):
    response = upload(member_client, "")
    assert b'id="id_file_error"' in response.content and b"empty" in response.content
    response = upload(member_client, "phone\n")
    assert b"no recipients" in response.content


def test_a_csv_without_a_header_row_is_read(member_client):
    parsed = parse_csv(b"+966501234567,Sara\n+971501234567,Omar\n")
    assert parsed["columns"] == ["Column 1", "Column 2"]
    assert parsed["rows"] == [["+966501234567", "Sara"], ["+971501234567", "Omar"]]


def test_another_sessions_upload_is_not_found(member_client, owner_client, sandbox):
    map_url = upload(member_client)["Location"]
    assert owner_client.get(map_url).status_code == 404
    assert member_client.get(map_url.replace(map_url.split("/")[-3], "0" * 32)).status_code == 404


def test_a_batch_of_another_organization_is_not_found(member_client, globex):
    batch = Batch.objects.create(organization=globex, channel="sms")
    assert member_client.get(reverse("portal-batch-progress", args=[batch.public_id])).status_code == 404


# --- templates ----------------------------------------------------------------------------------------------
def test_an_admin_creates_edits_and_deletes_a_template(admin_client, acme):
    data = {"channel": "sms", "name": "welcome", "language": "en", "body": "Hi {{first_name}}"}
    assert admin_client.post(reverse("portal-template-new"), data).status_code == 302
    template = Template.objects.get(organization=acme)
    assert template.kind == "own" and template.placeholders == ["first_name"]
    response = admin_client.post(reverse("portal-template-new"), data)
    assert b"You have a template with this name" in response.content
    admin_client.post(reverse("portal-template-edit", args=[template.public_id]), {**data, "body": "Hello {{name}}"})
    template.refresh_from_db()
    assert template.body == "Hello {{name}}"
    admin_client.post(reverse("portal-template-delete", args=[template.public_id]))
    assert not Template.objects.filter(pk=template.pk).exists()


def test_synced_whatsapp_templates_are_listed_with_their_status_but_not_edited(admin_client, acme):
    template = _wa_template(acme, "Hi {{1}}")
    Template.objects.filter(pk=template.pk).update(approval_status="REJECTED")
    page = admin_client.get(reverse("portal-templates")).content.decode()
    assert "order_update" in page and "rejected" in page
    assert admin_client.get(reverse("portal-template-edit", args=[template.public_id])).status_code == 404
    assert admin_client.post(reverse("portal-template-delete", args=[template.public_id])).status_code == 404


def test_a_member_cannot_change_templates(member_client, acme):
    data = {"channel": "sms", "name": "welcome", "language": "en", "body": "Hi"}
    assert member_client.post(reverse("portal-template-new"), data).status_code == 403
    assert not Template.objects.exists()


# --- opt-outs -------------------------------------------------------------------------------------------------
def test_a_member_adds_and_removes_an_opt_out(member_client, acme):
    response = member_client.post(reverse("portal-opt-outs"), {"channel": "sms", "phone": "0501234567"})
    assert b'id="id_phone_error"' in response.content
    member_client.post(reverse("portal-opt-outs"), {"channel": "sms", "phone": "+966 50 123 4567"})
    optout = OptOut.objects.get(organization=acme)
    assert (optout.phone, optout.source) == ("+966501234567", "portal")
    page = member_client.get(reverse("portal-opt-outs") + "?phone=%2B966501234567").content.decode()
    assert "+966501234567" in page
    member_client.post(reverse("portal-opt-out-remove", args=[optout.pk]))
    assert not OptOut.objects.exists()
