"""The staff console: pages open, the key's hash is never shown, revoke goes through the service."""

from __future__ import annotations

import pytest

from accounts.models import AccessLog, ApiKey, User


@pytest.fixture
def staff_client(client, db):
    client.force_login(User.objects.create_superuser("root@jood.test"))
    return client


@pytest.mark.parametrize("model", ["user", "organization", "membership", "apikey", "accesslog"])
def test_every_accounts_changelist_opens(staff_client, acme_api, owner, model):
    assert staff_client.get(f"/admin/accounts/{model}/").status_code == 200


def test_the_user_add_form_asks_for_an_email(staff_client):
    response = staff_client.get("/admin/accounts/user/add/")
    assert response.status_code == 200
    assert 'name="email"' in response.content.decode()


def test_a_user_can_be_added_by_email(staff_client):
    response = staff_client.post(
        "/admin/accounts/user/add/",
        {
            "email": "New@Acme.test",
            "usable_password": "false",
            "password1": "",
            "password2": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.filter(email="new@acme.test").exists()


def test_the_key_page_never_shows_the_hash(staff_client, acme_api):
    response = staff_client.get(f"/admin/accounts/apikey/{acme_api.key.pk}/change/")
    assert response.status_code == 200
    assert acme_api.key.hashed_key not in response.content.decode()


def test_the_revoke_action_revokes_and_logs(staff_client, acme_api):
    response = staff_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [acme_api.key.pk]},
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=acme_api.key.pk).revoked_at is not None
    entry = AccessLog.objects.get(action=AccessLog.Action.KEY_REVOKED)
    assert entry.actor_label == "root@jood.test"
    assert entry.ip == "192.0.2.10"


def test_the_access_log_is_read_only(staff_client, acme_api):
    entry = AccessLog.objects.first()
    assert staff_client.get("/admin/accounts/accesslog/add/").status_code == 403
    assert staff_client.post(f"/admin/accounts/accesslog/{entry.pk}/delete/").status_code == 403
