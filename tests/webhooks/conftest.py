"""Fixtures of the webhooks tests: provider accounts of acme, messages, eager Celery.

`acme`, `globex` and the API clients come from tests/conftest.py.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.models import Message
from providers.models import ProviderAccount
from tests.conftest import celery_eager
from tests.factories import make_account

PUBLIC_BASE_URL = "https://jood.example.com"
TWILIO_AUTH_TOKEN = "12345678901234567890123456789012"
WHATSAPP_APP_SECRET = "meta-app-secret-for-tests"
WHATSAPP_VERIFY_TOKEN = "verify-me-please"


@pytest.fixture(autouse=True)
def _webhooks_settings(settings):
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.WEBHOOKS_TRUST_FORWARDED_HEADERS = False
    settings.CALLBACKS_ALLOW_PRIVATE = False


@pytest.fixture(autouse=True)
def _eager_celery():
    """Run tasks in-process, also when REDIS_URL points the app at a real broker."""
    with celery_eager(propagate=True):
        yield


@pytest.fixture
def sandbox_account(acme) -> ProviderAccount:
    return make_account(acme, "sandbox")


@pytest.fixture
def twilio_account(acme) -> ProviderAccount:
    return make_account(acme, "twilio", credentials={"account_sid": "AC" + "a" * 32, "auth_token": TWILIO_AUTH_TOKEN})


@pytest.fixture
def whatsapp_account(acme) -> ProviderAccount:
    return make_account(
        acme,
        "whatsapp",
        channel="whatsapp",
        credentials={
            "access_token": "EAAG-test-token",
            "phone_number_id": "109876543210",
            "waba_id": "102030405060",
            "app_secret": WHATSAPP_APP_SECRET,
            "verify_token": WHATSAPP_VERIFY_TOKEN,
        },
    )


@pytest.fixture
def infobip_account(acme) -> ProviderAccount:
    return make_account(
        acme, "infobip", credentials={"api_key": "infobip-key", "base_url": "https://abc12.api.infobip.com"}
    )


@pytest.fixture
def unifonic_account(acme) -> ProviderAccount:
    return make_account(acme, "unifonic", credentials={"app_sid": "unifonic-app-sid"})


def make_message(
    account: ProviderAccount, *, status: str = "sent", provider_message_id: str = "", to: str = "+966501234567", **extra
) -> Message:
    """Return a message of the account's organization, as the dispatcher leaves it after a send."""
    now = timezone.now()
    return Message.objects.create(
        organization=account.organization,
        channel=account.channel,
        to=to,
        body="Your code is 1234",
        status=status,
        provider_account=account,
        provider=account.provider,
        provider_message_id=provider_message_id,
        queued_at=now,
        sent_at=now if status == "sent" else None,
        **extra,
    )
