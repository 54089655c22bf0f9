"""Privacy rights as the policy promises them (issue 17 item 8).

Withdrawing consent keeps the account (restricted, reversible); restriction of
processing is a switch of its own; every member exports their own data and
owners the organization's, in JSON and CSV; the deletion grace period names a
contact and the owner can undo it; the policy lists every right.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccessLog, Role, User
from messaging import services as messaging_services
from messaging.models import Message, Status
from retention import export as exporter
from retention import services
from retention.models import DataExport
from tests.factories import make_account, make_api_client, make_user
from tests.messaging.conftest import queued_rows

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def sandbox(acme):
    return make_account(acme, default_sender="Acme")


# --- Withdrawing consent ------------------------------------------------------------------------


def test_withdrawing_consent_keeps_the_account_restricted_and_giving_it_again_lifts_it(acme, member, sandbox):
    client = client_for(member)
    send = {"channel": "sms", "to": "+14155550100", "body": "Hello"}

    response = client.post(reverse("portal-privacy-consent"), {"action": "withdraw"})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.consent_withdrawn_at is not None
    assert User.objects.filter(pk=member.pk).exists()  # not deleted
    assert AccessLog.objects.filter(user=member, action="consent_withdrawn", organization=acme).exists()
    # Restricted: pages still open, nothing sent or changed.
    page = client.get(reverse("portal-messages"))
    assert page.status_code == 200
    assert "You withdrew your consent" in page.content.decode()
    assert 'href="/portal/send/"' not in page.content.decode()
    assert client.post(reverse("portal-send"), send).status_code == 403
    assert not Message.objects.filter(organization=acme).exists()
    # Their own data stays theirs to take.
    assert client.get(reverse("portal-privacy-my-data", args=["json"])).status_code == 200

    client.post(reverse("portal-privacy-consent"), {"action": "give"})

    member.refresh_from_db()
    assert member.consent_withdrawn_at is None
    assert "You withdrew your consent" not in client.get(reverse("portal-messages")).content.decode()
    assert client.post(reverse("portal-send"), send).status_code == 302
    assert Message.objects.filter(organization=acme).count() == 1


def test_a_withdrawn_user_is_not_walled_off_when_the_policy_changes(acme, member, settings):
    services.withdraw_consent(member)
    settings.PRIVACY_POLICY_VERSION = "2099-01-01"
    assert client_for(member).get(reverse("portal-messages")).status_code == 200


# --- Restriction of processing ------------------------------------------------------------------


def test_restricting_processing_stops_sending_keeps_waiting_messages_and_lifting_sends_them(
    acme, owner, sandbox, acme_api, django_capture_on_commit_callbacks
):
    waiting = queued_rows(acme, 2)
    client = client_for(owner)

    client.post(reverse("portal-privacy-restrict"), {"action": "restrict"})

    acme.refresh_from_db()
    assert acme.processing_restricted_at is not None and acme.paused_at is None
    assert AccessLog.objects.filter(organization=acme, action="processing_restricted", user=owner).exists()
    response = acme_api.post("/api/v1/messages", {"channel": "sms", "to": "+14155550100", "body": "Hi"}, format="json")
    assert response.json()["status"] == "rejected"
    assert response.json()["error"]["code"] == "processing_restricted"
    assert [Message.objects.get(pk=pk).status for pk in waiting] == [Status.QUEUED, Status.QUEUED]
    assert "Processing is restricted" in client.get(reverse("portal-dashboard")).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("portal-privacy-restrict"), {"action": "lift"})

    acme.refresh_from_db()
    assert acme.processing_restricted_at is None
    assert all(Message.objects.get(pk=pk).status not in (Status.QUEUED, Status.REJECTED) for pk in waiting)
    assert AccessLog.objects.filter(organization=acme, action="restriction_lifted").exists()


def test_the_api_restricts_and_lifts_with_an_admin_key(acme, sandbox, acme_privacy_api, acme_admin_api, acme_api):
    # An owner's right: a plain admin key (any portal admin can mint one) is refused.
    refused = acme_admin_api.post("/api/v1/organization/restrict")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "owner_scope_required"
    acme.refresh_from_db()
    assert acme.processing_restricted_at is None

    response = acme_privacy_api.post("/api/v1/organization/restrict")
    assert response.status_code == 200, response.content
    assert response.json()["processing_restricted_at"] and response.json()["paused"] is True
    assert acme_api.post("/api/v1/organization/restrict").status_code == 403
    sent = acme_api.post("/api/v1/messages", {"channel": "sms", "to": "+14155550100", "body": "Hi"}, format="json")
    assert sent.json()["error"]["code"] == "processing_restricted"

    response = acme_privacy_api.post("/api/v1/organization/unrestrict")
    assert response.json()["processing_restricted_at"] is None and response.json()["paused"] is False
    assert AccessLog.objects.get(action="processing_restricted").api_key == acme_privacy_api.key


def test_only_an_owner_restricts_processing(acme, admin_user):
    assert client_for(admin_user).post(reverse("portal-privacy-restrict")).status_code == 403
    acme.refresh_from_db()
    assert acme.processing_restricted_at is None


def test_lifting_the_restriction_of_a_paused_organization_keeps_messages_waiting(acme, owner, sandbox):
    [pk] = queued_rows(acme, 1)
    services.pause_organization(acme)
    services.restrict_processing(acme)
    services.lift_restriction(acme)
    acme.refresh_from_db()
    assert acme.is_paused
    assert Message.objects.get(pk=pk).status == Status.QUEUED


# --- The rule dispatch applies (messaging.services) ---------------------------------------------


def test_dispatch_rule_holds_claimed_messages_of_paused_or_restricted_organizations(acme, globex):
    from messaging.dispatch import claim

    acme_ids = queued_rows(acme, 2)
    globex_ids = queued_rows(globex, 1)
    services.restrict_processing(acme)
    claimed, _lease = claim(acme_ids + globex_ids)  # the ids and the lease they hold
    messages = list(Message.objects.filter(pk__in=claimed).select_related("organization"))

    held = messaging_services.held_message_ids(messages)
    assert held == set(acme_ids)
    assert messaging_services.hold_messages(sorted(held)) == 2

    for pk in acme_ids:
        message = Message.objects.get(pk=pk)
        assert message.status == Status.QUEUED and message.attempts == 0 and message.lease_expires_at is None
    assert Message.objects.get(pk=globex_ids[0]).status == Status.SENDING
    waiting = messaging_services.exclude_held(Message.objects.filter(status=Status.QUEUED))
    assert not waiting.exists()


# --- Exports --------------------------------------------------------------------------------------


def test_every_member_downloads_their_own_data_in_json(acme, viewer, owner):
    AccessLog.objects.create(organization=acme, user=viewer, action="login", ip="192.0.2.1")
    AccessLog.objects.create(organization=acme, user=viewer, action="profile_changed", detail={"fields": ["name"]})
    AccessLog.objects.create(organization=acme, user=owner, action="login", ip="192.0.2.9")

    response = client_for(viewer).get(reverse("portal-privacy-my-data", args=["json"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["profile"]["email"] == viewer.email
    assert [m["role"] for m in data["memberships"]] == ["viewer"]
    ips = [r["ip"] for r in data["access_log"]]
    assert "192.0.2.1" in ips and "192.0.2.9" not in ips  # not the owner's
    assert {r["action"] for r in data["access_log"]} == {"login"}
    assert [r["action"] for r in data["actions"]] == ["profile_changed"]
    assert AccessLog.objects.filter(user=viewer, action="personal_export").exists()


def test_their_own_data_in_csv_is_a_zip_of_tables_with_formulas_neutralised(acme, member):
    member.name = "=HYPERLINK(1)"
    member.save()
    AccessLog.objects.create(organization=acme, user=member, action="login", ip="192.0.2.1")

    response = client_for(member).get(reverse("portal-privacy-my-data", args=["csv"]))

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert {"profile.csv", "access_log.csv", "actions.csv", "memberships.csv"} <= set(archive.namelist())
    [profile] = list(csv.DictReader(io.StringIO(archive.read("profile.csv").decode("utf-8-sig"))))
    assert profile["email"] == member.email
    assert profile["name"] == "'=HYPERLINK(1)"
    logins = list(csv.DictReader(io.StringIO(archive.read("access_log.csv").decode("utf-8-sig"))))
    assert "192.0.2.1" in [row["ip"] for row in logins]


def test_an_unknown_format_of_ones_own_data_is_not_found(member):
    assert client_for(member).get(reverse("portal-privacy-my-data", args=["xml"])).status_code == 404


def test_an_owner_exports_the_organization_as_csv(acme, owner, globex, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    Message.objects.create(organization=acme, channel="sms", to="+14155550100", body="@SUM(A1)", status="delivered")
    Message.objects.create(organization=globex, channel="sms", to="+14155550199", body="Globex", status="delivered")

    client_for(owner).post(reverse("portal-privacy-export"), {"format": "csv"})

    export = DataExport.objects.get(organization=acme)
    assert export.format == "csv"
    services.build_export(export.pk)
    export.refresh_from_db()
    archive = zipfile.ZipFile(export.file.open("rb"))
    assert "messages.csv" in archive.namelist() and "messages.json" not in archive.namelist()
    rows = list(csv.DictReader(io.StringIO(archive.read("messages.csv").decode("utf-8-sig"))))
    assert [r["body"] for r in rows] == ["'@SUM(A1)"]
    assert json.loads(rows[0]["events"]) == []


def test_the_api_takes_the_export_format_and_refuses_an_unknown_one(acme, acme_privacy_api):
    response = acme_privacy_api.post("/api/v1/exports", {"format": "csv"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["format"] == "csv"
    response = acme_privacy_api.post("/api/v1/exports", {"format": "xml"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_format"


def test_csv_cells_neutralise_formulas():
    assert [exporter.csv_cell(v) for v in ["=1+1", "+966", "-3", "@x", "ok", None, {"a": 1}]] == [
        "'=1+1",
        "'+966",
        "'-3",
        "'@x",
        "ok",
        "",
        '{"a": 1}',
    ]


# --- Deletion grace period --------------------------------------------------------------------------


def test_the_deletion_grace_period_names_a_contact_and_the_owner_undoes_it(acme, owner, settings):
    settings.PRIVACY_CONTACT_EMAIL = "dpo@jood.example"
    client = client_for(owner)
    client.post(reverse("portal-privacy-delete-organization"), {"confirm": acme.name})
    acme.refresh_from_db()
    assert acme.deletion_scheduled_for is not None

    page = client.get(reverse("portal-privacy")).content.decode()
    assert "dpo@jood.example" in page
    assert reverse("portal-privacy-cancel-deletion") in page

    client.post(reverse("portal-privacy-cancel-deletion"))

    acme.refresh_from_db()
    assert acme.deletion_scheduled_for is None and acme.paused_at is None
    assert AccessLog.objects.filter(organization=acme, action="deletion_requested", detail__change="canceled").exists()


def test_only_an_owner_undoes_a_deletion(acme, owner, admin_user):
    services.request_organization_deletion(acme)
    assert client_for(admin_user).post(reverse("portal-privacy-cancel-deletion")).status_code == 403
    acme.refresh_from_db()
    assert acme.deletion_scheduled_for is not None


# --- The policy -------------------------------------------------------------------------------------


def test_the_policy_lists_each_right_with_its_way_the_age_rule_the_data_uses_and_a_contact(client, settings):
    settings.PRIVACY_CONTACT_EMAIL = "dpo@jood.example"
    page = client.get("/privacy/").content.decode()
    for right in (
        "Access and portability",
        "Correction",
        "Withdrawing consent",
        "Restriction of processing",
        "Erasure",
        "Download my data",
        "Restrict processing",
        "Withdraw my consent",
    ):
        assert right in page, right
    assert "18 or older" in page
    assert "receipts" in page.lower() and "analytics" in page.lower()
    assert 'href="mailto:dpo@jood.example"' in page


def test_the_access_log_lists_the_new_actions_for_admins(acme, owner, admin_user):
    services.withdraw_consent(owner)
    page = client_for(admin_user).get(reverse("portal-access-log")).content.decode()
    assert "consent" in page.lower()


def test_another_member_cannot_see_someone_elses_data(acme, member, viewer):
    make_api_client(acme, Role.MEMBER)
    AccessLog.objects.create(organization=acme, user=member, action="login", ip="192.0.2.77")
    data = json.loads(client_for(viewer).get(reverse("portal-privacy-my-data", args=["json"])).content)
    assert "192.0.2.77" not in json.dumps(data)
    assert make_user  # named actors come from tests/conftest.py
