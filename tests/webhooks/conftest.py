"""Fixtures of the webhooks tests: provider accounts of acme, eager Celery.

`acme`, `globex` and the API clients come from tests/conftest.py.
"""

from __future__ import annotations

import pytest

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
