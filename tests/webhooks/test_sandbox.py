"""The sandbox reports its receipts through the same intake path as a real provider."""

from __future__ import annotations

from messaging.models import MessageEvent
from messaging.status import apply_status
from tests.factories import make_account, make_message
from webhooks.models import WebhookEvent


def send(account, to="+966501234567", django_capture_on_commit_callbacks=None):
    message = make_message(account, status="sending", provider_message_id="SB" + "9" * 32, to=to)
    with django_capture_on_commit_callbacks(execute=True):
        apply_status(message, "sent", source="dispatch", raw_status="accepted")
    message.refresh_from_db()
    return message


def test_a_sent_sandbox_sms_ends_delivered_since_sms_has_no_read_receipts(
    sandbox_account, django_capture_on_commit_callbacks
):
    message = send(sandbox_account, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert message.status == "delivered"
    assert message.delivered_at is not None and message.read_at is None
    [event] = WebhookEvent.objects.all()
    assert event.state == "processed" and event.signature_valid
    assert list(MessageEvent.objects.filter(message=message, source="webhook").values_list("status", flat=True)) == [
        "delivered"
    ]


def test_a_sent_sandbox_whatsapp_message_ends_read(acme, django_capture_on_commit_callbacks):
    sandbox_account = make_account(acme, "sandbox", channel="whatsapp")
    message = send(sandbox_account, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert message.status == "read"
    assert message.delivered_at is not None and message.read_at is not None
    events = list(WebhookEvent.objects.order_by("id"))
    assert [e.state for e in events] == ["processed", "processed"]
    assert all(e.provider == "sandbox" and e.signature_valid and e.provider_account == sandbox_account for e in events)
    assert list(MessageEvent.objects.filter(message=message, source="webhook").values_list("status", flat=True)) == [
        "delivered",
        "read",
    ]


def test_a_number_ending_0000_ends_undelivered(sandbox_account, django_capture_on_commit_callbacks):
    message = send(
        sandbox_account, to="+966500000000", django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    assert message.status == "undelivered"
    assert message.error_code == "30003"
    assert WebhookEvent.objects.get().state == "processed"


def test_without_read_receipts_it_ends_delivered(acme, django_capture_on_commit_callbacks):
    account = make_account(acme, "sandbox", settings={"read_receipts": False, "callback_delay_ms": 1500})
    message = send(account, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks)
    assert message.status == "delivered"


def test_other_providers_get_no_simulated_receipts(twilio_account, django_capture_on_commit_callbacks):
    message = make_message(twilio_account, status="sending", provider_message_id="SM" + "9" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        apply_status(message, "sent", source="dispatch")
    message.refresh_from_db()
    assert message.status == "sent"
    assert not WebhookEvent.objects.exists()
