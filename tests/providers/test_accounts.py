"""Provider accounts: encrypted, write-only credentials, the API, key rotation."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from encrypted_model_fields import fields as encrypted_fields

from accounts.models import AccessLog
from providers import services
from providers.models import ProviderAccount

# Obviously fake values, shaped as Twilio's are.
TWILIO = {"account_sid": "AC" + "0" * 32, "auth_token": "test-auth-token-value-1234"}


def raw_columns(account: ProviderAccount) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials, webhook_secret FROM providers_provideraccount WHERE id = %s", [account.pk])
        return cursor.fetchone()


@pytest.fixture
def twilio(acme):
    return services.connect_account(acme, provider="twilio", channel="sms", label="Twilio", credentials=TWILIO)


def test_credentials_are_encrypted_at_rest(twilio):
    credentials, webhook_secret = raw_columns(twilio)
    assert TWILIO["auth_token"] not in credentials
    assert TWILIO["account_sid"] not in credentials
    assert twilio.webhook_secret not in webhook_secret
    assert ProviderAccount.objects.get(pk=twilio.pk).get_credentials() == TWILIO


def test_the_api_never_returns_credentials_only_a_masked_hint(twilio, acme_admin_api):
    listing = acme_admin_api.get("/api/v1/provider-accounts").content.decode()
    detail = acme_admin_api.get(f"/api/v1/provider-accounts/{twilio.public_id}").content.decode()
    for body in (listing, detail):
        assert TWILIO["auth_token"] not in body
        assert "credentials_hint" in body
    assert json.loads(detail)["credentials_hint"]["auth_token"].endswith("1234")


def test_connecting_an_account_through_the_api_validates_the_credentials(acme_admin_api):
    response = acme_admin_api.post(
        "/api/v1/provider-accounts",
        {"provider": "twilio", "channel": "sms", "label": "T", "credentials": {"account_sid": "nope"}},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert any(key.startswith("credentials.") for key in body["details"])


def test_connecting_an_account_logs_the_change_and_shows_the_callback_url(acme_admin_api, acme):
    response = acme_admin_api.post(
        "/api/v1/provider-accounts",
        {"provider": "sandbox", "channel": "sms", "label": "Sandbox", "credentials": {}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["callback_url"].endswith(f"/webhooks/sandbox/{body['id']}/")
    assert AccessLog.objects.filter(organization=acme, action="credentials_changed").exists()


def test_updating_credentials_merges_and_keeps_them_write_only(twilio, acme_admin_api):
    response = acme_admin_api.patch(
        f"/api/v1/provider-accounts/{twilio.public_id}",
        {"credentials": {"auth_token": "another-test-token-5678"}, "label": "Renamed"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert "another-test-token" not in response.content.decode()
    twilio.refresh_from_db()
    assert twilio.label == "Renamed"
    assert twilio.get_credentials() == {**TWILIO, "auth_token": "another-test-token-5678"}


def test_a_member_key_cannot_connect_an_account(acme_api):
    response = acme_api.post(
        "/api/v1/provider-accounts",
        {"provider": "sandbox", "channel": "sms", "label": "S", "credentials": {}},
        format="json",
    )
    assert response.status_code == 403


def test_another_organizations_account_is_not_found(twilio, globex_api):
    for method, path in (
        ("get", f"/api/v1/provider-accounts/{twilio.public_id}"),
        ("patch", f"/api/v1/provider-accounts/{twilio.public_id}"),
        ("delete", f"/api/v1/provider-accounts/{twilio.public_id}"),
        ("post", f"/api/v1/provider-accounts/{twilio.public_id}/check"),
    ):
        response = getattr(globex_api, method)(path, {}, format="json")
        assert response.status_code in (403, 404), (method, path)
    globex_api.key.role = "admin"
    globex_api.key.save()
    assert globex_api.get(f"/api/v1/provider-accounts/{twilio.public_id}").status_code == 404
    assert globex_api.get("/api/v1/provider-accounts").json()["results"] == []


def test_test_connection_reports_and_keeps_the_health(acme, acme_admin_api):
    account = services.connect_account(acme, provider="sandbox", channel="sms", label="S", credentials={})
    response = acme_admin_api.post(f"/api/v1/provider-accounts/{account.public_id}/check")
    assert response.json()["status"] == "ok"
    account.refresh_from_db()
    assert account.health_status == "ok" and account.health_checked_at is not None


def test_erasing_credentials_empties_the_column(twilio, acme):
    services.erase_credentials(acme)
    credentials, _ = raw_columns(twilio)
    assert credentials is None
    twilio.refresh_from_db()
    assert twilio.get_credentials() == {} and not twilio.is_active


def test_rotation_reencrypts_every_credential_with_the_newest_key(twilio, acme, monkeypatch):
    other = services.connect_account(acme, provider="sandbox", channel="sms", label="S", credentials={})
    old_keys = list(encrypted_fields.CRYPTER._fernets)
    new_key = Fernet.generate_key()
    # Deploy: the new key first, the old ones after it.
    monkeypatch.setattr(encrypted_fields, "CRYPTER", MultiFernet([Fernet(new_key), *old_keys]))
    with override_settings(FIELD_ENCRYPTION_KEY=[new_key.decode(), "old"]):
        call_command("rotate_encryption_keys", stdout=open("/dev/null", "w"))

    for account in (twilio, other):
        credentials, webhook_secret = raw_columns(account)
        for token in (credentials, webhook_secret):
            Fernet(new_key).decrypt(token.encode())  # readable with the new key alone
            for old in old_keys:
                with pytest.raises(InvalidToken):
                    old.decrypt(token.encode())
    # After the old key is dropped everything still decrypts to the same values.
    monkeypatch.setattr(encrypted_fields, "CRYPTER", MultiFernet([Fernet(new_key)]))
    assert ProviderAccount.objects.get(pk=twilio.pk).get_credentials() == TWILIO
    assert ProviderAccount.objects.get(pk=other.pk).webhook_secret == other.webhook_secret
