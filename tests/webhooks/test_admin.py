"""The staff console pages of the webhooks app load, and reprocessing works from there."""

from __future__ import annotations

import pytest

from accounts.models import User
from webhooks import services
from webhooks.models import CallbackDelivery, WebhookEvent


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser("staff@jood.test"))
    return client


def test_the_changelists_load(staff_client, acme):
    services.create_endpoint(acme, "https://example.com/hook")
    for name in ("webhookevent", "callbackendpoint", "callbackdelivery"):
        assert staff_client.get(f"/admin/webhooks/{name}/").status_code == 200


def test_staff_can_reprocess_a_failed_event(staff_client, sandbox_account):
    event = WebhookEvent(provider="sandbox", provider_account=sandbox_account, state="failed", signature_valid=True)
    event.raw_body = b"not json"
    event.save()
    response = staff_client.post(
        "/admin/webhooks/webhookevent/", {"action": "reprocess", "_selected_action": [event.pk]}, follow=True
    )
    assert response.status_code == 200
    event.refresh_from_db()
    assert event.state == "failed"
    assert event.attempts == 1


def test_staff_can_retry_a_failed_delivery(staff_client, acme):
    endpoint, _ = services.create_endpoint(acme, "https://example.com/hook")
    delivery = CallbackDelivery.objects.create(
        endpoint=endpoint,
        organization=acme,
        url=endpoint.url,
        event_type="message.status",
        payload={},
        webhook_id="msg_admin",
        state="failed",
    )
    # The task is published on commit, which the test's transaction never reaches: only the state is checked.
    staff_client.post("/admin/webhooks/callbackdelivery/", {"action": "retry", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.state == "pending"
    assert delivery.next_attempt_at is not None
