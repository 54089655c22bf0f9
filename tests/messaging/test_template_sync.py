"""WhatsApp template sync: creates, updates, marks deleted; the API and the beat task.

Meta's Graph API is mocked with `responses`, answering the recorded pages of
tests/payloads/whatsapp/templates__page*.json (whatsapp-cloud.md §6).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from messaging.models import Message, Template
from messaging.template_sync import sync_templates
from messaging.template_sync_tasks import sync_account_templates, sync_all_templates
from providers.base import ProviderError
from tests.conftest import celery_eager
from tests.factories import make_account
from tests.messaging.conftest import assert_error

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "whatsapp"
GRAPH = "https://graph.facebook.com/v21.0"
WABA_ID = "102290129340398"


def page(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def templates_url(waba_id: str = WABA_ID) -> str:
    return f"{GRAPH}/{waba_id}/message_templates"


class Meta:
    """The template list of one WABA, as Meta pages it (§6); `data` can be changed between syncs."""

    def __init__(self, http: responses.RequestsMock, waba_id: str = WABA_ID):
        first, second = page("templates__page1.json"), page("templates__page2.json")
        self.data = first["data"] + second["data"]
        self.waba_id = waba_id
        http.add_callback(responses.GET, templates_url(waba_id), callback=self.answer)

    def answer(self, request):
        query = parse_qs(urlsplit(request.url).query)
        start = int(query.get("after", ["0"])[0])
        chunk = self.data[start : start + 1]  # one per page, to walk paging.next
        body = {"data": chunk, "paging": {"cursors": {}}}
        if start + 1 < len(self.data):
            body["paging"]["next"] = f"{templates_url(self.waba_id)}?limit=100&after={start + 1}"
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def find(self, name: str) -> dict:
        return next(item for item in self.data if item["name"] == name)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def meta(http):
    return Meta(http)


def whatsapp_account(organization, waba_id: str = WABA_ID, **fields):
    return make_account(
        organization,
        provider="whatsapp",
        channel="whatsapp",
        credentials={
            "access_token": "EAAG-token",
            "phone_number_id": "109876543210",
            "waba_id": waba_id,
            "app_secret": "secret",
            "verify_token": "verify",
        },
        **fields,
    )


@pytest.fixture
def account(acme):
    return whatsapp_account(acme)


@pytest.fixture
def eager():
    with celery_eager(propagate=True):
        yield


# --- sync_templates ---------------------------------------------------------------


def test_sync_creates_every_template_of_every_page(acme, account, meta, http):
    assert sync_templates(account) == {"created": 2, "updated": 0, "removed": 0, "skipped": 0}
    assert len(http.calls) == 2

    shipped = Template.objects.get(name="order_shipped")
    assert shipped.organization == acme
    assert shipped.kind == Template.Kind.WHATSAPP and shipped.channel == "whatsapp"
    assert shipped.provider_account == account
    assert shipped.language == "ar"
    assert shipped.category == "UTILITY"
    assert shipped.approval_status == "APPROVED" and shipped.is_approved
    assert shipped.external_id == "594425479261596"
    assert shipped.components == meta.find("order_shipped")["components"]
    assert shipped.body == "Hello {{1}}, your order {{2}} has shipped."
    assert shipped.synced_at is not None

    welcome = Template.objects.get(name="welcome_named")
    assert (welcome.language, welcome.approval_status, welcome.is_approved) == ("en_US", "PAUSED", False)


def test_a_second_sync_updates_what_changed_and_nothing_else(account, meta):
    sync_templates(account)
    first_synced = Template.objects.get(name="welcome_named").synced_at
    meta.find("order_shipped")["status"] = "PAUSED"
    meta.find("order_shipped")["components"][1]["text"] = "Hi {{1}}, order {{2}} is on its way."

    assert sync_templates(account) == {"created": 0, "updated": 1, "removed": 0, "skipped": 0}
    shipped = Template.objects.get(name="order_shipped")
    assert shipped.approval_status == "PAUSED"
    assert shipped.body == "Hi {{1}}, order {{2}} is on its way."
    assert Template.objects.get(name="welcome_named").synced_at > first_synced
    assert Template.objects.count() == 2


def test_a_template_gone_from_meta_is_marked_deleted_not_deleted(acme, account, meta):
    sync_templates(account)
    shipped = Template.objects.get(name="order_shipped")
    message = Message.objects.create(organization=acme, channel="whatsapp", to="+966501234567", template=shipped)
    meta.data = [meta.find("welcome_named")]

    assert sync_templates(account) == {"created": 0, "updated": 0, "removed": 1, "skipped": 0}
    shipped.refresh_from_db()
    assert shipped.approval_status == "DELETED" and not shipped.is_approved
    message.refresh_from_db()
    assert message.template == shipped

    # Marked once: the next sync does not count it again.
    assert sync_templates(account)["removed"] == 0


def test_a_template_that_comes_back_is_updated_from_deleted(account, meta):
    sync_templates(account)
    everything = list(meta.data)
    meta.data = []
    assert sync_templates(account)["removed"] == 2
    meta.data = everything
    meta.find("order_shipped")["id"] = "594425479269999"  # recreated in Meta: a new id

    assert sync_templates(account) == {"created": 0, "updated": 2, "removed": 0, "skipped": 0}
    shipped = Template.objects.get(name="order_shipped")
    assert shipped.approval_status == "APPROVED" and shipped.external_id == "594425479269999"


def test_a_failed_fetch_changes_nothing(account, meta, http):
    sync_templates(account)
    http.replace(
        responses.GET,
        templates_url(),
        status=500,
        json={"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 1}},
    )
    with pytest.raises(ProviderError):
        sync_templates(account)
    assert set(Template.objects.values_list("approval_status", flat=True)) == {"APPROVED", "PAUSED"}


def test_own_templates_of_the_same_name_are_left_alone(acme, account, meta):
    own = Template.objects.create(
        organization=acme, channel="whatsapp", name="order_shipped", language="ar", body="Our own copy"
    )
    sync_templates(account)
    own.refresh_from_db()
    assert own.kind == Template.Kind.OWN and own.body == "Our own copy" and own.provider_account is None
    assert Template.objects.filter(kind=Template.Kind.WHATSAPP).count() == 2


def test_two_accounts_of_one_organization_each_keep_their_own_templates(acme, account, meta, http):
    other = whatsapp_account(acme, waba_id="999888777666")
    Meta(http, waba_id="999888777666")
    sync_templates(account)
    assert sync_templates(other) == {"created": 2, "updated": 0, "removed": 0, "skipped": 0}
    assert set(Template.objects.values_list("provider_account", flat=True)) == {account.pk, other.pk}


def test_only_whatsapp_accounts_are_synced(acme):
    with pytest.raises(ValueError, match="for WhatsApp accounts, not twilio"):
        sync_templates(make_account(acme, provider="twilio"))


# --- POST /api/v1/templates/sync -----------------------------------------------------


def test_the_api_syncs_every_active_whatsapp_account_of_the_organization(acme, acme_admin_api, account, meta, http):
    whatsapp_account(acme, waba_id="555444333222", is_active=False)
    response = acme_admin_api.post("/api/v1/templates/sync", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "results": [
            {"provider_account": str(account.public_id), "created": 2, "updated": 0, "removed": 0, "skipped": 0}
        ]
    }
    assert {urlsplit(call.request.url).path for call in http.calls} == {f"/v21.0/{WABA_ID}/message_templates"}


def test_the_api_syncs_the_one_account_asked_for(acme, acme_admin_api, account, meta, http):
    other = whatsapp_account(acme, waba_id="999888777666")
    Meta(http, waba_id="999888777666").data = []
    response = acme_admin_api.post("/api/v1/templates/sync", {"provider_account": str(other.public_id)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == [
        {"provider_account": str(other.public_id), "created": 0, "updated": 0, "removed": 0, "skipped": 0}
    ]
    assert not Template.objects.exists()


def test_the_api_needs_an_admin_key(acme_api, account, meta):
    assert_error(acme_api.post("/api/v1/templates/sync", {}, format="json"), 403)
    assert not Template.objects.exists()


def test_the_api_does_not_sync_another_organizations_account(globex, globex_api, account, meta, http):
    from tests.factories import make_api_client

    globex_admin = make_api_client(globex, "admin")
    response = globex_admin.post("/api/v1/templates/sync", {"provider_account": str(account.public_id)}, format="json")
    assert_error(response, 400, "unknown_provider_account")
    # And without an account: globex has none of its own, acme's is not touched.
    assert_error(globex_admin.post("/api/v1/templates/sync", {}, format="json"), 400, "no_whatsapp_account")
    assert not http.calls
    assert not Template.objects.exists()


def test_the_api_refuses_an_sms_account(acme, acme_admin_api):
    sms = make_account(acme, provider="twilio")
    response = acme_admin_api.post("/api/v1/templates/sync", {"provider_account": str(sms.public_id)}, format="json")
    assert_error(response, 400, "not_whatsapp_account")


def test_the_api_answers_502_when_meta_cannot_be_read(acme_admin_api, account, http):
    http.add(
        responses.GET,
        templates_url(),
        status=401,
        json={"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}},
    )
    error = assert_error(acme_admin_api.post("/api/v1/templates/sync", {}, format="json"), 502, "sync_failed")
    assert error["details"]["results"][0]["error"]["code"] == "190"


def test_the_api_reports_each_account_when_only_some_fail(acme, acme_admin_api, account, meta, http):
    broken = whatsapp_account(acme, waba_id="111222333444", priority=200)
    http.add(responses.GET, templates_url("111222333444"), status=503, body="")
    response = acme_admin_api.post("/api/v1/templates/sync", {}, format="json")
    assert response.status_code == 200, response.content
    good, bad = response.json()["results"]
    assert good["created"] == 2
    assert bad["provider_account"] == str(broken.public_id) and bad["error"]["code"] == "503"


# --- the beat task ------------------------------------------------------------------


def test_the_beat_task_syncs_the_accounts_of_active_organizations(acme, globex, account, meta, http, eager):
    asleep = whatsapp_account(globex, waba_id="777666555444")
    globex.is_active = False
    globex.save(update_fields=["is_active"])

    assert sync_all_templates.delay().get() == 1
    assert Template.objects.filter(provider_account=account).count() == 2
    assert not Template.objects.filter(provider_account=asleep).exists()


def test_the_account_task_survives_a_meta_error_and_a_vanished_account(account, http, eager):
    http.add(responses.GET, templates_url(), status=500, body="")
    assert sync_account_templates.delay(account.pk).get() is None
    assert sync_account_templates.delay(0).get() is None


def test_the_tasks_keep_the_names_beat_and_queued_messages_know_them_by(db):
    """The module was renamed (tasks_sync -> template_sync_tasks); the registered names were not."""
    from django_celery_beat.models import PeriodicTask

    from jood.celery import app

    assert sync_all_templates.name == "messaging.tasks_sync.sync_all_templates"
    assert sync_account_templates.name == "messaging.tasks_sync.sync_account_templates"
    scheduled = PeriodicTask.objects.get(name="messaging: sync WhatsApp templates")
    assert scheduled.task in app.tasks
