"""The `?t=` webhook token of Infobip and Unifonic accounts: who sees it, and rotating it.

Only admins (admin keys, admin and owner members) see callback URLs with the
token; every other key gets the URL without it. The token can be rotated (API,
portal, admin); the old one keeps working for `SECRET_ROTATION_GRACE_HOURS`.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.models import Role
from providers.models import ProviderAccount
from tests.factories import login, make_account, make_api_client, make_message

INFOBIP = {"api_key": "test-infobip-key", "base_url": "https://abcde.api.infobip.com"}
UNIFONIC = {"app_sid": "test-app-sid"}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def api_get_paths(account: ProviderAccount) -> list[str]:
    """Every GET-able /api/v1/ route, with the account's id where a route takes one."""
    paths = []
    for route in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/") or "download" in route:
            continue
        path = "/" + route.replace("<uuid:public_id>", str(account.public_id))
        if "<" in path:
            continue
        paths.append(path)
    return paths


@pytest.fixture
def token_accounts(acme):
    accounts = [
        make_account(acme, "infobip", credentials=INFOBIP),
        make_account(acme, "unifonic", credentials=UNIFONIC),
    ]
    # A message through each, so lists, exports and analytics have rows naming the accounts.
    for account in accounts:
        make_message(account, body="Hi")
    return accounts


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_no_api_answer_to_a_non_admin_key_carries_a_webhook_token(acme, token_accounts, role):
    api = make_api_client(acme, role)
    for account in token_accounts:
        for path in api_get_paths(account):
            response = api.get(path)
            # CSV exports stream their body: read it too, a token must not be in it either.
            body = b"".join(response.streaming_content) if response.streaming else response.content
            assert account.webhook_secret not in body.decode(), f"{role} key sees the token at {path}"
    listed = api.get("/api/v1/provider-accounts").json()["results"]
    assert {row["callback_url"] for row in listed} == {
        f"http://testserver/webhooks/{a.provider}/{a.public_id}/".replace("http://testserver", _base())
        for a in token_accounts
    }


def _base() -> str:
    from django.conf import settings

    return settings.PUBLIC_BASE_URL


@pytest.mark.django_db
def test_an_admin_key_sees_the_url_with_the_token(acme, token_accounts, acme_admin_api):
    listed = acme_admin_api.get("/api/v1/provider-accounts").json()["results"]
    assert {row["callback_url"] for row in listed} == {a.callback_url for a in token_accounts}
    assert all("?t=" in row["callback_url"] for row in listed)


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_no_portal_page_shows_a_non_admin_the_token(acme, token_accounts, role):
    from tests.factories import make_user

    client = login(make_user(f"{role}@acme.test", acme, role))
    for path in ("/portal/providers/", "/portal/", "/portal/messages/"):
        body = client.get(path).content.decode()
        for account in token_accounts:
            assert account.webhook_secret not in body, path


# --- rotation ----------------------------------------------------------------------------------
def _intake(client: Client, account: ProviderAccount, token: str):
    body = {"results": [{"messageId": str(uuid.uuid4()), "status": {"groupName": "DELIVERED", "name": "X", "id": 5}}]}
    return client.post(
        f"/webhooks/{account.provider}/{account.public_id}/?t={token}",
        json.dumps(body),
        content_type="application/json",
    )


@pytest.mark.django_db
def test_rotating_through_the_api_keeps_the_old_token_for_the_grace_period(acme, acme_admin_api, acme_api, settings):
    settings.SECRET_ROTATION_GRACE_HOURS = 24
    account = make_account(acme, "infobip", credentials=INFOBIP)
    old = account.webhook_secret
    assert acme_api.post(f"/api/v1/provider-accounts/{account.public_id}/rotate-webhook-token").status_code == 403
    response = acme_admin_api.post(f"/api/v1/provider-accounts/{account.public_id}/rotate-webhook-token")
    assert response.status_code == 200, response.content
    account.refresh_from_db()
    new = account.webhook_secret
    assert new != old and f"?t={new}" in response.json()["callback_url"]
    assert response.json()["previous_token_valid_until"]

    client = Client()
    assert _intake(client, account, new).status_code == 200
    assert _intake(client, account, old).status_code == 200
    assert _intake(client, account, "wrong").status_code == 403

    ProviderAccount.objects.filter(pk=account.pk).update(webhook_secret_rotated_at=timezone.now() - timedelta(hours=25))
    account.refresh_from_db()
    assert _intake(client, account, old).status_code == 403
    assert _intake(client, account, new).status_code == 200


@pytest.mark.django_db
def test_a_rotation_in_another_process_takes_effect_at_once_despite_the_account_cache(acme, settings):
    """The intake caches accounts (WEBHOOK_ACCOUNT_CACHE_SECONDS); another process's rotation does not
    reach this process's cache, so a cached account is trusted with its current token only."""
    settings.WEBHOOK_ACCOUNT_CACHE_SECONDS = 600
    settings.SECRET_ROTATION_GRACE_HOURS = 24
    account = make_account(acme, "infobip", credentials=INFOBIP)
    old = account.webhook_secret
    client = Client()
    assert _intake(client, account, old).status_code == 200  # now cached

    # Rotated elsewhere: a plain UPDATE, no signal reaches this process.
    ProviderAccount.objects.filter(pk=account.pk).update(
        webhook_secret="rotated-elsewhere", previous_webhook_secret=old, webhook_secret_rotated_at=timezone.now()
    )
    assert _intake(client, account, "rotated-elsewhere").status_code == 200
    assert _intake(client, account, old).status_code == 200  # its grace period

    ProviderAccount.objects.filter(pk=account.pk).update(webhook_secret_rotated_at=timezone.now() - timedelta(hours=25))
    assert _intake(client, account, old).status_code == 403
    assert _intake(client, account, "rotated-elsewhere").status_code == 200


@pytest.mark.django_db
def test_the_portal_button_rotates_for_admins_only(acme, owner, member):
    account = make_account(acme, "unifonic", credentials=UNIFONIC)
    old = account.webhook_secret
    assert login(member).post(f"/portal/providers/{account.public_id}/rotate-token/").status_code in (302, 403)
    account.refresh_from_db()
    assert account.webhook_secret == old
    page = login(owner).get("/portal/providers/").content.decode()
    assert f"/portal/providers/{account.public_id}/rotate-token/" in page
    response = login(owner).post(f"/portal/providers/{account.public_id}/rotate-token/", follow=True)
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.webhook_secret != old and account.previous_webhook_secret == old
    assert b"24 hours" in response.content


@pytest.mark.django_db
def test_the_admin_action_rotates(acme):
    from django.test import RequestFactory

    from accounts.models import User

    account = make_account(acme, "infobip", credentials=INFOBIP)
    old = account.webhook_secret
    model_admin = site._registry[ProviderAccount]
    assert "rotate_webhook_token" in model_admin.get_actions(_staff_request(RequestFactory(), User))
    request = _staff_request(RequestFactory(), User)
    model_admin.rotate_webhook_token(request, ProviderAccount.objects.filter(pk=account.pk))
    account.refresh_from_db()
    assert account.webhook_secret != old and account.previous_webhook_secret == old


def _staff_request(factory, User):
    from django.contrib.messages.storage.fallback import FallbackStorage

    request = factory.post("/admin/")
    request.user = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
        "staff@jood.test", password="x" * 12
    )
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


@pytest.mark.django_db
def test_no_admin_page_shows_the_old_or_new_token_and_erasure_clears_the_old(acme, client):
    from providers import services
    from tests.admin.conftest import make_staff

    account = make_account(acme, "infobip", credentials=INFOBIP)
    old = account.webhook_secret
    services.rotate_webhook_secret(account)
    client.force_login(make_staff("root@jood.test", superuser=True))
    body = client.get(f"/admin/providers/provideraccount/{account.pk}/change/").content.decode()
    assert old not in body and account.webhook_secret not in body
    services.erase_credentials(acme)
    account.refresh_from_db()
    assert account.previous_webhook_secret == ""
