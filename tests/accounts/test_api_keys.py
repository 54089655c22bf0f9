"""The organization and API-key endpoints: scoping, roles, the secret shown once."""

from __future__ import annotations

import uuid

from django.db import connection

from accounts.models import AccessLog, ApiKey


def _all_stored_text() -> str:
    """Return every row of every table as text, to search for a secret."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_organization_answers_the_keys_own_organization(acme, acme_viewer_api):
    response = acme_viewer_api.get("/api/v1/organization")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(acme.public_id),
        "name": "Acme Corp",
        "created_at": response.json()["created_at"],
        "retention_days": 90,
        "paused": False,
        "time_zone": "UTC",
    }


def test_an_api_key_is_stored_hashed(acme_admin_api):
    response = acme_admin_api.post("/api/v1/api-keys", {"name": "Billing", "role": "member"})
    assert response.status_code == 201
    secret = response.json()["secret"]
    key = ApiKey.objects.get(public_id=response.json()["id"])
    assert key.hashed_key != secret and len(key.hashed_key) == 64
    # Use both keys so that last_used, the access log and sessions all hold rows.
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert client.get("/api/v1/organization").status_code == 200

    stored = _all_stored_text()
    for secret_value in (secret, acme_admin_api.secret):
        assert secret_value not in stored
        assert secret_value[12:] not in stored  # the prefix is shown, the rest never


def test_the_secret_is_shown_once_and_never_again(acme_admin_api):
    created = acme_admin_api.post("/api/v1/api-keys", {"name": "Once"}).json()
    assert created["secret"].startswith(created["prefix"])
    assert created["role"] == "member"

    detail = acme_admin_api.get(f"/api/v1/api-keys/{created['id']}").json()
    listing = acme_admin_api.get("/api/v1/api-keys").json()
    assert "secret" not in detail
    assert all("secret" not in item for item in listing["results"])
    assert created["secret"] not in str(listing)


def test_creating_a_key_is_in_the_access_log(acme, acme_admin_api):
    created = acme_admin_api.post("/api/v1/api-keys", {"name": "Logged"}).json()
    entry = AccessLog.objects.get(action=AccessLog.Action.KEY_CREATED, detail__key=created["prefix"])
    assert entry.organization == acme
    assert entry.api_key == acme_admin_api.key


def test_list_shows_only_the_keys_of_the_organization(acme_admin_api, globex_api):
    ids = {item["id"] for item in acme_admin_api.get("/api/v1/api-keys").json()["results"]}
    assert str(acme_admin_api.key.public_id) in ids
    assert str(globex_api.key.public_id) not in ids


def test_a_key_of_another_organization_is_not_found(acme_admin_api, globex_api):
    other = globex_api.key.public_id
    for response in (
        acme_admin_api.get(f"/api/v1/api-keys/{other}"),
        acme_admin_api.post(f"/api/v1/api-keys/{other}/revoke"),
        acme_admin_api.delete(f"/api/v1/api-keys/{other}"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    globex_api.key.refresh_from_db()
    assert globex_api.key.revoked_at is None


def test_an_unknown_key_id_is_not_found(acme_admin_api):
    response = acme_admin_api.get(f"/api/v1/api-keys/{uuid.uuid4()}")
    assert response.status_code == 404


def test_revoke_stops_the_key(acme_admin_api, acme_api):
    response = acme_admin_api.post(f"/api/v1/api-keys/{acme_api.key.public_id}/revoke")
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert response.json()["revoked_at"]
    assert acme_api.get("/api/v1/organization").status_code == 401
    assert AccessLog.objects.filter(action=AccessLog.Action.KEY_REVOKED, detail__key=acme_api.key.prefix).count() == 1


def test_revoking_twice_changes_nothing(acme_admin_api, acme_api):
    url = f"/api/v1/api-keys/{acme_api.key.public_id}/revoke"
    first = acme_admin_api.post(url).json()
    second = acme_admin_api.post(url).json()
    assert first["revoked_at"] == second["revoked_at"]
    assert AccessLog.objects.filter(action=AccessLog.Action.KEY_REVOKED).count() == 1


def test_delete_revokes_and_keeps_the_key_listed(acme_admin_api, acme_api):
    response = acme_admin_api.delete(f"/api/v1/api-keys/{acme_api.key.public_id}")
    assert response.status_code == 204
    acme_api.key.refresh_from_db()
    assert acme_api.key.revoked_at is not None
    detail = acme_admin_api.get(f"/api/v1/api-keys/{acme_api.key.public_id}").json()
    assert detail["active"] is False


def test_a_viewer_key_reads_keys_but_cannot_create_one(acme_viewer_api):
    assert acme_viewer_api.get("/api/v1/api-keys").status_code == 200
    response = acme_viewer_api.post("/api/v1/api-keys", {"name": "Nope"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_member_key_cannot_create_or_revoke_keys(acme_api, acme_viewer_api):
    assert acme_api.post("/api/v1/api-keys", {"name": "Nope"}).status_code == 403
    assert acme_api.post(f"/api/v1/api-keys/{acme_viewer_api.key.public_id}/revoke").status_code == 403
    assert not ApiKey.objects.filter(name="Nope").exists()


def test_create_rejects_an_unknown_role_with_the_error_shape(acme_admin_api):
    response = acme_admin_api.post("/api/v1/api-keys", {"name": "Boss", "role": "owner"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "role" in error["details"]


def test_api_paths_have_no_trailing_slash(acme_api):
    assert acme_api.get("/api/v1/organization/").status_code == 404
