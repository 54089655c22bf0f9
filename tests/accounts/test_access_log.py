"""Logins and failed logins leave access-log rows with the IP and user agent."""

from __future__ import annotations

import pytest

from accounts.models import AccessLog, User

PASSWORD = "test-only-password-8c1f"  # not a real credential


@pytest.fixture
def staff(db) -> User:
    user = User.objects.create_user("staff@jood.test", password=PASSWORD, is_staff=True)
    return user


def _login(client, email: str, password: str):
    return client.post(
        "/admin/login/",
        {"username": email, "password": password, "next": "/admin/"},
        REMOTE_ADDR="198.51.100.23",
        HTTP_USER_AGENT="TestBrowser/1.0",
    )


def test_a_login_is_recorded_with_ip_and_user_agent(client, staff):
    response = _login(client, "staff@jood.test", PASSWORD)
    assert response.status_code == 302
    entry = AccessLog.objects.get(action=AccessLog.Action.LOGIN)
    assert entry.user == staff
    assert entry.actor_label == "staff@jood.test"
    assert entry.ip == "198.51.100.23"
    assert entry.user_agent == "TestBrowser/1.0"


def test_a_failed_login_is_recorded_with_the_address_tried_and_never_the_password(client, staff):
    response = _login(client, "staff@jood.test", "wrong-password-123")
    assert response.status_code == 200
    entry = AccessLog.objects.get(action=AccessLog.Action.LOGIN_FAILED)
    assert entry.actor_label == "staff@jood.test"
    assert entry.user is None
    assert entry.ip == "198.51.100.23"
    assert entry.user_agent == "TestBrowser/1.0"
    assert "wrong-password-123" not in f"{entry.actor_label} {entry.detail} {entry.user_agent}"
    assert not AccessLog.objects.filter(action=AccessLog.Action.LOGIN).exists()


def test_a_failed_login_for_an_unknown_address_is_recorded(client, db):
    _login(client, "nobody@jood.test", "whatever-123")
    assert AccessLog.objects.get(action=AccessLog.Action.LOGIN_FAILED).actor_label == "nobody@jood.test"
