"""Named actors shared by every test (after healthchecks' hc/test.py).

Two organizations, `acme` and `globex`; acme's people by role (`owner`,
`admin_user`, `member`, `viewer`) and `globex_owner`; and API clients that
authenticate with a key of a given role: `acme_api` (member), `acme_admin_api`,
`acme_viewer_api`, `acme_privacy_api` (admin, with the owner-given `privacy`
scope) and `globex_api` (member). Each client carries its key and
secret as `client.key` and `client.secret`.

Users have no usable password; use `login(user)` for a logged-in Client, or
`user.set_password(...)` in a test that goes through a login form.

Factories (`make_user`, `make_account`, `make_message`, `login`, ...) live in
tests/factories.py. Here also: `celery_eager()` (tasks run where they are
published, on either backend) and the `dispatching` fixture (work published
on commit runs).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket

import pytest
from rest_framework.test import APIClient

from accounts.models import Organization, Role, User
from tests.factories import make_api_client, make_privacy_api_client, make_user


@contextlib.contextmanager
def celery_eager(*, propagate: bool = False):
    """Run Celery tasks where they are published, on either backend (with REDIS_URL they would go to the broker).

    With `propagate`, a task's exception is raised to the caller too.
    """
    from jood.celery import app

    conf = app.conf
    was = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager = True
    conf.task_eager_propagates = propagate or conf.task_eager_propagates
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = was


def pytest_configure(config) -> None:
    # WhiteNoise warns when STATIC_ROOT is missing, which it is until
    # `collectstatic` runs; tests do not serve static files from it.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


@pytest.fixture(autouse=True)
def _fresh_api_key_caches(settings):
    """Each test starts with no cached API key and no uncounted key use of an earlier test.

    Key use is written only when a test flushes it (or sets a flush interval): a flush
    after some response would add queries to tests that count them.
    """
    from accounts import key_usage
    from accounts.authentication import forget_api_keys

    settings.API_KEY_USAGE_FLUSH_SECONDS = 3600
    forget_api_keys()
    key_usage.discard()
    from webhooks.views import _forget_accounts

    _forget_accounts()
    yield
    key_usage.discard()


# The network is blocked (pytest.ini: pytest-socket lets tests connect to this machine only).
# Names do not resolve either, so that a test behaves the same with and without DNS: this
# machine's names resolve as usual; the names RFC 2606 reserves for examples (example.com,
# *.example, ...) resolve to PUBLIC_ADDRESS, a public address nothing may connect to (HTTP to
# them is mocked with `responses`); any other name fails the test.
PUBLIC_ADDRESS = "93.184.215.14"
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_example(name: str) -> bool:
    name = name.rstrip(".").lower()
    return any(name == d or name.endswith("." + d) for d in ("example", "example.com", "example.org", "example.net"))


@pytest.fixture(autouse=True)
def _no_dns(request, monkeypatch):
    """Resolve local names and IP literals for real, example names to PUBLIC_ADDRESS, and nothing else.

    A test that patches `socket.getaddrinfo` itself (a rebinding test) replaces this resolver.
    A name looked up or a connection refused fails the test, even where the product caught the error.
    """
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if not name or name.lower() in LOCAL_NAMES:
            return real(host, port, *args, **kwargs)
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            pass
        else:
            return real(host, port, *args, **kwargs)
        if _is_example(name):
            return real(PUBLIC_ADDRESS, port, *args, **kwargs)
        looked_up.append(name)
        raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no names on the internet ({name})")

    # pytest-socket refuses a connection elsewhere with an error the code under test may catch:
    # the test fails all the same.
    guarded_connect = socket.socket.connect
    refused: list[str] = []

    def connect(sock, address, *args):
        try:
            return guarded_connect(sock, address, *args)
        except RuntimeError:
            refused.append(str(address[0] if isinstance(address, tuple) else address))
            raise

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    yield
    if looked_up or refused:
        pytest.fail(
            f"The test looked up {sorted(set(looked_up))} and connected to {sorted(set(refused))}:"
            " outside this machine, mock HTTP with `responses`.",
            pytrace=False,
        )


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
def acme_privacy_api(acme, owner) -> APIClient:
    """An admin key of acme that its owner gave the `privacy` scope: the only key the privacy API answers."""
    return make_privacy_api_client(acme, owner)


@pytest.fixture
def globex_api(globex) -> APIClient:
    return make_api_client(globex, Role.MEMBER)


@pytest.fixture
def dispatching(django_capture_on_commit_callbacks):
    """Return a context manager in which work published on commit runs, on either backend."""
    with celery_eager():
        yield functools.partial(django_capture_on_commit_callbacks, execute=True)
