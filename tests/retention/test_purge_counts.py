"""The rows a purge run and an organization's erasure report, table by table.

Written against the purge as it was on Django's delete collector and kept
when it became plain SQL: every count of a run, a dry run and an erasure must
stay what it was (staff read them on the purge-run pages).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import AccessLog, ApiKey, ApiKeyUse, Membership, Role
from messaging.models import DailyStats, IdempotencyRecord, Message, OptOut, PendingStatusUpdate, Template
from retention import purge
from retention.models import DataExport, LegalHold
from tests.factories import make_account, make_user
from tests.retention.conftest import NOW, OLD, make_logs
from webhooks.models import CallbackDelivery, CallbackEndpoint

pytestmark = pytest.mark.django_db


def make_everything(organization, at, tag: str) -> None:
    """One or more rows of every table that points at an organization, `at` old."""
    account = make_account(organization)
    make_logs(organization, account, at, tag=tag)
    logs = make_logs(organization, account, at, tag=tag + "2")
    # A message of a batch and a template: deleting the batch or template keeps the message (SET_NULL).
    template = Template.objects.create(organization=organization, name=f"t{tag}", body="x", provider_account=account)
    Message.objects.filter(pk=logs["message"].pk).update(batch=logs["batch"], template=template)
    endpoint = CallbackEndpoint.objects.create(organization=organization, url="https://example.com/h", events=["all"])
    CallbackDelivery.objects.create(
        organization=organization,
        endpoint=endpoint,
        url=endpoint.url,
        event_type="test",
        payload={},
        webhook_id=f"test_{tag}",
        created_at=at,
    )
    key = ApiKey.objects.create(
        organization=organization,
        name="k",
        prefix=f"jood_{tag}",
        hashed_key=tag * 64,
        last_used_at=at - timedelta(days=400),
        last_used_ip="10.0.0.2",
    )
    ApiKeyUse.objects.create(
        api_key=key,
        organization=organization,
        hour=at - timedelta(days=400),
        ip="10.0.0.3",
        first_seen=at - timedelta(days=400),
        last_seen=at - timedelta(days=400),
        count=1,
    )
    AccessLog.objects.create(organization=organization, api_key=key, action="key_used", at=at - timedelta(days=400))
    IdempotencyRecord.objects.create(
        organization=organization, key=tag, endpoint="send", request_hash="x", created_at=at
    )
    PendingStatusUpdate.objects.create(
        organization=organization, provider="x", provider_message_id=tag, payload={}, received_at=at
    )
    OptOut.objects.create(organization=organization, channel="sms", phone="+14155550100")
    DailyStats.objects.create(organization=organization, day=at.date(), channel="sms", status="sent", count=1)
    Membership.objects.create(organization=organization, user=make_user(f"{tag}@example.com"), role=Role.MEMBER)
    LegalHold.objects.create(organization=organization, change=LegalHold.Change.LIFTED)
    export = DataExport.objects.create(organization=organization, state=DataExport.State.READY, expires_at=at)
    name = default_storage.save(f"exports/{organization.pk}/{export.public_id}.zip", ContentFile(b"zip"))
    DataExport.objects.filter(pk=export.pk).update(file=name)


# make_everything's message logs, twice over: what a run and an erasure both delete.
LOG_COUNTS = {
    "messaging.Message": 2,
    "messaging.MessageEvent": 2,
    "messaging.DeliveryAttempt": 2,
    "webhooks.CallbackDelivery": 5,
    "webhooks.CallbackAttempt": 2,
    "messaging.InboundMessage": 2,
    "webhooks.WebhookEvent": 2,
    "messaging.MediaFile": 2,
    "messaging.MediaFile.file": 2,
}
PURGE_COUNTS = {
    **LOG_COUNTS,
    "messaging.MediaFile.unreferenced": 0,
    "messaging.ConversationWindow": 2,
    "messaging.Batch": 2,
    "messaging.IdempotencyRecord": 1,
    "messaging.PendingStatusUpdate": 1,
    "accounts.AccessLog": 1,
    "accounts.ApiKeyUse": 1,
    "accounts.ApiKey.last_used_ip": 1,
    "retention.DataExport.file": 1,
}


def test_a_run_reports_every_table_it_purged(clock, acme, django_capture_on_commit_callbacks):
    make_everything(acme, NOW - OLD, "a")

    dry = purge.run(dry_run=True)
    assert dry.deleted == PURGE_COUNTS
    with django_capture_on_commit_callbacks(execute=True):
        run = purge.run()
    assert run.deleted == PURGE_COUNTS
    assert purge.run().deleted == dict.fromkeys(PURGE_COUNTS, 0)


ERASE_COUNTS = {
    **LOG_COUNTS,
    "retention.DataExport": 1,
    "retention.DataExport.file": 1,
    "messaging.Batch": 2,
    "messaging.ConversationWindow": 2,
    "messaging.OptOut": 1,
    "messaging.DailyStats": 1,
    "messaging.IdempotencyRecord": 1,
    "messaging.Template": 1,
    "webhooks.CallbackEndpoint": 1,
    "providers.ProviderAccount": 1,
    "accounts.ApiKey": 1,
    "accounts.ApiKeyUse": 1,
    "accounts.Membership": 1,
    "retention.LegalHold": 1,
    "accounts.Organization": 1,
    "messaging.PendingStatusUpdate": 1,
}


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_erasure_reports_every_table_it_emptied(acme, globex, dry_run, django_capture_on_commit_callbacks):
    make_everything(acme, timezone.now() - timedelta(days=1), "a")
    make_everything(globex, timezone.now() - timedelta(days=1), "g")
    ctx = purge.Context(dry_run=dry_run)

    with django_capture_on_commit_callbacks(execute=True):
        assert purge.erase_organization(acme, ctx) is True

    expected = dict(ERASE_COUNTS)
    if dry_run:
        # A dry run counts each step with what hangs off it, so a row two steps reach is counted twice
        # (a message's callback deliveries, again with the organization's; a provider account's templates,
        # again with the organization's), and not what the organization's own delete would take.
        expected.update({"webhooks.CallbackDelivery": 10, "webhooks.CallbackAttempt": 4, "messaging.Template": 2})
        del expected["messaging.PendingStatusUpdate"]
    assert dict(ctx.deleted) == expected
    assert Message.objects.filter(organization=globex).count() == 2
    assert AccessLog.objects.filter(organization=globex).count() == 1
