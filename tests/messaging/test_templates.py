"""Templates: rendering with parameters, and their CRUD through /api/v1/templates."""

from __future__ import annotations

import pytest

from messaging.models import Message, Template
from messaging.services import render
from tests.messaging.conftest import assert_error


@pytest.fixture
def welcome(acme) -> Template:
    return Template.objects.create(organization=acme, name="welcome", body="Hello {{first_name}}, code {{ code }}.")


def test_render_fills_every_placeholder():
    assert render("Hi {{first_name}} {{ first_name }}, {{n}}", {"first_name": "Sara", "n": 3}) == "Hi Sara Sara, 3"


def test_render_names_the_first_missing_parameter():
    with pytest.raises(KeyError) as caught:
        render("Hi {{first_name}}, code {{code}}", {"first_name": "Sara"})
    assert caught.value.args[0] == "code"


def test_an_empty_parameter_counts_as_missing():
    with pytest.raises(KeyError) as caught:
        render("Hi {{first_name}}", {"first_name": ""})
    assert caught.value.args[0] == "first_name"


def test_a_message_from_a_template_is_rendered(acme_api, sandbox, welcome):
    response = acme_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "template": "welcome", "parameters": {"first_name": "Sara", "code": "4821"}},
        format="json",
    )
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["body"] == "Hello Sara, code 4821."
    assert answer["template"] == str(welcome.public_id)
    assert answer["parameters"] == {"first_name": "Sara", "code": "4821"}
    assert Message.objects.get().body == "Hello Sara, code 4821."


def test_a_template_can_be_named_by_its_id(acme_api, sandbox, welcome):
    response = acme_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "template": str(welcome.public_id), "parameters": {"first_name": "Omar", "code": 1}},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["body"] == "Hello Omar, code 1."


def test_a_missing_parameter_is_a_400_naming_it(acme_api, sandbox, welcome):
    response = acme_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "template": "welcome", "parameters": {"first_name": "Sara"}},
        format="json",
    )
    error = assert_error(response, 400, "missing_parameter")
    assert error["details"]["parameter"] == "code"
    assert "'code'" in error["message"]
    assert not Message.objects.exists()


def test_parameters_must_be_an_object(acme_api, sandbox, welcome):
    response = acme_api.post(
        "/api/v1/messages", {"to": "+966501234567", "template": "welcome", "parameters": ["Sara"]}, format="json"
    )
    error = assert_error(response, 400, "validation_error")
    assert "parameters" in error["details"]


def test_an_unknown_template_is_a_400(acme_api, sandbox):
    response = acme_api.post("/api/v1/messages", {"to": "+966501234567", "template": "nope"}, format="json")
    assert_error(response, 400, "unknown_template")


def test_another_organizations_template_cannot_be_used(acme_api, sandbox, globex):
    theirs = Template.objects.create(organization=globex, name="welcome", body="Hello {{first_name}}")
    response = acme_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "template": str(theirs.public_id), "parameters": {"first_name": "Sara"}},
        format="json",
    )
    assert_error(response, 400, "unknown_template")


# --- CRUD -------------------------------------------------------------------------------


def test_an_admin_key_creates_reads_updates_and_deletes_a_template(acme_admin_api, acme):
    created = acme_admin_api.post(
        "/api/v1/templates", {"name": "otp", "body": "Your code is {{code}}", "language": "en"}, format="json"
    )
    assert created.status_code == 201, created.content
    template = created.json()
    assert template["kind"] == "own"
    assert template["channel"] == "sms"
    assert template["placeholders"] == ["code"]
    url = f"/api/v1/templates/{template['id']}"

    assert acme_admin_api.get(url).json()["body"] == "Your code is {{code}}"
    listed = acme_admin_api.get("/api/v1/templates").json()
    assert [t["id"] for t in listed["results"]] == [template["id"]]

    updated = acme_admin_api.patch(url, {"body": "{{code}} is your code, {{name}}"}, format="json")
    assert updated.status_code == 200, updated.content
    assert updated.json()["placeholders"] == ["code", "name"]
    assert Template.objects.get(public_id=template["id"]).body == "{{code}} is your code, {{name}}"

    assert acme_admin_api.delete(url).status_code == 204
    assert not Template.objects.filter(organization=acme).exists()
    assert_error(acme_admin_api.get(url), 404, "not_found")


def test_a_member_can_read_templates_but_not_create_them(acme_api, welcome):
    assert acme_api.get("/api/v1/templates").status_code == 200
    assert acme_api.get(f"/api/v1/templates/{welcome.public_id}").status_code == 200
    assert_error(acme_api.post("/api/v1/templates", {"name": "x", "body": "y"}, format="json"), 403)
    assert_error(acme_api.patch(f"/api/v1/templates/{welcome.public_id}", {"body": "y"}, format="json"), 403)
    assert_error(acme_api.delete(f"/api/v1/templates/{welcome.public_id}"), 403)
    assert Template.objects.get().body == welcome.body


def test_a_viewer_cannot_create_a_template(acme_viewer_api):
    assert_error(acme_viewer_api.post("/api/v1/templates", {"name": "x", "body": "y"}, format="json"), 403)
    assert not Template.objects.exists()


def test_a_name_clash_is_a_400(acme_admin_api, welcome):
    response = acme_admin_api.post("/api/v1/templates", {"name": "welcome", "body": "Hi"}, format="json")
    error = assert_error(response, 400, "validation_error")
    assert "name" in error["details"]
    assert Template.objects.count() == 1


def test_the_same_name_in_another_language_is_not_a_clash(acme_admin_api, welcome):
    response = acme_admin_api.post(
        "/api/v1/templates", {"name": "welcome", "language": "ar", "body": "مرحبا {{first_name}}"}, format="json"
    )
    assert response.status_code == 201, response.content


def test_renaming_onto_another_template_is_a_400(acme_admin_api, welcome, acme):
    other = Template.objects.create(organization=acme, name="other", body="x")
    response = acme_admin_api.patch(f"/api/v1/templates/{other.public_id}", {"name": "welcome"}, format="json")
    assert_error(response, 400, "validation_error")


def test_a_template_needs_a_body(acme_admin_api):
    assert_error(acme_admin_api.post("/api/v1/templates", {"name": "empty", "body": ""}, format="json"), 400)


def test_a_synced_whatsapp_template_cannot_be_changed_or_deleted_here(acme_admin_api, acme, whatsapp_sandbox):
    synced = Template.objects.create(
        organization=acme,
        kind=Template.Kind.WHATSAPP,
        channel="whatsapp",
        name="order_update",
        provider_account=whatsapp_sandbox,
        approval_status="APPROVED",
    )
    url = f"/api/v1/templates/{synced.public_id}"
    assert_error(acme_admin_api.patch(url, {"body": "x"}, format="json"), 400)
    assert_error(acme_admin_api.delete(url), 400)
    assert Template.objects.filter(pk=synced.pk).exists()
