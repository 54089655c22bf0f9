"""Fixtures of the retention tests: a fixed clock, rows of a given age, files under a temporary MEDIA_ROOT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import AccessLog, Role
from messaging.models import (
    Batch,
    ConversationWindow,
    DeliveryAttempt,
    IdempotencyRecord,
    InboundMessage,
    MediaFile,
    Message,
    MessageEvent,
    PendingStatusUpdate,
)
from retention.models import DataExport
from tests.conftest import celery_eager
from tests.factories import make_message, make_user
from webhooks.models import CallbackAttempt, CallbackDelivery, WebhookEvent

# The fixed "now" of these tests: mid-morning, far from midnight in UTC.
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
OLD = timedelta(days=91)
YOUNG = timedelta(days=89)


@pytest.fixture(autouse=True)
def eager_tasks():
    """Run published tasks in-process, on either backend (with REDIS_URL they would go to the broker)."""
    with celery_eager():
        yield


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def clock(monkeypatch):
    """Freeze django.utils.timezone.now at NOW (every module that calls timezone.now() sees it)."""
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return NOW


@pytest.fixture
def owner_client(client, owner):
    from accounts.services import current_policy_version

    owner.privacy_policy_version = current_policy_version()
    owner.save(update_fields=["privacy_policy_version"])
    client.force_login(owner)
    return client


def make_logs(organization, account, at, *, tag: str = "") -> dict:
    """One row of every purged table, `at` old; returns them by name."""
    message = make_message(organization, at, body=f"message {tag}", status="delivered")
    event = MessageEvent.objects.create(message=message, status="delivered", source="webhook", received_at=at)
    attempt = DeliveryAttempt.objects.create(
        message=message, provider_account=account, started_at=at, outcome="accepted"
    )
    delivery = CallbackDelivery.objects.create(
        organization=organization,
        message=message,
        url="https://example.com/hook",
        event_type="message.status",
        payload={"tag": tag},
        webhook_id=f"msg_{tag}_{message.pk}",
        created_at=at,
    )
    callback_attempt = CallbackAttempt.objects.create(delivery=delivery, number=1, started_at=at)
    inbound = InboundMessage.objects.create(
        organization=organization, channel="sms", from_number="+14155550101", body="STOP", created_at=at, received_at=at
    )
    inbound_delivery = CallbackDelivery.objects.create(
        organization=organization,
        inbound_message=inbound,
        url="https://example.com/hook",
        event_type="message.inbound",
        payload={},
        webhook_id=f"in_{tag}_{inbound.pk}",
        created_at=at,
    )
    webhook_event = WebhookEvent.objects.create(provider="sandbox", provider_account=account, received_at=at, body="{}")
    media = MediaFile(organization=organization, kind="image", content_type="image/png", size=3, sha256="0" * 64)
    media.file.save(f"{tag}.png", ContentFile(b"png"), save=False)
    media.save()
    MediaFile.objects.filter(pk=media.pk).update(created_at=at)
    # Sent with the message: a file no message names goes sooner (MEDIA_UNREFERENCED_DAYS).
    Message.objects.filter(pk=message.pk).update(media=[{"kind": "image", "media_id": str(media.public_id)}])
    window = ConversationWindow.objects.create(
        organization=organization, phone=f"+1415555{message.pk:04d}", last_inbound_at=at
    )
    batch = Batch.objects.create(organization=organization, channel="sms", created_at=at)
    return {
        "message": message,
        "event": event,
        "attempt": attempt,
        "delivery": delivery,
        "callback_attempt": callback_attempt,
        "inbound": inbound,
        "inbound_delivery": inbound_delivery,
        "webhook_event": webhook_event,
        "media": media,
        "window": window,
        "batch": batch,
    }


def exists(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


def file_exists(name: str) -> bool:
    return default_storage.exists(name)


__all__ = [
    "NOW",
    "OLD",
    "YOUNG",
    "AccessLog",
    "DataExport",
    "IdempotencyRecord",
    "PendingStatusUpdate",
    "Role",
    "exists",
    "file_exists",
    "make_logs",
    "make_user",
]
