"""Opt-outs: an opted-out recipient's message is rejected; the list is managed through /api/v1/opt-outs."""

from __future__ import annotations

from django.utils import timezone

from messaging.models import ConversationWindow, Message, OptOut, Status
from tests.messaging.conftest import assert_error


def test_an_opted_out_recipient_gets_a_rejected_message(acme_api, acme, sandbox, dispatching):
    OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    with dispatching():
        response = acme_api.post("/api/v1/messages", {"to": "00966501234567", "body": "Sale!"}, format="json")
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["status"] == "rejected"
    assert answer["error"]["code"] == "opted_out"
    message = Message.objects.get()
    assert message.status == Status.REJECTED
    assert message.failed_at is not None
    assert not message.delivery_attempts.exists()  # never handed to a provider


def test_an_opt_out_of_sms_does_not_stop_whatsapp(acme, acme_api, whatsapp_sandbox):
    OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    ConversationWindow.objects.create(organization=acme, phone="+966501234567", last_inbound_at=timezone.now())
    response = acme_api.post(
        "/api/v1/messages", {"channel": "whatsapp", "to": "+966501234567", "body": "Hi"}, format="json"
    )
    assert response.json()["status"] == "queued"


def test_an_opt_out_created_through_the_api_is_normalized_and_listed(acme_api, acme):
    response = acme_api.post("/api/v1/opt-outs", {"channel": "sms", "phone": "00966 50 123 4567"}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["phone"] == "+966501234567"
    assert created["source"] == "api"

    listed = acme_api.get("/api/v1/opt-outs").json()["results"]
    assert [o["phone"] for o in listed] == ["+966501234567"]
    assert acme_api.get(f"/api/v1/opt-outs/{created['id']}").json()["phone"] == "+966501234567"


def test_the_list_filters_by_phone_in_any_form(acme_api, acme):
    OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    OptOut.objects.create(organization=acme, channel="sms", phone="+971501234567")
    listed = acme_api.get("/api/v1/opt-outs", {"phone": "00966 50 123 4567"}).json()["results"]
    assert [o["phone"] for o in listed] == ["+966501234567"]


def test_creating_an_existing_opt_out_keeps_one_row(acme_api, acme):
    for _ in range(2):
        acme_api.post("/api/v1/opt-outs", {"channel": "sms", "phone": "+966501234567"}, format="json")
    assert OptOut.objects.filter(organization=acme).count() == 1


def test_an_opt_out_with_an_invalid_number_is_a_400(acme_api):
    error = assert_error(acme_api.post("/api/v1/opt-outs", {"channel": "sms", "phone": "12"}, format="json"), 400)
    assert error["code"] == "invalid_number"
    assert not OptOut.objects.exists()


def test_deleting_an_opt_out_lets_messages_through_again(acme_api, acme, sandbox):
    optout = OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    assert acme_api.delete(f"/api/v1/opt-outs/{optout.pk}").status_code == 204
    assert not OptOut.objects.exists()
    response = acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json")
    assert response.json()["status"] == "queued"


def test_a_viewer_can_list_opt_outs_but_not_change_them(acme_viewer_api, acme):
    optout = OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    assert acme_viewer_api.get("/api/v1/opt-outs").status_code == 200
    assert_error(acme_viewer_api.post("/api/v1/opt-outs", {"channel": "sms", "phone": "+971501234567"}), 403)
    assert_error(acme_viewer_api.delete(f"/api/v1/opt-outs/{optout.pk}"), 403)
    assert OptOut.objects.count() == 1
