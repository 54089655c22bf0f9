"""Deleting an organization: credentials and keys at once, the rest when the grace period ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog, ApiKey, Membership, Organization, User
from messaging.models import DailyStats, IdempotencyRecord, Message, OptOut, Status, Template
from providers.models import ProviderAccount
from retention import services
from retention.models import DataExport, PurgeRun
from retention.tasks import delete_due_organizations
from tests.factories import make_account
from tests.messaging.conftest import queued_rows
from tests.retention.conftest import file_exists, make_logs
from webhooks.models import CallbackEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db

SECRET = "tw-auth-token-0123456789abcdef"


@pytest.fixture
def account(acme):
    return make_account(acme, provider="twilio", credentials={"account_sid": "AC" + "0" * 32, "auth_token": SECRET})


def raw_credentials(organization) -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials FROM providers_provideraccount WHERE organization_id = %s", [organization.pk]
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_deletion_request_erases_credentials_and_revokes_keys_at_once(acme, owner, account, acme_api, settings):
    settings.ORGANIZATION_DELETION_GRACE_DAYS = 7
    assert raw_credentials(acme) != [None]
    waiting = queued_rows(acme, 2)

    before = timezone.now()
    services.request_organization_deletion(acme, services.Actor(user=owner))

    assert raw_credentials(acme) == [None]
    account.refresh_from_db()
    assert account.credentials is None and account.credentials_hint == {} and account.is_active is False
    assert not ApiKey.objects.filter(organization=acme, revoked_at__isnull=True).exists()
    assert acme_api.get("/api/v1/messages").status_code == 401
    acme.refresh_from_db()
    assert acme.is_paused
    assert acme.deletion_requested_at >= before
    assert acme.deletion_scheduled_for - acme.deletion_requested_at == timedelta(days=7)
    assert set(Message.objects.filter(pk__in=waiting).values_list("status", flat=True)) == {Status.CANCELED}
    actions = set(AccessLog.objects.filter(organization=acme).values_list("action", flat=True))
    assert {"deletion_requested", "credentials_changed", "key_revoked"} <= actions
    # The organization and its data are still there during the grace period.
    assert Organization.objects.filter(pk=acme.pk).exists()
    assert Message.objects.filter(organization=acme).exists()


def test_a_second_request_changes_nothing(acme, owner):
    services.request_organization_deletion(acme, services.Actor(user=owner))
    first = Organization.objects.get(pk=acme.pk).deletion_scheduled_for
    services.request_organization_deletion(acme, services.Actor(user=owner))
    assert Organization.objects.get(pk=acme.pk).deletion_scheduled_for == first
    assert AccessLog.objects.filter(action="deletion_requested").count() == 1


def test_delete_due_organizations_removes_everything(acme, globex, owner, account, django_capture_on_commit_callbacks):
    logs = make_logs(acme, account, timezone.now() - timedelta(days=1), tag="acme")
    media_name = logs["media"].file.name
    Template.objects.create(organization=acme, name="t", body="x")
    OptOut.objects.create(organization=acme, channel="sms", phone="+14155550100")
    CallbackEndpoint.objects.create(organization=acme, url="https://acme.example/h", events=["all"])
    DailyStats.objects.create(organization=acme, day=timezone.localdate(), channel="sms", status="sent", count=1)
    IdempotencyRecord.objects.create(organization=acme, key="k", endpoint="e", request_hash="h")
    with django_capture_on_commit_callbacks(execute=True):
        export = services.request_export(acme, services.Actor(user=owner))
    export.refresh_from_db()
    export_name = export.file.name
    theirs = make_logs(globex, make_account(globex), timezone.now() - timedelta(days=1), tag="globex")
    public_id = acme.public_id

    services.request_organization_deletion(acme, services.Actor(user=owner))
    assert delete_due_organizations.apply().get() == []  # not due yet

    Organization.objects.filter(pk=acme.pk).update(deletion_scheduled_for=timezone.now() - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        done = delete_due_organizations.apply().get()

    assert done == [str(public_id)]
    assert not Organization.objects.filter(pk=acme.pk).exists()
    for model in (
        Message,
        Template,
        OptOut,
        CallbackEndpoint,
        DailyStats,
        IdempotencyRecord,
        ProviderAccount,
        ApiKey,
        Membership,
        DataExport,
    ):
        assert not model.objects.filter(organization_id=acme.pk).exists(), model.__name__
    assert not WebhookEvent.objects.filter(pk=logs["webhook_event"].pk).exists()
    assert not file_exists(media_name) and not file_exists(export_name)
    # The people stay (they may belong elsewhere); so does the access log, with no link.
    assert User.objects.filter(pk=owner.pk).exists()
    assert AccessLog.objects.filter(
        action="organization_deleted", detail__organization_public_id=str(public_id)
    ).exists()
    run = PurgeRun.objects.get(kind=PurgeRun.Kind.ORGANIZATION_DELETION)
    assert run.completed and run.deleted["messaging.Message"] == 1
    # Another organization is untouched.
    for name, row in theirs.items():
        assert type(row).objects.filter(pk=row.pk).exists(), name


def test_an_organization_deletion_resumes_after_its_time_budget(acme, owner):
    queued_rows(acme, 30)
    services.request_organization_deletion(acme, services.Actor(user=owner))
    Organization.objects.filter(pk=acme.pk).update(deletion_scheduled_for=timezone.now())

    assert services.delete_due_organizations(budget=0) == []
    assert Organization.objects.filter(pk=acme.pk).exists()
    assert services.delete_due_organizations() == [str(acme.public_id)]


def test_a_legal_hold_postpones_the_deletion(acme, owner):
    services.set_legal_hold(acme, timezone.localdate() + timedelta(days=30), "Case 7", services.Actor())
    services.request_organization_deletion(acme, services.Actor(user=owner))
    Organization.objects.filter(pk=acme.pk).update(deletion_scheduled_for=timezone.now())

    assert services.delete_due_organizations() == []
    assert Organization.objects.filter(pk=acme.pk).exists()


def test_staff_can_cancel_a_deletion(acme, owner, account):
    services.request_organization_deletion(acme, services.Actor(user=owner))
    assert services.cancel_organization_deletion(acme, services.Actor()) is True
    acme.refresh_from_db()
    assert acme.deletion_requested_at is None and acme.deletion_scheduled_for is None and not acme.is_paused
    assert raw_credentials(acme) == [None]  # not restored
    assert services.delete_due_organizations() == []


def test_resuming_is_refused_while_a_deletion_is_pending(acme, owner):
    services.request_organization_deletion(acme, services.Actor(user=owner))
    with pytest.raises(services.PrivacyError):
        services.resume_organization(acme, services.Actor(user=owner))


def test_the_api_deletes_with_an_admin_key_and_the_name(acme, account, acme_privacy_api):
    response = acme_privacy_api.post("/api/v1/organization/delete", {"confirm": "Globex"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "confirmation_mismatch"
    assert acme_privacy_api.post("/api/v1/organization/delete", {}, format="json").status_code == 400
    acme.refresh_from_db()
    assert acme.deletion_requested_at is None

    response = acme_privacy_api.post("/api/v1/organization/delete", {"confirm": "Acme Corp"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["deletion_scheduled_for"]
    assert raw_credentials(acme) == [None]
    # The key that asked is revoked with the others.
    assert acme_privacy_api.get("/api/v1/organization").status_code == 401


def test_a_member_key_cannot_delete(acme, acme_api):
    assert acme_api.post("/api/v1/organization/delete", {"confirm": "Acme Corp"}, format="json").status_code == 403


def test_the_portal_deletes_with_the_typed_name(acme, owner_client, account):
    owner_client.post(reverse("portal-privacy-delete-organization"), {"confirm": "acme"})
    acme.refresh_from_db()
    assert acme.deletion_requested_at is None

    owner_client.post(reverse("portal-privacy-delete-organization"), {"confirm": "Acme Corp"})
    acme.refresh_from_db()
    assert acme.deletion_requested_at is not None
    assert raw_credentials(acme) == [None]
    assert "will be deleted on" in owner_client.get(reverse("portal-privacy")).content.decode()
