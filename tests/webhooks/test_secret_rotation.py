"""Rotating a callback endpoint's signing secret: the old one signs too, for 24 hours.

Standard Webhooks allows several space-separated signatures in
`webhook-signature`; during the grace period each delivery carries one with the
new secret and one with the old, so the customer's server can switch when it
likes. In the API and the portal; the new secret is shown once, in the answer.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from accounts.models import AccessLog
from tests.factories import login
from tests.webhooks.test_callbacks import receiver, verify_standard_webhook  # noqa: F401
from webhooks import callbacks, services
from webhooks.models import CallbackEndpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _allow_local(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.SECRET_ROTATION_GRACE_HOURS = 24


def _signatures(headers) -> list[str]:
    return headers["webhook-signature"].split()


def test_after_a_rotation_deliveries_are_signed_with_both_secrets_for_the_grace_period(acme, receiver):  # noqa: F811
    endpoint, old = services.create_endpoint(acme, receiver.url)
    new = services.rotate_endpoint_secret(endpoint)
    assert new != old and new.startswith("whsec_")

    callbacks.send_test_event(endpoint)
    request = receiver.received[-1]
    assert len(_signatures(request["headers"])) == 2
    assert verify_standard_webhook(new, request["headers"], request["body"])
    assert verify_standard_webhook(old, request["headers"], request["body"])

    CallbackEndpoint.objects.filter(pk=endpoint.pk).update(secret_rotated_at=timezone.now() - timedelta(hours=25))
    endpoint.refresh_from_db()
    callbacks.send_test_event(endpoint)
    request = receiver.received[-1]
    assert len(_signatures(request["headers"])) == 1
    assert verify_standard_webhook(new, request["headers"], request["body"])
    assert not verify_standard_webhook(old, request["headers"], request["body"])


def test_the_standard_webhooks_package_verifies_both_signatures_during_rotation(acme, receiver):  # noqa: F811
    """What a customer runs: `Webhook(secret).verify(body, headers)`, for either secret, and the READMEs' snippet."""
    endpoint, old = services.create_endpoint(acme, receiver.url)
    new = services.rotate_endpoint_secret(endpoint)
    callbacks.send_test_event(endpoint)
    request = receiver.received[-1]
    for secret in (new, old):
        payload = Webhook(secret).verify(request["body"], request["headers"])
        assert payload["type"] == "test" and payload["data"]["endpoint_id"] == str(endpoint.public_id)
    stranger = services.create_endpoint(acme, "https://example.com/other")[1]
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(stranger).verify(request["body"], request["headers"])

    for readme in (ROOT / "README.md", ROOT / "webhooks" / "README.md"):
        snippet = re.search(r"```python\n(from standardwebhooks import.*?)```", readme.read_text(), re.S).group(1)
        namespace: dict = {}
        exec(snippet, namespace)
        verify = namespace["verify"]
        assert verify(new, request["headers"], request["body"])["type"] == "test", readme
        assert verify(old, request["headers"], request["body"])["type"] == "test", readme
        assert verify(stranger, request["headers"], request["body"]) is None, readme
        assert verify(new, request["headers"], request["body"] + b" ") is None, readme


def test_the_api_rotates_and_shows_the_new_secret_once(acme, acme_admin_api, acme_api, receiver):  # noqa: F811
    endpoint, old = services.create_endpoint(acme, "https://example.com/hook")
    path = f"/api/v1/callback-endpoints/{endpoint.public_id}/rotate-secret"
    assert acme_api.post(path).status_code == 403
    response = acme_admin_api.post(path)
    assert response.status_code == 200, response.content
    body = response.json()
    endpoint.refresh_from_db()
    assert body["secret"] == endpoint.secret != old
    assert body["previous_secret_valid_until"]
    detail = acme_admin_api.get(f"/api/v1/callback-endpoints/{endpoint.public_id}").json()
    assert "secret" not in detail and detail["previous_secret_valid_until"]
    assert AccessLog.objects.filter(organization=acme, detail__change="callback_secret_rotated").exists()


def test_the_portal_rotates_for_admins_and_shows_the_new_secret_in_the_answer(acme, owner, member):
    endpoint, old = services.create_endpoint(acme, "https://example.com/hook")
    url = reverse("portal-callback-rotate-secret", args=[endpoint.public_id])
    login(member).post(url)
    endpoint.refresh_from_db()
    assert endpoint.secret == old
    client = login(owner)
    assert url in client.get(reverse("portal-callback", args=[endpoint.public_id])).content.decode()
    response = client.post(url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    endpoint.refresh_from_db()
    shown = re.search(r'id="new-secret" class="secret">(whsec_[^<]+)<', response.content.decode()).group(1)
    assert shown == endpoint.secret != old
    assert "24 hours" in response.content.decode()
    assert not any(shown in s.session_data or shown in repr(s.get_decoded()) for s in Session.objects.all())


def test_no_admin_page_shows_the_old_or_new_secret(acme, client):
    from tests.admin.conftest import make_staff

    endpoint, old = services.create_endpoint(acme, "https://example.com/hook")
    new = services.rotate_endpoint_secret(endpoint)
    client.force_login(make_staff("root@jood.test", superuser=True))
    for path in (
        reverse("admin:webhooks_callbackendpoint_change", args=[endpoint.pk]),
        reverse("admin:webhooks_callbackendpoint_changelist"),
    ):
        body = client.get(path).content.decode()
        assert old not in body and new not in body, path
