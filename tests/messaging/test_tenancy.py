"""Tenancy: another organization's key sees none of acme's messaging data (404, never 403)."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from accounts.models import Role
from messaging.models import Batch, MediaFile, Message, OptOut, Template
from tests.factories import make_api_client
from tests.messaging.conftest import assert_error


@pytest.fixture
def acme_data(acme):
    batch = Batch.objects.create(organization=acme, channel="sms", total=1, accepted=1)
    message = Message.objects.create(
        organization=acme, channel="sms", to="+966501234567", body="Hi", status="queued", batch=batch
    )
    template = Template.objects.create(organization=acme, name="welcome", body="Hello {{first_name}}")
    optout = OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    return {"message": message, "batch": batch, "template": template, "optout": optout}


@pytest.fixture
def globex_admin_api(globex):
    return make_api_client(globex, Role.ADMIN)


def test_another_organizations_message_is_a_404(globex_api, acme_data):
    message = acme_data["message"]
    assert_error(globex_api.get(f"/api/v1/messages/{message.public_id}"), 404, "not_found")
    assert_error(globex_api.post(f"/api/v1/messages/{message.public_id}/cancel"), 404, "not_found")
    message.refresh_from_db()
    assert message.status == "queued"


def test_another_organizations_batch_is_a_404(globex_api, acme_data):
    assert_error(globex_api.get(f"/api/v1/batches/{acme_data['batch'].public_id}"), 404, "not_found")


def test_another_organizations_template_is_a_404(globex_admin_api, acme_data):
    url = f"/api/v1/templates/{acme_data['template'].public_id}"
    assert_error(globex_admin_api.get(url), 404, "not_found")
    assert_error(globex_admin_api.patch(url, {"body": "pwned"}, format="json"), 404, "not_found")
    assert_error(globex_admin_api.put(url, {"name": "x", "body": "pwned"}, format="json"), 404, "not_found")
    assert_error(globex_admin_api.delete(url), 404, "not_found")
    acme_data["template"].refresh_from_db()
    assert acme_data["template"].body == "Hello {{first_name}}"


def test_another_organizations_opt_out_is_a_404(globex_api, acme_data):
    url = f"/api/v1/opt-outs/{acme_data['optout'].pk}"
    assert_error(globex_api.get(url), 404, "not_found")
    assert_error(globex_api.delete(url), 404, "not_found")
    assert OptOut.objects.filter(pk=acme_data["optout"].pk).exists()


def test_lists_show_nothing_of_another_organization(globex_api, globex_admin_api, acme_data):
    assert globex_api.get("/api/v1/messages").json()["results"] == []
    assert globex_api.get("/api/v1/messages", {"batch": str(acme_data["batch"].public_id)}).json()["results"] == []
    assert globex_api.get("/api/v1/messages", {"to": "+966501234567"}).json()["results"] == []
    assert globex_admin_api.get("/api/v1/templates").json()["results"] == []
    assert globex_api.get("/api/v1/opt-outs").json()["results"] == []
    rows = globex_api.get("/api/v1/analytics").json()["results"]
    assert rows == []


def test_another_organizations_opt_out_does_not_reject_our_messages(globex_api, globex_sandbox, acme_data):
    response = globex_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json")
    assert response.json()["status"] == "queued"


def test_another_organizations_template_name_is_not_found_when_sending(globex_api, globex_sandbox, acme_data):
    response = globex_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "template": "welcome", "parameters": {"first_name": "x"}},
        format="json",
    )
    assert_error(response, 400, "unknown_template")


def test_another_organizations_provider_account_cannot_be_chosen(globex_api, globex_sandbox, sandbox):
    response = globex_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "body": "Hi", "provider_account": str(sandbox.public_id)},
        format="json",
    )
    assert_error(response, 400, "unknown_provider_account")
    assert not Message.objects.filter(organization=sandbox.organization).exists()


def test_another_organizations_media_cannot_be_attached(globex_api, globex_sandbox, acme, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path

    media = MediaFile(organization=acme, kind="image", content_type="image/png", size=3, sha256="0" * 64)
    media.file.save("x.png", ContentFile(b"png"), save=True)
    response = globex_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "media": [{"kind": "image", "media_id": str(media.public_id)}]},
        format="json",
    )
    assert_error(response, 400, "unknown_media")
