"""Callback endpoints in the portal: create (secret shown once), edit, delete, delivery log, test event."""

from __future__ import annotations

import re

import pytest
import responses
from django.urls import reverse

from accounts.models import AccessLog
from webhooks.models import CallbackDelivery, CallbackEndpoint

pytestmark = pytest.mark.django_db


RECEIVER_URL = "https://hooks.acme.example/hooks"


@pytest.fixture
def receiver():
    """The customer's endpoint, answering 204 (HTTP mocked with `responses`)."""
    with responses.RequestsMock() as http:
        http.post(RECEIVER_URL, status=204)
        yield http


def create(client, **data):
    payload = {"url": "https://example.com/jood", "events": ["message.status"], "description": "Orders", **data}
    payload.setdefault("is_active", "on")
    return client.post(reverse("portal-callback-new"), payload)


def test_the_signing_secret_is_shown_once(admin_client, acme):
    response = create(admin_client)
    endpoint = CallbackEndpoint.objects.get(organization=acme)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    secret = re.search(r'id="new-secret" class="secret">(whsec_[^<]+)<', page).group(1)
    assert secret == endpoint.secret
    assert (endpoint.url, endpoint.events, endpoint.description) == (
        "https://example.com/jood",
        ["message.status"],
        "Orders",
    )
    created_page = reverse("portal-callback-created", args=[endpoint.public_id])
    assert secret not in admin_client.get(created_page).content.decode()
    assert secret not in admin_client.get(reverse("portal-callback", args=[endpoint.public_id])).content.decode()
    assert secret not in admin_client.get(reverse("portal-callbacks")).content.decode()
    assert AccessLog.objects.filter(organization=acme, detail__change="callback_endpoint_created").exists()


def test_a_private_address_is_refused(admin_client, settings):
    settings.CALLBACKS_ALLOW_PRIVATE = False
    response = create(admin_client, url="http://127.0.0.1:8000/hook")
    assert b'id="id_url_error"' in response.content and b"not a public address" in response.content
    response = create(admin_client, url="ftp://example.com/hook")
    assert b'id="id_url_error"' in response.content
    assert not CallbackEndpoint.objects.exists()


def test_at_least_one_event_is_needed(admin_client):
    response = create(admin_client, events=[])
    assert b"Choose at least one event type" in response.content


def test_an_endpoint_is_edited_and_deleted(admin_client, acme):
    create(admin_client)
    endpoint = CallbackEndpoint.objects.get(organization=acme)
    url = reverse("portal-callback-edit", args=[endpoint.public_id])
    response = admin_client.post(url, {"url": "https://example.com/v2", "events": ["all"], "description": ""})
    assert response["Location"] == reverse("portal-callback", args=[endpoint.public_id])
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.events, endpoint.is_active) == ("https://example.com/v2", ["all"], False)
    admin_client.post(reverse("portal-callback-delete", args=[endpoint.public_id]))
    assert not CallbackEndpoint.objects.exists()


def test_a_test_event_is_posted_signed_and_logged(admin_client, acme, receiver):
    create(admin_client, url=RECEIVER_URL)
    endpoint = CallbackEndpoint.objects.get(organization=acme)
    response = admin_client.post(reverse("portal-callback-test", args=[endpoint.public_id]), follow=True)
    assert b"Test event delivered" in response.content
    assert len(receiver.calls) == 1
    headers = {k.lower(): v for k, v in receiver.calls[0].request.headers.items()}
    assert headers["webhook-signature"].startswith("v1,")
    delivery = CallbackDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == "succeeded" and delivery.event_type == "test"
    page = response.content.decode()
    assert delivery.webhook_id in page and "succeeded" in page


def test_a_failed_test_event_says_why(admin_client, acme, receiver):
    receiver.replace(responses.POST, RECEIVER_URL, status=500)
    create(admin_client, url=RECEIVER_URL)
    endpoint = CallbackEndpoint.objects.get(organization=acme)
    response = admin_client.post(reverse("portal-callback-test", args=[endpoint.public_id]), follow=True)
    assert b"The test event failed: HTTP 500" in response.content
    assert CallbackDelivery.objects.get(endpoint=endpoint).state == "failed"


def test_a_viewer_reads_the_delivery_log_but_changes_nothing(viewer_client, acme):
    endpoint = CallbackEndpoint.objects.create(organization=acme, url="https://example.com/jood", events=["all"])
    CallbackDelivery.objects.create(
        endpoint=endpoint,
        organization=acme,
        url=endpoint.url,
        event_type="message.status",
        payload={"type": "message.status", "data": {"status": "delivered"}},
        webhook_id="msg_abc",
        state="failed",
        last_error="HTTP 500",
    )
    page = viewer_client.get(reverse("portal-callback", args=[endpoint.public_id])).content.decode()
    assert "msg_abc" in page and "HTTP 500" in page
    assert "Send a test event" not in page
    assert viewer_client.get(reverse("portal-callback-new")).status_code == 403
    assert viewer_client.post(reverse("portal-callback-edit", args=[endpoint.public_id])).status_code == 403
