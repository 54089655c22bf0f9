"""Fixtures of the portal tests: acme's people come from tests/conftest.py.

`portal_settings` (autouse) keeps uploads in a temporary MEDIA_ROOT and
emails in memory; `sandbox` is an acme SMS sandbox account.
"""

from __future__ import annotations

import pytest
from django.test import Client

from providers.models import ProviderAccount
from tests.factories import login, make_account


@pytest.fixture(autouse=True)
def portal_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PUBLIC_BASE_URL = "https://jood.example.com"


@pytest.fixture
def sandbox(acme) -> ProviderAccount:
    return make_account(acme, default_sender="Acme")


@pytest.fixture
def globex_sandbox(globex) -> ProviderAccount:
    return make_account(globex)


@pytest.fixture
def owner_client(owner) -> Client:
    return login(owner)


@pytest.fixture
def admin_client(admin_user) -> Client:
    return login(admin_user)


@pytest.fixture
def member_client(member) -> Client:
    return login(member)


@pytest.fixture
def viewer_client(viewer) -> Client:
    return login(viewer)
