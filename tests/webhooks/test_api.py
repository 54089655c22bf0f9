"""The callback-endpoints API: CRUD, the secret shown once, test events, the delivery log, tenancy."""

from __future__ import annotations

import pytest
import responses

from accounts.models import AccessLog, Role
from tests.factories import make_api_client
from webhooks.models import CallbackEndpoint

LIST = "/api/v1/callback-endpoints"
CUSTOMER_URL = "https://hooks.acme.example/hook"


def detail(endpoint_id) -> str:
    return f"{LIST}/{endpoint_id}"


@pytest.fixture
def customer_server():
    """The customer's endpoint (HTTP mocked with `responses`; its name resolves to a public address)."""
    with responses.RequestsMock() as http:
        http.post(CUSTOMER_URL, status=204)
        yield http


@pytest.fixture
def created(acme_admin_api):
    response = acme_admin_api.post(LIST, {"url": "https://example.com/jood", "description": "Orders"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_shows_the_secret_once(acme_admin_api, created):
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["all"]
    assert created["active"] is True
    endpoint = CallbackEndpoint.objects.get(public_id=created["id"])
    assert endpoint.secret == created["secret"]
    assert "secret" not in acme_admin_api.get(detail(created["id"])).json()
    listed = acme_admin_api.get(LIST).json()
    assert [e["id"] for e in listed["results"]] == [created["id"]]
    assert "secret" not in listed["results"][0]
    assert AccessLog.objects.filter(detail__change="callback_endpoint_created").exists()


def test_the_secret_is_encrypted_at_rest(created):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_callbackendpoint")
        (stored,) = cursor.fetchone()
    assert created["secret"] not in stored


def test_update_and_delete(acme_admin_api, created):
    response = acme_admin_api.patch(
        detail(created["id"]), {"active": False, "events": ["message.inbound"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert response.json()["events"] == ["message.inbound"]
    endpoint = CallbackEndpoint.objects.get(public_id=created["id"])
    assert endpoint.is_active is False and endpoint.secret == created["secret"]
    assert acme_admin_api.delete(detail(created["id"])).status_code == 204
    assert not CallbackEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "http://127.0.0.1/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/",
        "http://[::1]/x",
        "http://localhost:8000/x",
        "not a url",
    ],
)
def test_unsafe_urls_are_refused_at_entry(acme_admin_api, url):
    response = acme_admin_api.post(LIST, {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "url" in response.json()["error"]["details"]


def test_unknown_event_types_are_refused(acme_admin_api):
    response = acme_admin_api.post(LIST, {"url": "https://example.com/x", "events": ["message.sent"]}, format="json")
    assert response.status_code == 400


def test_members_read_but_only_admins_write(acme_api, created):
    assert acme_api.get(LIST).status_code == 200
    assert acme_api.post(LIST, {"url": "https://example.com/y"}, format="json").status_code == 403
    assert acme_api.patch(detail(created["id"]), {"active": False}, format="json").status_code == 403
    assert acme_api.delete(detail(created["id"])).status_code == 403


def test_the_test_event_is_sent_and_logged(acme_admin_api, customer_server):
    endpoint = acme_admin_api.post(LIST, {"url": CUSTOMER_URL}, format="json").json()
    response = acme_admin_api.post(f"{detail(endpoint['id'])}/test")
    assert response.status_code == 200
    body = response.json()
    assert body["event_type"] == "test"
    assert body["state"] == "succeeded"
    assert body["last_status_code"] == 204
    assert body["attempts"][0]["number"] == 1
    assert len(customer_server.calls) == 1

    log = acme_admin_api.get(f"{detail(endpoint['id'])}/deliveries").json()
    assert [d["id"] for d in log["results"]] == [body["id"]]
    assert log["results"][0]["attempts"][0]["status_code"] == 204
    assert acme_admin_api.get(f"{detail(endpoint['id'])}/deliveries?state=failed").json()["results"] == []


def test_another_organizations_endpoint_is_404(globex, created):
    globex_admin = make_api_client(globex, Role.ADMIN)
    assert globex_admin.get(detail(created["id"])).status_code == 404
    assert globex_admin.patch(detail(created["id"]), {"active": False}, format="json").status_code == 404
    assert globex_admin.delete(detail(created["id"])).status_code == 404
    assert globex_admin.post(f"{detail(created['id'])}/test").status_code == 404
    assert globex_admin.get(f"{detail(created['id'])}/deliveries").status_code == 404
    assert globex_admin.get(LIST).json()["results"] == []
    assert CallbackEndpoint.objects.get(public_id=created["id"]).is_active


def test_the_schema_documents_the_endpoints(acme_api):
    response = acme_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/v1/callback-endpoints",
        "/api/v1/callback-endpoints/{public_id}/test",
        "/api/v1/callback-endpoints/{public_id}/deliveries",
    ):
        assert path in text
