"""Named actors shared by every test (after healthchecks' hc/test.py).

Two organizations, `acme` and `globex`; acme's people by role (`owner`,
`admin_user`, `member`, `viewer`) and `globex_owner`; and API clients that
authenticate with a key of a given role: `acme_api` (member), `acme_admin_api`,
`acme_viewer_api` and `globex_api` (member). Each client carries its key and
secret as `client.key` and `client.secret`.

Users have no usable password; use `client.force_login(user)`, or
`user.set_password(...)` in a test that goes through a login form.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import Membership, Organization, Role, User
from retention.services import current_policy_version


def make_user(email: str, organization: Organization | None = None, role: str = Role.MEMBER) -> User:
    """Create a user, a member of `organization` with `role` when given."""
    now = timezone.now()
    # Consent as sign-up records it, so portal pages do not ask for it again.
    user = User.objects.create_user(
        email,
        name=email.split("@")[0].title(),
        privacy_policy_version=current_policy_version(),
        privacy_accepted_at=now,
        confirmed_adult_at=now,
    )
    if organization is not None:
        Membership.objects.create(user=user, organization=organization, role=role)
    return user


def make_api_client(organization: Organization, role: str = Role.MEMBER) -> APIClient:
    """Return an APIClient sending `Authorization: Token <secret>` of a new key with `role`."""
    key, secret = services.create_api_key(organization, f"{organization.name} {role} key", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    client.key = key
    client.secret = secret
    return client


def pytest_configure(config) -> None:
    # WhiteNoise warns when STATIC_ROOT is missing, which it is until
    # `collectstatic` runs; tests do not serve static files from it.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


@pytest.fixture
def acme(db) -> Organization:
    return Organization.objects.create(name="Acme Corp")


@pytest.fixture
def globex(db) -> Organization:
    return Organization.objects.create(name="Globex")


@pytest.fixture
def owner(acme) -> User:
    return make_user("owner@acme.test", acme, Role.OWNER)


@pytest.fixture
def admin_user(acme) -> User:
    return make_user("admin@acme.test", acme, Role.ADMIN)


@pytest.fixture
def member(acme) -> User:
    return make_user("member@acme.test", acme, Role.MEMBER)


@pytest.fixture
def viewer(acme) -> User:
    return make_user("viewer@acme.test", acme, Role.VIEWER)


@pytest.fixture
def globex_owner(globex) -> User:
    return make_user("owner@globex.test", globex, Role.OWNER)


@pytest.fixture
def acme_api(acme) -> APIClient:
    return make_api_client(acme, Role.MEMBER)


@pytest.fixture
def acme_admin_api(acme) -> APIClient:
    return make_api_client(acme, Role.ADMIN)


@pytest.fixture
def acme_viewer_api(acme) -> APIClient:
    return make_api_client(acme, Role.VIEWER)


@pytest.fixture
def globex_api(globex) -> APIClient:
    return make_api_client(globex, Role.MEMBER)
