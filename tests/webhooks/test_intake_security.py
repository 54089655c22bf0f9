"""Webhook authentication: one abstract suite, subclassed per provider (after anymail's).

Expected signatures are computed here by hand (hmac, hashlib, base64) from
each provider's documentation, never with the adapter under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from messaging.models import Message, MessageEvent
from tests.factories import make_account, make_message
from tests.webhooks.conftest import (
    PUBLIC_BASE_URL,
    TWILIO_AUTH_TOKEN,
    WHATSAPP_APP_SECRET,
)
from webhooks.models import WebhookEvent


class WebhookAuthSuite:
    """Override `provider`, `account_fixture`, `provider_message_id`, `status_body` and `signed`."""

    provider = ""
    account_fixture = ""

    @pytest.fixture
    def account(self, request, db):
        return request.getfixturevalue(self.account_fixture)

    @pytest.fixture
    def message(self, account) -> Message:
        message = make_message(account, status="sent")
        message.provider_message_id = self.provider_message_id(message)
        message.save(update_fields=["provider_message_id"])
        return message

    # --- to override --------------------------------------------------------
    def provider_message_id(self, message: Message) -> str:
        raise NotImplementedError

    def status_body(self, message: Message, status: str = "delivered") -> tuple[bytes, str]:
        """Return (body, content type) of a callback that reports `status`."""
        raise NotImplementedError

    def signed(self, account, path: str, body: bytes) -> tuple[str, dict]:
        """Return (query string, headers) that authenticate `body` posted to `path`."""
        raise NotImplementedError

    def wrongly_signed(self, account, path: str, body: bytes) -> tuple[str, dict]:
        raise NotImplementedError

    def unsigned(self, account, path: str, body: bytes) -> tuple[str, dict]:
        return "", {}

    # --- helpers ------------------------------------------------------------
    def path(self, account) -> str:
        return f"/webhooks/{self.provider}/{account.public_id}/"

    def post(self, client, account, body: bytes, content_type: str, auth: tuple[str, dict]):
        query, headers = auth
        path = self.path(account) + (f"?{query}" if query else "")
        return client.generic("POST", path, body, content_type=content_type, headers=headers)

    def assert_nothing_changed(self, message: Message) -> None:
        message.refresh_from_db()
        assert message.status == "sent"
        assert not WebhookEvent.objects.exists()
        assert not MessageEvent.objects.filter(message=message).exists()

    # --- the suite ----------------------------------------------------------
    def test_a_valid_signature_is_accepted_and_moves_the_message(
        self, client, account, message, django_capture_on_commit_callbacks
    ):
        body, content_type = self.status_body(message)
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(client, account, body, content_type, self.signed(account, self.path(account), body))
        assert response.status_code == 200
        message.refresh_from_db()
        assert message.status == "delivered"
        event = WebhookEvent.objects.get()
        assert event.provider == self.provider
        assert event.provider_account == account
        assert event.signature_valid
        assert event.state == WebhookEvent.State.PROCESSED
        assert event.raw_body == body

    def test_a_wrong_signature_is_refused(self, client, account, message, django_capture_on_commit_callbacks):
        body, content_type = self.status_body(message)
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(
                client, account, body, content_type, self.wrongly_signed(account, self.path(account), body)
            )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        self.assert_nothing_changed(message)

    def test_a_missing_signature_is_refused(self, client, account, message, django_capture_on_commit_callbacks):
        body, content_type = self.status_body(message)
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(client, account, body, content_type, self.unsigned(account, self.path(account), body))
        assert response.status_code == 403
        self.assert_nothing_changed(message)

    def test_another_accounts_secret_is_refused(self, client, account, message, django_capture_on_commit_callbacks):
        other = make_account(
            account.organization,
            account.provider,
            channel=account.channel,
            credentials={**account.get_credentials(), **self.other_credentials()},
        )
        body, content_type = self.status_body(message)
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(client, account, body, content_type, self.signed(other, self.path(account), body))
        assert response.status_code == 403
        self.assert_nothing_changed(message)

    def other_credentials(self) -> dict:
        return {}

    def test_a_replayed_callback_changes_nothing(self, client, account, message, django_capture_on_commit_callbacks):
        body, content_type = self.status_body(message)
        auth = self.signed(account, self.path(account), body)
        with django_capture_on_commit_callbacks(execute=True):
            first = self.post(client, account, body, content_type, auth)
        with django_capture_on_commit_callbacks(execute=True):
            second = self.post(client, account, body, content_type, auth)
        assert first.status_code == second.status_code == 200
        message.refresh_from_db()
        assert message.status == "delivered"
        assert MessageEvent.objects.filter(message=message).count() == 1


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SignedBodySuite(WebhookAuthSuite):
    """For providers that sign the body (sandbox, Twilio, Meta): a changed body fails the check."""

    def test_a_body_changed_after_signing_is_refused(
        self, client, account, message, django_capture_on_commit_callbacks
    ):
        original, _ = self.status_body(message, "undelivered")
        tampered, content_type = self.status_body(message, "delivered")
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(
                client, account, tampered, content_type, self.signed(account, self.path(account), original)
            )
        assert response.status_code == 403
        self.assert_nothing_changed(message)


class TestSandboxAuth(SignedBodySuite):
    provider = "sandbox"
    account_fixture = "sandbox_account"

    def provider_message_id(self, message):
        return "SB" + message.public_id.hex

    def status_body(self, message, status="delivered"):
        with open("tests/payloads/sandbox/status__delivered.json", "rb") as f:
            payload = json.load(f)
        payload.update(id=message.provider_message_id, reference=str(message.public_id), status=status)
        return json.dumps(payload).encode(), "application/json"

    def signed(self, account, path, body):
        return "", {"X-Sandbox-Signature": "sha256=" + hmac_sha256_hex(account.webhook_secret, body)}

    def wrongly_signed(self, account, path, body):
        return "", {"X-Sandbox-Signature": "sha256=" + hmac_sha256_hex("not-the-secret", body)}


class TestTwilioAuth(SignedBodySuite):
    provider = "twilio"
    account_fixture = "twilio_account"

    def provider_message_id(self, message):
        return "SM" + message.public_id.hex

    def params(self, message, status):
        params = {
            "AccountSid": "AC" + "a" * 32,
            "ApiVersion": "2010-04-01",
            "From": "+14155550100",
            "To": message.to,
            "MessageSid": message.provider_message_id,
            "SmsSid": message.provider_message_id,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if status == "undelivered":
            params["ErrorCode"] = "30003"
        return params

    def status_body(self, message, status="delivered"):
        return urlencode(self.params(message, status)).encode(), "application/x-www-form-urlencoded"

    @staticmethod
    def signature(token: str, url: str, body: bytes) -> str:
        # Twilio doc §5: URL + each POST parameter (sorted by name) as name+value, HMAC-SHA1, base64.
        from urllib.parse import parse_qsl

        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        signed = url + "".join(name + params[name] for name in sorted(params))
        return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()

    def signed(self, account, path, body):
        token = account.get_credentials()["auth_token"]
        return "", {"X-Twilio-Signature": self.signature(token, PUBLIC_BASE_URL + path, body)}

    def wrongly_signed(self, account, path, body):
        return "", {"X-Twilio-Signature": self.signature("f" * 32, PUBLIC_BASE_URL + path, body)}

    def other_credentials(self):
        return {"auth_token": "9" * 32}

    def test_the_signature_covers_the_public_url_not_the_host_header(
        self, client, account, message, django_capture_on_commit_callbacks
    ):
        body, content_type = self.status_body(message)
        wrong_url = "http://testserver" + self.path(account)
        headers = {"X-Twilio-Signature": self.signature(TWILIO_AUTH_TOKEN, wrong_url, body)}
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(client, account, body, content_type, ("", headers))
        assert response.status_code == 403

    def test_behind_a_trusted_proxy_the_forwarded_url_is_signed(
        self, client, account, message, settings, django_capture_on_commit_callbacks
    ):
        settings.WEBHOOKS_TRUST_FORWARDED_HEADERS = True
        body, content_type = self.status_body(message)
        url = "https://hooks.acme-proxy.example" + self.path(account)
        headers = {
            "X-Twilio-Signature": self.signature(TWILIO_AUTH_TOKEN, url, body),
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "hooks.acme-proxy.example",
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(client, account, body, content_type, ("", headers))
        assert response.status_code == 200
        settings.WEBHOOKS_TRUST_FORWARDED_HEADERS = False
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(client, account, body, content_type, ("", headers))
        assert response.status_code == 403

    def test_it_answers_empty_twiml(self, client, account, message, django_capture_on_commit_callbacks):
        body, content_type = self.status_body(message)
        with django_capture_on_commit_callbacks(execute=True):
            response = self.post(client, account, body, content_type, self.signed(account, self.path(account), body))
        assert response["Content-Type"].startswith("text/xml")
        assert b"<Response></Response>" in response.content


class TestWhatsAppAuth(SignedBodySuite):
    provider = "whatsapp"
    account_fixture = "whatsapp_account"

    def provider_message_id(self, message):
        return "wamid.HBgM" + message.public_id.hex

    def status_body(self, message, status="delivered"):
        item = {
            "id": message.provider_message_id,
            "status": status if status != "undelivered" else "failed",
            "timestamp": str(int(time.time())),
            "recipient_id": message.to.lstrip("+"),
        }
        if item["status"] == "failed":
            item["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
        envelope = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102030405060",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "966920000000", "phone_number_id": "109876543210"},
                                "statuses": [item],
                            },
                        }
                    ],
                }
            ],
        }
        return json.dumps(envelope).encode(), "application/json"

    def signed(self, account, path, body):
        secret = account.get_credentials()["app_secret"]
        return "", {"X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(secret, body)}

    def wrongly_signed(self, account, path, body):
        return "", {"X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(WHATSAPP_APP_SECRET + "x", body)}

    def other_credentials(self):
        return {"app_secret": "another-app-secret"}


class _TokenInUrlSuite(WebhookAuthSuite):
    """Infobip and Unifonic sign nothing: the per-account token in the URL authenticates the request."""

    def signed(self, account, path, body):
        return urlencode({"t": account.webhook_secret}), {}

    def wrongly_signed(self, account, path, body):
        return urlencode({"t": account.webhook_secret[:-2] + "xx"}), {}

    def test_the_stored_url_does_not_keep_the_token(self, client, account, message, django_capture_on_commit_callbacks):
        body, content_type = self.status_body(message)
        with django_capture_on_commit_callbacks(execute=True):
            self.post(client, account, body, content_type, self.signed(account, self.path(account), body))
        event = WebhookEvent.objects.get()
        assert account.webhook_secret not in event.url
        assert "t=REDACTED" in event.url


class TestInfobipAuth(_TokenInUrlSuite):
    provider = "infobip"
    account_fixture = "infobip_account"

    def provider_message_id(self, message):
        return str(message.public_id)  # we send our id as Infobip's messageId

    def status_body(self, message, status="delivered"):
        statuses = {
            "delivered": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
            "undelivered": {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED"},
        }
        report = {
            "bulkId": "2034072219640523072",
            "messageId": message.provider_message_id,
            "to": message.to.lstrip("+"),
            "sentAt": "2026-11-24T10:01:02.000+0000",
            "doneAt": "2026-11-24T10:01:09.000+0000",
            "messageCount": 1,
            "callbackData": str(message.public_id),
            "status": statuses[status],
            "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "permanent": False},
        }
        return json.dumps({"results": [report]}).encode(), "application/json"


class TestUnifonicAuth(_TokenInUrlSuite):
    provider = "unifonic"
    account_fixture = "unifonic_account"

    def provider_message_id(self, message):
        return "3200017889310"

    def status_body(self, message, status="delivered"):
        report = {
            "MessageID": message.provider_message_id,
            "CorrelationID": message.public_id.hex,
            "Recipient": message.to.lstrip("+"),
            "DLR": {"delivered": "Delivered", "undelivered": "Undeliverable"}[status],
            "TimeCreated": "2026-11-24 13:01:02",
            "SCTS": "2026-11-24 13:01:07",
            "DLRTimestamp": "2026-11-24 13:01:08",
        }
        return json.dumps(report).encode(), "application/json"
