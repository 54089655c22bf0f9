"""Login throttling, who signed in, and the client IP behind proxies (issue 13, hole 7)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import AccessLog, Role
from accounts.services import client_ip
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Sunny-Harbor-42"


@pytest.fixture(autouse=True)
def fresh_counters(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_FAILURES_PER_IP = 12
    settings.LOGIN_THROTTLE_SECONDS = 900
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sara(acme, globex):
    user = make_user("sara@acme.test", acme, Role.ADMIN)
    from accounts.models import Membership

    Membership.objects.create(user=user, organization=globex, role=Role.MEMBER)
    user.set_password(PASSWORD)
    user.save()
    return user


LOGIN_URLS = ["portal-login", "admin:login"]


def attempt(client, email, password, ip="198.51.100.7", url="portal-login"):
    return client.post(
        reverse(url), {"username": email, "password": password}, REMOTE_ADDR=ip, HTTP_USER_AGENT="Probe/1.0"
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_wrong_passwords_lock_the_account_even_for_the_right_password(sara, url):
    client = Client()
    for _ in range(5):
        attempt(client, "sara@acme.test", "wrong-password", url=url)
    response = attempt(client, "sara@acme.test", PASSWORD, url=url)
    assert not logged_in(client)
    if url == "portal-login":
        assert b"Too many failed log-in attempts" in response.content
    # From another address too: the account is what is protected.
    other = Client()
    attempt(other, "SARA@acme.test", PASSWORD, ip="203.0.113.9", url=url)
    assert not logged_in(other)
    throttled = AccessLog.objects.filter(action="login_throttled")
    assert throttled.count() >= 2
    assert set(throttled.values_list("ip", flat=True)) == {"198.51.100.7", "203.0.113.9"}


def test_many_accounts_from_one_address_lock_the_address(sara):
    client = Client()
    for n in range(12):
        attempt(client, f"nobody{n}@acme.test", "wrong-password")
    response = attempt(client, "sara@acme.test", PASSWORD)
    assert not logged_in(client)
    assert b"Too many failed log-in attempts" in response.content
    # Another address is not locked out.
    other = Client()
    attempt(other, "sara@acme.test", PASSWORD, ip="203.0.113.9")
    assert logged_in(other)


def test_a_success_before_the_limit_resets_the_account_count(sara):
    client = Client()
    for _ in range(4):
        attempt(client, "sara@acme.test", "wrong-password")
    attempt(client, "sara@acme.test", PASSWORD)
    assert logged_in(client)
    client = Client()
    for _ in range(4):
        attempt(client, "sara@acme.test", "wrong-password")
    attempt(client, "sara@acme.test", PASSWORD)
    assert logged_in(client)


def test_logins_and_failures_show_in_each_organization_access_log(sara, acme, globex, owner):
    client = Client()
    attempt(client, "sara@acme.test", "wrong-password")
    attempt(client, "sara@acme.test", PASSWORD)
    for organization in (acme, globex):
        actions = set(AccessLog.objects.filter(organization=organization).values_list("action", flat=True))
        assert {"login", "login_failed"} <= actions, organization
    row = AccessLog.objects.get(organization=acme, action="login")
    assert (row.user, row.ip, row.user_agent) == (sara, "198.51.100.7", "Probe/1.0")
    # The organization's access log page shows who signed in.
    owner_client = Client()
    owner_client.force_login(owner)
    page = owner_client.get(reverse("portal-access-log")).content.decode()
    assert "sara@acme.test" in page
    assert "198.51.100.7" in page


def test_a_failure_for_an_unknown_address_belongs_to_no_organization(sara):
    attempt(Client(), "nobody@acme.test", "wrong-password")
    assert AccessLog.objects.get(action="login_failed").organization is None


# --- the client's address behind proxies --------------------------------------------------------


def _request(remote, forwarded=None):
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request("10.0.0.5", "1.2.3.4")) == "10.0.0.5"


def test_behind_one_proxy_the_client_is_the_last_forwarded_address(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client may send its own X-Forwarded-For: only the hop our proxy added counts.
    assert client_ip(_request("10.0.0.5", "6.6.6.6, 198.51.100.7")) == "198.51.100.7"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(_request("10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.9")) == "198.51.100.7"


@pytest.mark.parametrize("forwarded", ["", "not-an-ip", "1.2.3.4.5", "<script>", "a" * 300])
def test_a_garbage_forwarded_header_falls_back_to_the_peer(settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(_request("10.0.0.5", forwarded)) == "10.0.0.5"


def test_the_setting_is_read_from_the_environment():
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.TRUSTED_PROXY_COUNT)"
    env = {"TRUSTED_PROXY_COUNT": "2", "DJANGO_SETTINGS_MODULE": "jood.settings", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "2", out.stderr[-500:]


def test_the_login_throttle_and_access_log_use_the_forwarded_client(sara, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client()
    client.post(
        reverse("portal-login"),
        {"username": "sara@acme.test", "password": "wrong"},
        REMOTE_ADDR="10.0.0.5",
        HTTP_X_FORWARDED_FOR="198.51.100.77",
    )
    assert AccessLog.objects.filter(action="login_failed").first().ip == "198.51.100.77"


def test_an_api_key_request_through_a_proxy_records_the_client(acme, settings):
    from tests.factories import make_api_client

    settings.TRUSTED_PROXY_COUNT = 1
    api = make_api_client(acme)
    api.get("/api/v1/messages", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.78")
    api.key.refresh_from_db()
    assert api.key.last_used_ip == "198.51.100.78"
