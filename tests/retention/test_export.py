"""The data export: what the zip holds, what it never holds, one download, tenancy."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import AccessLog, Role
from messaging.models import MessageEvent, OptOut, Template
from retention import services
from retention.export import FILES
from retention.models import DataExport
from tests.factories import make_account, make_api_client, make_message, make_privacy_api_client
from tests.retention.conftest import OLD
from webhooks.models import CallbackEndpoint

pytestmark = pytest.mark.django_db

AUTH_TOKEN = "tw-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"


@pytest.fixture
def data(acme, owner, member):
    from django.utils import timezone

    account = make_account(
        acme,
        provider="twilio",
        label="Twilio main",
        default_sender="+15005550006",
        credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
    )
    endpoint = CallbackEndpoint.objects.create(organization=acme, url="https://acme.example/hooks", events=["all"])
    Template.objects.create(organization=acme, name="welcome", body="Hello {{name}}")
    OptOut.objects.create(organization=acme, channel="sms", phone="+14155550199")
    now = timezone.now()
    message = make_message(
        acme, now - timedelta(days=1), body="Your code is 1234", provider_account=account, status="delivered"
    )
    MessageEvent.objects.create(message=message, status="delivered", source="webhook")
    old = make_message(acme, now - OLD, body="too old to export", status="delivered")
    key, secret = services_key(acme)
    return {
        "account": account,
        "webhook_secret": account.webhook_secret,
        "endpoint_secret": endpoint.secret,
        "message": message,
        "old": old,
        "key_secret": secret,
        "key_hash": key.hashed_key,
    }


def services_key(organization):
    from accounts.services import create_api_key

    return create_api_key(organization, "Billing", role=Role.MEMBER)


def build(organization, user, capture) -> DataExport:
    """Request an export and run the build published on commit."""
    with capture(execute=True):
        export = services.request_export(organization, services.Actor(user=user))
    export.refresh_from_db()
    return export


def read_zip(content: bytes) -> dict[str, object]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: json.loads(archive.read(name)) for name in archive.namelist()}


def all_text(content: bytes) -> bytes:
    """The raw zip and every member decompressed: where a secret must not be found."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return content + b"".join(archive.read(name) for name in archive.namelist())


def test_the_export_holds_the_listed_files_and_no_secret(acme, owner, data, django_capture_on_commit_callbacks):
    export = build(acme, owner, django_capture_on_commit_callbacks)
    assert export.state == DataExport.State.READY
    assert export.expires_at - export.ready_at == timedelta(hours=24)
    with export.file.open("rb") as handle:
        content = handle.read()

    files = read_zip(content)
    for name in (
        "organization.json",
        "members.json",
        "templates.json",
        "messages.json",
        "opt_outs.json",
        "callback_endpoints.json",
        "provider_accounts.json",
        "api_keys.json",
    ):
        assert name in files
    assert set(files) == set(FILES)
    assert files["organization.json"]["name"] == "Acme Corp"
    assert {m["email"] for m in files["members.json"]} == {"owner@acme.test", "member@acme.test"}
    assert [t["name"] for t in files["templates.json"]] == ["welcome"]
    assert [o["phone"] for o in files["opt_outs.json"]] == ["+14155550199"]
    [message] = files["messages.json"]  # the one past retention is not exported
    assert message["id"] == str(data["message"].public_id)
    assert message["body"] == "Your code is 1234"
    assert [e["status"] for e in message["events"]] == ["delivered"]
    [account] = files["provider_accounts.json"]
    assert account["provider"] == "twilio" and account["label"] == "Twilio main"
    assert account["sender"] == "+15005550006"
    assert account["credentials_hint"]["auth_token"].endswith(AUTH_TOKEN[-4:])
    # The account SID is an identifier, not a secret: shown in full (issue 17 item 10).
    assert account["credentials_hint"]["account_sid"] == ACCOUNT_SID
    assert [e["url"] for e in files["callback_endpoints.json"]] == ["https://acme.example/hooks"]
    assert "Billing" in {k["name"] for k in files["api_keys.json"]}

    text = all_text(content)
    for secret in (
        AUTH_TOKEN,
        data["webhook_secret"],
        data["endpoint_secret"],
        data["key_secret"],
        data["key_hash"],
    ):
        assert secret.encode() not in text, secret[:6]
    assert b"too old to export" not in text
    assert b"secret" not in b"".join(
        json.dumps(files[n]).encode() for n in ("callback_endpoints.json", "provider_accounts.json", "api_keys.json")
    )


def test_an_export_under_legal_hold_includes_older_messages(acme, owner, data, django_capture_on_commit_callbacks):
    from django.utils import timezone

    acme.legal_hold_until = timezone.localdate() + timedelta(days=30)
    acme.save()
    export = build(acme, owner, django_capture_on_commit_callbacks)
    with export.file.open("rb") as handle:
        files = read_zip(handle.read())
    assert len(files["messages.json"]) == 2


def test_the_request_and_the_download_are_logged(acme, owner, data, django_capture_on_commit_callbacks):
    export = build(acme, owner, django_capture_on_commit_callbacks)
    assert services.claim_download(export, services.Actor(user=owner)) is True
    actions = list(AccessLog.objects.filter(organization=acme).values_list("action", flat=True))
    assert "export_requested" in actions and "export_downloaded" in actions


def test_a_second_request_while_building_returns_the_same_export(acme, owner):
    first = services.request_export(acme, services.Actor(user=owner))
    second = services.request_export(acme, services.Actor(user=owner))
    assert first.pk == second.pk
    assert DataExport.objects.count() == 1


def test_a_build_runs_once(acme, owner, django_capture_on_commit_callbacks):
    export = build(acme, owner, django_capture_on_commit_callbacks)
    assert services.build_export(export.pk) is False


# --- API ---------------------------------------------------------------------------------


def test_the_api_exports_once_with_an_admin_key(acme, data, acme_privacy_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = acme_privacy_api.post("/api/v1/exports")
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]

    detail = acme_privacy_api.get(f"/api/v1/exports/{export_id}").json()
    assert detail["state"] == "ready"
    assert detail["download_url"].endswith(f"/api/v1/exports/{export_id}/download")

    first = acme_privacy_api.get(f"/api/v1/exports/{export_id}/download")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/zip"
    assert "attachment" in first["Content-Disposition"]
    assert "messages.json" in read_zip(b"".join(first.streaming_content))

    second = acme_privacy_api.get(f"/api/v1/exports/{export_id}/download")
    assert second.status_code == 410
    assert second.json()["error"]["code"] == "export_gone"
    assert acme_privacy_api.get(f"/api/v1/exports/{export_id}").json()["state"] == "downloaded"
    log = AccessLog.objects.get(action="export_downloaded")
    assert log.api_key == acme_privacy_api.key


def test_an_expired_export_is_gone(acme, owner, acme_privacy_api, django_capture_on_commit_callbacks):
    export = build(acme, owner, django_capture_on_commit_callbacks)
    DataExport.objects.filter(pk=export.pk).update(expires_at=export.ready_at - timedelta(seconds=1))
    response = acme_privacy_api.get(f"/api/v1/exports/{export.public_id}/download")
    assert response.status_code == 410


def test_a_pending_export_is_not_ready(acme, owner, acme_privacy_api):
    export = services.request_export(acme, services.Actor(user=owner))
    response = acme_privacy_api.get(f"/api/v1/exports/{export.public_id}/download")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "export_not_ready"


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
def test_keys_below_admin_cannot_export(acme, owner, role, django_capture_on_commit_callbacks):
    export = build(acme, owner, django_capture_on_commit_callbacks)
    api = make_api_client(acme, role)
    assert api.post("/api/v1/exports").status_code == 403
    assert api.get("/api/v1/exports").status_code == 403
    assert api.get(f"/api/v1/exports/{export.public_id}").status_code == 403
    assert api.get(f"/api/v1/exports/{export.public_id}/download").status_code == 403
    export.refresh_from_db()
    assert export.state == DataExport.State.READY


def test_another_organizations_export_is_not_found(
    acme, globex, owner, globex_owner, django_capture_on_commit_callbacks
):
    export = build(acme, owner, django_capture_on_commit_callbacks)
    globex_admin = make_privacy_api_client(globex, globex_owner)
    assert globex_admin.get(f"/api/v1/exports/{export.public_id}").status_code == 404
    assert globex_admin.get(f"/api/v1/exports/{export.public_id}/download").status_code == 404
    assert globex_admin.get("/api/v1/exports").json()["results"] == []
    export.refresh_from_db()
    assert export.state == DataExport.State.READY


# --- portal ------------------------------------------------------------------------------


def test_an_owner_downloads_from_the_portal_once(acme, owner_client, data, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("portal-privacy-export"))
    assert response.status_code == 302
    export = DataExport.objects.get()
    page = owner_client.get(reverse("portal-privacy"))
    url = reverse("portal-privacy-export-download", args=[export.public_id, export.token])
    assert url in page.content.decode()

    first = owner_client.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "application/zip"
    assert "members.json" in read_zip(b"".join(first.streaming_content))
    second = owner_client.get(url)
    assert second.status_code == 302  # back to the page, with a message
    export.refresh_from_db()
    assert export.state == DataExport.State.DOWNLOADED


def test_a_wrong_token_or_another_organization_is_not_found(
    acme, globex, owner, globex_owner, client, django_capture_on_commit_callbacks
):
    export = build(acme, owner, django_capture_on_commit_callbacks)
    owner.privacy_policy_version = globex_owner.privacy_policy_version = services.current_policy_version()
    owner.save()
    globex_owner.save()
    client.force_login(owner)
    assert client.get(reverse("portal-privacy-export-download", args=[export.public_id, "wrong"])).status_code == 404
    client.force_login(globex_owner)
    url = reverse("portal-privacy-export-download", args=[export.public_id, export.token])
    assert client.get(url).status_code == 404
    export.refresh_from_db()
    assert export.state == DataExport.State.READY


def test_only_an_owner_can_export_in_the_portal(acme, member, client, django_capture_on_commit_callbacks):
    client.force_login(member)
    assert client.post(reverse("portal-privacy-export")).status_code == 403
    assert not DataExport.objects.exists()


def test_credentials_are_encrypted_in_the_database(acme, data):
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM providers_provideraccount WHERE id = %s", [data["account"].pk])
        (raw,) = cursor.fetchone()
    assert AUTH_TOKEN not in raw


def test_the_hourly_sweep_builds_an_export_whose_task_was_lost(acme, owner):
    from retention.tasks import sweep_exports

    export = DataExport.objects.create(organization=acme, requested_by=owner)  # no task was published
    DataExport.objects.filter(pk=export.pk).update(created_at=export.created_at - timedelta(minutes=10))

    assert sweep_exports.apply().get() == 1

    export.refresh_from_db()
    assert export.state == DataExport.State.READY and export.file
