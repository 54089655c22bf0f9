"""Sending one message through the API: refusals before any provider, and the way to `sent`."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from messaging.models import RANK, ConversationWindow, DeliveryAttempt, Message, Status
from tests.factories import make_account
from tests.messaging.conftest import assert_error

TO = "+966501234567"


def send(api, **fields):
    return api.post("/api/v1/messages", {"to": TO, "body": "Hello", **fields}, format="json")


def test_a_message_is_sent_through_the_sandbox(acme_api, sandbox, dispatching):
    with dispatching():
        response = send(acme_api)
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["status"] == "queued"
    assert answer["to"] == TO and answer["channel"] == "sms"

    message = Message.objects.get(public_id=answer["id"])
    assert message.status in (Status.SENT, Status.DELIVERED, Status.READ)
    assert message.provider == "sandbox"
    assert message.provider_account == sandbox
    assert message.sent_at is not None and message.queued_at <= message.sent_at


def test_the_detail_shows_the_events_in_order_and_the_delivery_attempts(acme_api, sandbox, dispatching):
    with dispatching():
        message_id = send(acme_api).json()["id"]

    response = acme_api.get(f"/api/v1/messages/{message_id}")
    assert response.status_code == 200, response.content
    detail = response.json()
    assert detail["provider_account"] == str(sandbox.public_id)
    assert detail["provider_message_id"].startswith("SB")
    assert detail["sender"] == "Acme"

    events = detail["events"]
    assert events[0]["status"] == "sent" and events[0]["source"] == "dispatch" and events[0]["applied"]
    assert [e["received_at"] for e in events] == sorted(e["received_at"] for e in events)
    applied = [e["status"] for e in events if e["applied"]]
    assert [RANK[s] for s in applied] == sorted(RANK[s] for s in applied)
    assert detail["status"] == applied[-1]

    [attempt] = detail["delivery_attempts"]
    assert attempt["outcome"] == "accepted"
    assert attempt["provider_account"] == str(sandbox.public_id)
    assert attempt["error_code"] == ""


def test_a_failed_attempt_is_listed_with_its_error(acme_api, acme, dispatching):
    make_account(acme, messages_per_second=0, settings={"permanent_error_rate": 1})
    with dispatching():
        message_id = send(acme_api).json()["id"]
    detail = acme_api.get(f"/api/v1/messages/{message_id}").json()
    assert detail["status"] == "failed"
    assert detail["error"]["code"] == "21211"
    [attempt] = detail["delivery_attempts"]
    assert attempt["outcome"] == "permanent" and attempt["error_code"] == "21211"
    assert DeliveryAttempt.objects.count() == 1


def test_a_paused_organization_gets_rejected_messages(acme_api, acme, sandbox, dispatching):
    acme.paused_at = timezone.now()
    acme.save(update_fields=["paused_at"])
    with dispatching():
        response = send(acme_api)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "rejected"
    assert response.json()["error"]["code"] == "organization_paused"
    message = Message.objects.get()
    assert message.status == Status.REJECTED
    assert not message.delivery_attempts.exists()


def test_whatsapp_free_form_with_no_window_is_rejected(acme_api, acme, whatsapp_sandbox, dispatching):
    # A window that closed 25 hours ago does not count either.
    ConversationWindow.objects.create(organization=acme, phone=TO, last_inbound_at=timezone.now() - timedelta(hours=25))
    with dispatching():
        response = send(acme_api, channel="whatsapp")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "rejected"
    assert response.json()["error"]["code"] == "whatsapp_window_closed"
    assert Message.objects.get().status == Status.REJECTED


def test_whatsapp_free_form_inside_the_window_is_sent(acme_api, acme, whatsapp_sandbox, dispatching):
    ConversationWindow.objects.create(organization=acme, phone=TO, last_inbound_at=timezone.now() - timedelta(hours=23))
    with dispatching():
        response = send(acme_api, channel="whatsapp")
    assert response.json()["status"] == "queued"
    message = Message.objects.get()
    assert message.status in (Status.SENT, Status.DELIVERED, Status.READ)
    assert message.provider_account == whatsapp_sandbox


def test_a_window_of_another_organization_does_not_open_ours(acme_api, globex, whatsapp_sandbox):
    ConversationWindow.objects.create(organization=globex, phone=TO, last_inbound_at=timezone.now())
    assert send(acme_api, channel="whatsapp").json()["error"]["code"] == "whatsapp_window_closed"


def test_with_no_provider_account_the_send_is_a_400(acme_api):
    assert_error(send(acme_api), 400, "no_provider_account")
    assert not Message.objects.exists()


def test_a_provider_account_of_another_channel_is_refused(acme_api, sandbox, whatsapp_sandbox):
    response = send(acme_api, provider_account=str(whatsapp_sandbox.public_id))
    assert_error(response, 400, "provider_account")
    assert not Message.objects.exists()


def test_a_provider_account_of_another_organization_is_refused(acme_api, sandbox, globex_sandbox):
    response = send(acme_api, provider_account=str(globex_sandbox.public_id))
    assert_error(response, 400, "unknown_provider_account")


def test_a_chosen_provider_account_is_used(acme_api, acme, sandbox, dispatching):
    second = make_account(acme, messages_per_second=0, priority=500, label="second")
    with dispatching():
        message_id = send(acme_api, provider_account=str(second.public_id)).json()["id"]
    assert Message.objects.get(public_id=message_id).provider_account == second


def test_a_body_and_a_template_together_are_a_400(acme_api, sandbox):
    assert_error(send(acme_api, template="welcome"), 400, "validation_error")


def test_an_empty_message_is_a_400(acme_api, sandbox):
    assert_error(send(acme_api, body=""), 400, "validation_error")


def test_metadata_must_be_an_object(acme_api, sandbox):
    error = assert_error(send(acme_api, metadata=["a"]), 400, "validation_error")
    assert "metadata" in error["details"]


def test_metadata_comes_back_in_the_answer(acme_api, sandbox):
    assert send(acme_api, metadata={"order": 42}).json()["metadata"] == {"order": 42}


def test_a_future_scheduled_at_gives_a_scheduled_message_not_dispatched(acme_api, sandbox, dispatching):
    at = timezone.now() + timedelta(hours=2)
    with dispatching():
        response = send(acme_api, scheduled_at=at.isoformat())
    assert response.json()["status"] == "scheduled"
    message = Message.objects.get()
    assert message.status == Status.SCHEDULED
    assert message.scheduled_at == at
    assert message.queued_at is None
    assert not message.delivery_attempts.exists()


def test_a_past_scheduled_at_sends_now(acme_api, sandbox, dispatching):
    with dispatching():
        response = send(acme_api, scheduled_at=(timezone.now() - timedelta(minutes=1)).isoformat())
    assert response.json()["status"] == "queued"
    assert Message.objects.get().status in (Status.SENT, Status.DELIVERED, Status.READ)


def test_nothing_is_dispatched_for_a_refused_request(acme_api, sandbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        send(acme_api, to="+1")
    assert callbacks == []
