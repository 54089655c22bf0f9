"""Provider accounts in the portal: connect, edit (write-only credentials), test, enable/disable, delete."""

from __future__ import annotations

import re

import pytest
import responses
from django.urls import reverse

from accounts.models import AccessLog
from providers.models import ProviderAccount
from tests.factories import make_account

pytestmark = pytest.mark.django_db

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "s3cr3t-auth-token-0123456789abcdef"
TWILIO = {
    "channel": "sms",
    "label": "Twilio KSA",
    "default_sender": "+14155550100",
    "priority": "10",
    "allowed_prefixes": "+966, 971",
    "messages_per_second": "1",
    "cred_account_sid": SID,
    "cred_auth_token": TOKEN,
}


def all_pages(client, account) -> str:
    """Every page that shows the account, concatenated."""
    urls = [
        reverse("portal-providers"),
        reverse("portal-provider-edit", args=[account.public_id]),
        reverse("portal-provider-delete", args=[account.public_id]),
        reverse("portal-dashboard"),
        reverse("portal-send"),
        reverse("portal-access-log"),
    ]
    return "".join(client.get(url).content.decode() for url in urls)


def test_the_provider_choice_lists_every_provider(admin_client):
    page = admin_client.get(reverse("portal-provider-connect-choose")).content.decode()
    for name in ("twilio", "infobip", "unifonic", "whatsapp", "sandbox"):
        assert reverse("portal-provider-connect", args=[name]) in page


def test_an_unknown_provider_is_not_found(admin_client):
    assert admin_client.get(reverse("portal-provider-connect", args=["carrier-pigeon"])).status_code == 404


def test_the_connect_form_asks_for_the_providers_secrets_as_password_inputs(admin_client):
    page = admin_client.get(reverse("portal-provider-connect", args=["whatsapp"])).content.decode()
    for name in ("access_token", "app_secret", "verify_token"):
        assert f'type="password" name="cred_{name}"' in page
    # Identifiers are not secrets: plain text, to read and correct.
    for name in ("phone_number_id", "waba_id"):
        assert f'type="text" name="cred_{name}"' in page


@responses.activate
def test_connecting_twilio_stores_encrypted_credentials_and_never_shows_them(admin_client, acme):
    responses.get(re.compile(r"https://api\.twilio\.com/2010-04-01/Accounts/.*"), json={"sid": SID, "status": "active"})
    response = admin_client.post(reverse("portal-provider-connect", args=["twilio"]), TWILIO)
    assert response["Location"] == reverse("portal-providers")
    account = ProviderAccount.objects.get(organization=acme)
    assert account.get_credentials() == {"account_sid": SID, "auth_token": TOKEN}
    assert account.allowed_prefixes == ["+966", "+971"]
    assert (account.priority, account.messages_per_second, account.default_sender) == (10, 1.0, "+14155550100")
    assert AccessLog.objects.filter(organization=acme, action="credentials_changed").exists()
    pages = all_pages(admin_client, account)
    # The token is a secret, never shown; the account SID is an identifier, shown to read and correct.
    assert TOKEN not in pages
    assert SID in pages
    assert account.credentials_hint["auth_token"] in pages  # the masked hint only


def test_a_form_sent_back_with_errors_does_not_echo_the_secret(admin_client, acme):
    response = admin_client.post(reverse("portal-provider-connect", args=["twilio"]), {**TWILIO, "label": ""})
    assert response.status_code == 200
    assert b'id="id_label_error"' in response.content
    assert TOKEN.encode() not in response.content
    assert not ProviderAccount.objects.exists()


def test_a_missing_credential_is_refused_next_to_its_field(admin_client):
    response = admin_client.post(reverse("portal-provider-connect", args=["twilio"]), {**TWILIO, "cred_auth_token": ""})
    assert b'id="id_cred_auth_token_error"' in response.content
    assert not ProviderAccount.objects.exists()


def test_a_bad_prefix_is_refused(admin_client):
    response = admin_client.post(
        reverse("portal-provider-connect", args=["twilio"]), {**TWILIO, "allowed_prefixes": "+966, KSA"}
    )
    assert b'id="id_allowed_prefixes_error"' in response.content


def test_connecting_the_sandbox_needs_no_credentials(admin_client, acme):
    response = admin_client.post(
        reverse("portal-provider-connect", args=["sandbox"]),
        {"channel": "whatsapp", "label": "Try", "priority": "100", "messages_per_second": "10"},
    )
    assert response.status_code == 302
    account = ProviderAccount.objects.get(organization=acme)
    assert (account.provider, account.channel) == ("sandbox", "whatsapp")


def test_editing_with_blank_credentials_keeps_the_stored_ones(admin_client, acme):
    account = make_account(acme, "twilio", credentials={"account_sid": SID, "auth_token": TOKEN})
    page = admin_client.get(reverse("portal-provider-edit", args=[account.public_id])).content.decode()
    assert TOKEN not in page and "Leave blank to keep it" in page
    data = {**TWILIO, "label": "Renamed", "cred_account_sid": "", "cred_auth_token": ""}
    data.pop("channel")
    response = admin_client.post(reverse("portal-provider-edit", args=[account.public_id]), data)
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.label == "Renamed"
    assert account.get_credentials() == {"account_sid": SID, "auth_token": TOKEN}


def test_editing_replaces_a_credential_that_is_typed_in(admin_client, acme):
    account = make_account(acme, "twilio", credentials={"account_sid": SID, "auth_token": TOKEN})
    data = {**TWILIO, "cred_account_sid": "", "cred_auth_token": "a-brand-new-token-0000000000"}
    admin_client.post(reverse("portal-provider-edit", args=[account.public_id]), data)
    account.refresh_from_db()
    assert account.get_credentials()["auth_token"] == "a-brand-new-token-0000000000"
    assert account.get_credentials()["account_sid"] == SID


def test_test_connection_reports_the_result(admin_client, acme, sandbox):
    response = admin_client.post(reverse("portal-provider-check", args=[sandbox.public_id]), follow=True)
    assert b"the connection works" in response.content
    sandbox.refresh_from_db()
    assert sandbox.health_status == "ok" and sandbox.health_checked_at is not None


@responses.activate
def test_test_connection_reports_refused_credentials(admin_client, acme):
    account = make_account(acme, "twilio", credentials={"account_sid": SID, "auth_token": TOKEN})
    responses.add(
        responses.GET,
        f"https://api.twilio.com/2010-04-01/Accounts/{SID}.json",
        json={"code": 20003, "message": "Authenticate", "status": 401},
        status=401,
    )
    response = admin_client.post(reverse("portal-provider-check", args=[account.public_id]), follow=True)
    assert b"the credentials were refused" in response.content
    assert b"credentials refused" in response.content  # the health badge
    assert TOKEN.encode() not in response.content


def test_an_account_is_disabled_and_enabled(admin_client, sandbox):
    admin_client.post(reverse("portal-provider-toggle", args=[sandbox.public_id]), {"active": "0"})
    sandbox.refresh_from_db()
    assert not sandbox.is_active
    admin_client.post(reverse("portal-provider-toggle", args=[sandbox.public_id]), {"active": "1"})
    sandbox.refresh_from_db()
    assert sandbox.is_active


def test_an_account_is_deleted_after_confirmation(admin_client, sandbox):
    assert (
        b"Delete the account" in admin_client.get(reverse("portal-provider-delete", args=[sandbox.public_id])).content
    )
    admin_client.post(reverse("portal-provider-delete", args=[sandbox.public_id]))
    assert not ProviderAccount.objects.filter(pk=sandbox.pk).exists()


def test_admins_see_the_callback_url_to_paste_with_a_copy_button(admin_client, acme):
    account = make_account(acme, "infobip", credentials={"api_key": "k" * 20, "base_url": "https://x1.api.infobip.com"})
    page = admin_client.get(reverse("portal-providers")).content.decode()
    assert account.callback_url.replace("&", "&amp;") in page
    assert "?t=" in account.callback_url
    assert f'data-copy="#cb-{account.public_id}"' in page
