"""Each console action calls its service, says what it did, and leaves an admin LogEntry."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import responses
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from accounts.models import AccessLog, ApiKey, Organization
from messaging.models import DeliveryAttempt, Message, Status, Template
from providers.models import ProviderAccount
from providers.sandbox import SIGNATURE_HEADER, sign
from retention.models import LegalHold, PurgeRun
from tests.factories import make_message
from webhooks.models import CallbackDelivery, WebhookEvent


def act(client, model_url: str, action: str, pks, **extra):
    return client.post(
        f"/admin/{model_url}/",
        {"action": action, "_selected_action": [str(pk) for pk in pks], **extra},
        follow=True,
    )


def logged(obj, text: str = "") -> bool:
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(type(obj), for_concrete_model=False),
        object_id=str(obj.pk),
    )
    return any(text in entry.get_change_message() for entry in entries)


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_retry_sends_a_failed_message_again_as_a_new_attempt(root_client, world, dispatching):
    failed = world["failed"]
    attempts = DeliveryAttempt.objects.filter(message=failed).count()
    with responses.RequestsMock() as customer, dispatching():
        customer.post("https://hooks.acme.example/jood")  # the world's callback endpoint hears of the send
        response = act(root_client, "messaging/message", "retry", [failed.pk])
    assert "Queued 1 message again" in " ".join(page_messages(response))
    failed.refresh_from_db()
    assert failed.status in (Status.SENT, Status.DELIVERED)
    assert failed.error_code == ""
    new = DeliveryAttempt.objects.filter(message=failed).order_by("-id")
    assert new.count() == attempts + 1
    assert new.first().outcome == DeliveryAttempt.Outcome.ACCEPTED
    assert logged(failed, "Retried")


def test_retry_skips_messages_that_did_not_fail(root_client, world, dispatching):
    delivered = world["delivered"]
    with dispatching():
        response = act(root_client, "messaging/message", "retry", [delivered.pk])
    assert "1 message skipped" in " ".join(page_messages(response))
    delivered.refresh_from_db()
    assert delivered.status == Status.DELIVERED
    assert not logged(delivered)


def test_cancel_cancels_queued_and_scheduled_messages_only(root_client, world):
    waiting = list(Message.objects.filter(status__in=[Status.QUEUED, Status.SCHEDULED]))
    assert len(waiting) == 2
    response = act(root_client, "messaging/message", "cancel", [m.pk for m in waiting] + [world["delivered"].pk])
    assert "Canceled 2 messages" in " ".join(page_messages(response))
    for message in waiting:
        message.refresh_from_db()
        assert message.status == Status.CANCELED
        assert logged(message, "Canceled")
    world["delivered"].refresh_from_db()
    assert world["delivered"].status == Status.DELIVERED


def test_reprocess_applies_a_stored_event(root_client, sandbox, dispatching):
    message = make_message(sandbox, status=Status.SENT, provider_message_id="SBreprocess01", sent_at=timezone.now())
    body = json.dumps(
        {
            "id": "SBreprocess01",
            "reference": str(message.public_id),
            "status": "delivered",
            "timestamp": round(time.time(), 3),
            "error_code": "",
            "error_message": "",
        }
    )
    # Stored earlier, failed (say a bug since fixed): it is applied now.
    event = WebhookEvent.objects.create(
        provider="sandbox",
        provider_account=sandbox,
        body=body,
        headers={"content-type": "application/json", SIGNATURE_HEADER: sign(sandbox.webhook_secret, body.encode())},
        signature_valid=True,
        state=WebhookEvent.State.FAILED,
        error="OperationalError: database is locked",
    )
    with dispatching():
        response = act(root_client, "webhooks/webhookevent", "reprocess", [event.pk])
    assert "Processed 1 event again; 0 failed" in " ".join(page_messages(response))
    event.refresh_from_db()
    message.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert message.status == Status.DELIVERED
    assert logged(event, "Processed again")


def test_testing_credentials_sets_the_health(root_client, sandbox):
    assert sandbox.health_checked_at is None
    response = act(root_client, "providers/provideraccount", "test_credentials", [sandbox.pk])
    assert "1 OK" in " ".join(page_messages(response))
    sandbox.refresh_from_db()
    assert sandbox.health_status == "ok"
    assert sandbox.health_checked_at is not None
    assert logged(sandbox, "Tested the credentials: ok")


def test_disable_and_enable_a_provider_account(root_client, sandbox):
    act(root_client, "providers/provideraccount", "disable", [sandbox.pk])
    sandbox.refresh_from_db()
    assert sandbox.is_active is False
    assert logged(sandbox, "Disabled")
    assert AccessLog.objects.filter(action="credentials_changed", detail__change="disabled").exists()

    act(root_client, "providers/provideraccount", "enable", [sandbox.pk])
    sandbox.refresh_from_db()
    assert sandbox.is_active is True
    assert logged(sandbox, "Enabled")


def test_sync_whatsapp_templates(root_client, world, monkeypatch):
    from providers.whatsapp import WhatsAppAdapter

    monkeypatch.setattr(
        WhatsAppAdapter,
        "fetch_templates",
        lambda self, account: [
            {
                "id": "99",
                "name": "appointment",
                "language": "en",
                "status": "APPROVED",
                "category": "UTILITY",
                "components": [{"type": "BODY", "text": "See you at {{1}}"}],
            }
        ],
    )
    account = world["whatsapp"]
    response = act(root_client, "providers/provideraccount", "sync_templates", [account.pk])
    assert "templates synced" in " ".join(page_messages(response))
    assert Template.objects.filter(provider_account=account, name="appointment").exists()
    assert Template.objects.get(provider_account=account, name="order_shipped").approval_status == "DELETED"
    assert logged(account, "Synced WhatsApp templates")


def test_revoke_an_api_key(root_client, acme_api):
    act(root_client, "accounts/apikey", "revoke", [acme_api.key.pk])
    key = ApiKey.objects.get(pk=acme_api.key.pk)
    assert key.revoked_at is not None
    assert logged(key, "Revoked")
    assert acme_api.get("/api/v1/messages").status_code == 401


def test_set_and_lift_a_legal_hold_through_the_intermediate_page(root_client, acme):
    first = act(root_client, "accounts/organization", "set_legal_hold", [acme.pk])
    assert first.status_code == 200
    assert b"Hold until" in first.content
    acme.refresh_from_db()
    assert acme.legal_hold_until is None

    past = act(
        root_client,
        "accounts/organization",
        "set_legal_hold",
        [acme.pk],
        apply="1",
        until=(timezone.localdate() - timedelta(days=1)).isoformat(),
        reason="Case 7",
    )
    assert b"must end today or later" in past.content
    acme.refresh_from_db()
    assert acme.legal_hold_until is None

    until = timezone.localdate() + timedelta(days=90)
    act(
        root_client,
        "accounts/organization",
        "set_legal_hold",
        [acme.pk],
        apply="1",
        until=until.isoformat(),
        reason="Subpoena 2026-17",
    )
    acme.refresh_from_db()
    assert acme.legal_hold_until == until and acme.legal_hold_reason == "Subpoena 2026-17"
    assert LegalHold.objects.filter(organization=acme, change="set").exists()
    assert logged(acme, "Legal hold set")

    act(root_client, "accounts/organization", "lift_legal_hold", [acme.pk])
    acme.refresh_from_db()
    assert acme.legal_hold_until is None
    assert logged(acme, "Legal hold lifted")


def test_pause_and_resume_an_organization(root_client, acme, sandbox):
    waiting = make_message(sandbox, status=Status.QUEUED)
    act(root_client, "accounts/organization", "pause", [acme.pk])
    acme.refresh_from_db()
    waiting.refresh_from_db()
    assert acme.paused_at is not None
    # A pause keeps waiting messages: they go on resume (issue 17 item 8).
    assert waiting.status == Status.QUEUED and waiting.error_code == ""
    assert logged(acme, "Paused")

    act(root_client, "accounts/organization", "resume", [acme.pk])
    acme.refresh_from_db()
    assert acme.paused_at is None
    assert logged(acme, "Resumed")


@pytest.fixture
def old_message(acme, sandbox):
    return make_message(
        sandbox, status=Status.DELIVERED, created_at=timezone.now() - timedelta(days=acme.retention_days + 5)
    )


def test_the_purge_of_an_organization_runs_after_a_dry_run(root_client, acme, old_message):
    young = make_message(old_message.provider_account, status=Status.DELIVERED)
    dry = act(root_client, "accounts/organization", "run_purge", [acme.pk])
    assert dry.status_code == 200
    assert b"Dry run" in dry.content and b"messaging.Message" in dry.content
    assert Message.objects.filter(pk=old_message.pk).exists()
    assert PurgeRun.objects.filter(dry_run=True, organization=acme, trigger="admin").count() == 1

    done = act(root_client, "accounts/organization", "run_purge", [acme.pk], purge="now")
    assert "Purged" in " ".join(page_messages(done))
    assert not Message.objects.filter(pk=old_message.pk).exists()
    assert Message.objects.filter(pk=young.pk).exists()
    run = PurgeRun.objects.get(dry_run=False, organization=acme)
    assert run.deleted["messaging.Message"] == 1
    assert logged(acme, "Purged from the console")


def test_the_purge_of_everyone_from_the_purge_run_page(root_client, acme, old_message):
    assert b"Run the purge now" in root_client.get("/admin/retention/purgerun/").content
    start = root_client.get("/admin/retention/purgerun/run/")
    assert start.status_code == 200 and b"Dry run first" in start.content

    dry = root_client.post("/admin/retention/purgerun/run/", {"step": "dry"})
    assert dry.status_code == 200 and b"Purge now" in dry.content
    assert dry.context["total"] >= 1
    assert Message.objects.filter(pk=old_message.pk).exists()

    done = root_client.post("/admin/retention/purgerun/run/", {"step": "now"})
    assert done.status_code == 302
    assert not Message.objects.filter(pk=old_message.pk).exists()
    run = PurgeRun.objects.get(dry_run=False)
    assert logged(run, "Ran the purge")


def test_cancel_a_scheduled_deletion(root_client, globex, root):
    from retention import services

    services.request_organization_deletion(globex, services.Actor(user=root))
    act(root_client, "retention/scheduleddeletion", "cancel_deletion", [globex.pk])
    globex.refresh_from_db()
    assert globex.deletion_requested_at is None
    assert LogEntry.objects.filter(object_id=str(globex.pk), change_message__contains="Deletion canceled").exists()


def test_retry_a_failed_callback_delivery(root_client, world):
    delivery = world["delivery"]
    act(root_client, "webhooks/callbackdelivery", "retry", [delivery.pk])
    delivery.refresh_from_db()
    assert delivery.state == CallbackDelivery.State.PENDING
    assert logged(delivery, "Queued again")


def test_an_operator_can_run_actions(operator_client, sandbox, acme):
    act(operator_client, "providers/provideraccount", "disable", [sandbox.pk])
    assert ProviderAccount.objects.get(pk=sandbox.pk).is_active is False
    act(operator_client, "accounts/organization", "pause", [acme.pk])
    assert Organization.objects.get(pk=acme.pk).paused_at is not None
