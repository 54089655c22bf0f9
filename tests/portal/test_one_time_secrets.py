"""One-time secrets (a new API key, a callback endpoint's signing secret) never sit in the session table.

They are shown in the response that created them (`Cache-Control: no-store`)
and nowhere else: no row of `django_session` holds them, not even for a moment
between a redirect and the next page.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from accounts.models import ApiKey, hash_key
from tests.factories import login
from webhooks.models import CallbackEndpoint


def _sessions_hold(secret: str) -> bool:
    for session in Session.objects.all():
        if secret in repr(session.get_decoded()) or secret in session.session_data:
            return True
    return False


def _creations(acme):
    """Every portal form that creates a one-time secret: (url, data, secret regex, stored check)."""
    return [
        (
            reverse("portal-api-keys"),
            {"name": "Billing", "role": "member"},
            r'id="new-secret" class="secret">(jood_[^<]+)<',
            lambda secret: ApiKey.objects.get(organization=acme, name="Billing").hashed_key == hash_key(secret),
        ),
        (
            reverse("portal-callback-new"),
            {"url": "https://example.com/jood", "events": ["message.status"], "is_active": "on"},
            r'id="new-secret" class="secret">(whsec_[^<]+)<',
            lambda secret: CallbackEndpoint.objects.get(organization=acme).secret == secret,
        ),
    ]


@pytest.mark.django_db
def test_every_one_time_secret_is_shown_in_the_creating_response_and_never_stored_in_the_session(acme, admin_user):
    client = login(admin_user)
    client.get(reverse("portal-dashboard"))
    for url, data, pattern, stored in _creations(acme):
        response = client.post(url, data)
        assert response.status_code == 200, (url, response.status_code)
        assert "no-store" in response["Cache-Control"]
        secret = re.search(pattern, response.content.decode()).group(1)
        assert stored(secret)
        assert not _sessions_hold(secret), f"{url}: the secret is in django_session"
