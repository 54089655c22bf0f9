"""Roles on the messaging API: a viewer key reads, a member key sends, an admin key manages templates."""

from __future__ import annotations

from messaging.models import Message
from tests.messaging.conftest import assert_error


def test_a_viewer_key_can_list_messages(acme_viewer_api, acme_api, sandbox):
    acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json")
    response = acme_viewer_api.get("/api/v1/messages")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_a_viewer_key_cannot_send(acme_viewer_api, sandbox):
    response = acme_viewer_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json")
    assert_error(response, 403, "permission_denied")
    assert not Message.objects.exists()


def test_a_viewer_key_reads_batches_and_analytics(acme_viewer_api, acme_api, sandbox):
    payload = {"channel": "sms", "body": "x", "recipients": [{"to": "+966500000001"}]}
    batch_id = acme_api.post("/api/v1/messages/bulk", payload, format="json").json()["batch"]["id"]
    assert acme_viewer_api.get(f"/api/v1/batches/{batch_id}").status_code == 200
    assert acme_viewer_api.get("/api/v1/analytics").status_code == 200


def test_a_member_key_sends(acme_api, sandbox):
    assert acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json").status_code == 202


def test_without_a_key_nothing_is_answered(client, db):
    for url in ("/api/v1/messages", "/api/v1/templates", "/api/v1/opt-outs", "/api/v1/analytics"):
        assert client.get(url).status_code == 401
