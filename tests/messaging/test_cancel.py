"""Cancel: a scheduled or queued message can be canceled; one that has gone out cannot (409)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from messaging.models import Message, Status
from tests.messaging.conftest import assert_error


def schedule(api, hours=2):
    at = (timezone.now() + timedelta(hours=hours)).isoformat()
    response = api.post("/api/v1/messages", {"to": "+966501234567", "body": "Later", "scheduled_at": at}, format="json")
    assert response.json()["status"] == "scheduled", response.content
    return response.json()["id"]


def test_a_scheduled_message_can_be_canceled(acme_api, sandbox):
    message_id = schedule(acme_api)
    response = acme_api.post(f"/api/v1/messages/{message_id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "canceled"
    assert response.json()["canceled_at"] is not None
    message = Message.objects.get(public_id=message_id)
    assert message.status == Status.CANCELED
    assert list(message.events.values_list("status", "applied")) == [("canceled", True)]


def test_a_canceled_message_is_not_sent_when_it_falls_due(acme_api, sandbox):
    from messaging import dispatch

    message_id = schedule(acme_api)
    acme_api.post(f"/api/v1/messages/{message_id}/cancel")
    dispatch.sweep(now=timezone.now() + timedelta(hours=3))
    message = Message.objects.get(public_id=message_id)
    assert message.status == Status.CANCELED
    assert not message.delivery_attempts.exists()


def test_a_sent_message_cannot_be_canceled(acme_api, sandbox, dispatching):
    with dispatching():
        message_id = acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Now"}).json()["id"]
    # The sandbox may have reported delivered and read already: all are past cancelling.
    before = Message.objects.get(public_id=message_id).status
    assert before in (Status.SENT, Status.DELIVERED, Status.READ)

    error = assert_error(acme_api.post(f"/api/v1/messages/{message_id}/cancel"), 409, "not_cancelable")
    assert before in error["message"]
    message = Message.objects.get(public_id=message_id)
    assert message.status == before
    # A refused cancel is not part of the message's history.
    assert not message.events.filter(status="canceled").exists()


def test_canceling_twice_is_a_409(acme_api, sandbox):
    message_id = schedule(acme_api)
    assert acme_api.post(f"/api/v1/messages/{message_id}/cancel").status_code == 200
    assert_error(acme_api.post(f"/api/v1/messages/{message_id}/cancel"), 409, "not_cancelable")


def test_a_viewer_cannot_cancel(acme_viewer_api, acme_api, sandbox):
    message_id = schedule(acme_api)
    assert_error(acme_viewer_api.post(f"/api/v1/messages/{message_id}/cancel"), 403)
    assert Message.objects.get(public_id=message_id).status == Status.SCHEDULED


def test_an_unknown_message_is_a_404(acme_api):
    assert_error(acme_api.post("/api/v1/messages/00000000-0000-0000-0000-000000000000/cancel"), 404, "not_found")
