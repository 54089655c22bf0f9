"""The one place a message's status changes.

`apply_status` moves a message forward by rank (DESIGN.md "Message
lifecycle") and records a `MessageEvent` for every report, moving or not.
The dispatcher's claim (`queued` -> `sending`) and its release of a claim
for a retry (`sending` -> `queued`) are bookkeeping of our own worker, done
by conditional bulk updates in messaging/dispatch.py; an operator's retry of
a failed message goes through `apply_status(..., restart=True)`, and due
scheduled messages are released in bulk by `release_scheduled` (same
event and signal per message, one statement for all).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from messaging.models import (
    RANK,
    STATUS_TIMESTAMP,
    TERMINAL,
    Message,
    MessageEvent,
    PendingStatusUpdate,
    Status,
)
from messaging.signals import message_status_changed
from providers.base import StatusUpdate

log = logging.getLogger(__name__)


def can_move(old: str, new: str) -> bool:
    """True if `new` is ahead of `old` (a repeat or a step back is not)."""
    if old in TERMINAL:
        return False
    if new == Status.CANCELED:
        return old in (Status.SCHEDULED, Status.QUEUED)
    if new == Status.REJECTED:
        return old in (Status.SCHEDULED, Status.QUEUED, Status.SENDING)
    return RANK.get(new, -1) > RANK.get(old, -1)


def apply_status(
    message: Message | int,
    status: str | None,
    *,
    source: str,
    raw_status: str = "",
    occurred_at: datetime | None = None,
    error_code: str = "",
    error_message: str = "",
    dedup_key: str = "",
    detail: dict | None = None,
    restart: bool = False,
) -> MessageEvent | None:
    """Record a status report for a message and move it forward if it is ahead.

    Returns the event, or None if the same report (dedup_key) was applied
    before: providers repeat callbacks, so this is idempotent. `restart`
    lets an operator's retry send a failed message again (a new attempt).
    """
    with transaction.atomic():
        pk = message.pk if isinstance(message, Message) else message
        locked = Message.objects.select_for_update().get(pk=pk)
        if dedup_key and MessageEvent.objects.filter(message=locked, dedup_key=dedup_key).exists():
            return None
        old = locked.status
        moves = bool(status) and (restart or can_move(old, status))
        event = MessageEvent.objects.create(
            message=locked,
            status=status or "",
            raw_status=raw_status[:64],
            source=source,
            applied=moves,
            provider_timestamp=occurred_at,
            error_code=str(error_code)[:64],
            error_message=str(error_message)[:500],
            dedup_key=dedup_key[:200],
            detail=detail or {},
        )
        if moves:
            fields = ["status", "updated_at"]
            locked.status = status
            stamp = STATUS_TIMESTAMP.get(status)
            if stamp and (restart or getattr(locked, stamp) is None):
                setattr(locked, stamp, occurred_at or event.received_at)
                fields.append(stamp)
            # Delivery implies sending; a late "sent" never arrives for some carriers.
            if status in (Status.DELIVERED, Status.READ) and locked.sent_at is None:
                locked.sent_at = occurred_at or event.received_at
                fields.append("sent_at")
            if status == Status.READ and locked.delivered_at is None:
                locked.delivered_at = occurred_at or event.received_at
                fields.append("delivered_at")
            if error_code or error_message or status in (Status.DELIVERED, Status.READ):
                # A later success clears the error of an earlier failure report.
                locked.error_code = str(error_code)[:64]
                locked.error_message = str(error_message)[:500]
                fields += ["error_code", "error_message"]
            if restart:
                locked.lease_expires_at = None
                locked.next_attempt_at = None
                locked.attempts_on_account = 0
                locked.tried_accounts = []
                locked.error_code = ""
                locked.error_message = ""
                fields += [
                    "lease_expires_at",
                    "next_attempt_at",
                    "attempts_on_account",
                    "tried_accounts",
                    "error_code",
                    "error_message",
                ]
            locked.save(update_fields=sorted(set(fields)))
            transaction.on_commit(
                lambda: message_status_changed.send(
                    sender=Message, message=locked, old_status=old, new_status=status, event=event
                )
            )
        if isinstance(message, Message):
            # Keep the caller's object in step with the row.
            for field in ("status", "error_code", "error_message", "sent_at", "delivered_at", "read_at", "failed_at"):
                setattr(message, field, getattr(locked, field))
        return event


def release_scheduled(now: datetime, limit: int = 10_000) -> list[int]:
    """Move due scheduled messages to `queued`: one UPDATE and one bulk insert of events, not a
    transaction per message (a scheduled bulk send falls due all at once). Returns their ids."""
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SCHEDULED, scheduled_at__lte=now)
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Message.objects.filter(pk__in=ids).update(status=Status.QUEUED, queued_at=now, updated_at=now)
        events = MessageEvent.objects.bulk_create(
            MessageEvent(
                message_id=pk,
                status=Status.QUEUED,
                raw_status="scheduled_due",
                source="sweeper",
                applied=True,
                received_at=now,
            )
            for pk in ids
        )

        def notify() -> None:
            messages = Message.objects.in_bulk(ids)
            for event in events:
                message_status_changed.send(
                    sender=Message,
                    message=messages[event.message_id],
                    old_status=Status.SCHEDULED,
                    new_status=Status.QUEUED,
                    event=event,
                )

        transaction.on_commit(notify)
    return ids


def apply_provider_update(
    provider: str,
    update: StatusUpdate,
    *,
    source: str = "webhook",
    webhook_event_id: int | None = None,
    organization_id: int | None = None,
) -> MessageEvent | None | bool:
    """Apply a provider's status report, matched by its message id (or ours, where echoed).

    Returns False when no message matches yet: the update is kept as a
    `PendingStatusUpdate` and applied when the id is written (the callback
    can beat our own commit of the provider id). `organization_id` (the
    verified account's) keeps a callback from touching another
    organization's message through an id it echoes.
    """
    messages = Message.objects.all()
    if organization_id is not None:
        messages = messages.filter(organization_id=organization_id)
    message_id = (
        messages.filter(provider=provider, provider_message_id=update.provider_message_id)
        .values_list("pk", flat=True)
        .first()
    )
    our_id = _uuid_or_none(update.our_message_id) if update.our_message_id else None
    if message_id is None and our_id is not None:
        message_id = messages.filter(public_id=our_id).values_list("pk", flat=True).first()
    if message_id is None:
        PendingStatusUpdate.objects.create(
            organization_id=organization_id,
            provider=provider,
            provider_message_id=update.provider_message_id,
            payload=_update_to_json(update),
            webhook_event_id=webhook_event_id,
        )
        # The dispatcher may have committed the id between our look-up and
        # this insert; the sweeper's `match_pending_updates` catches the rest.
        message = messages.filter(provider=provider, provider_message_id=update.provider_message_id).first()
        if message is not None:
            apply_pending_updates(message)
        return False
    return _apply_update(message_id, update, source)


def _apply_update(message_id: int, update: StatusUpdate, source: str) -> MessageEvent | None:
    detail = dict(update.extra or {})
    if update.price:
        from messaging.spend import record_prices

        record_prices([(message_id, update.price, update.currency)])
    return apply_status(
        message_id,
        update.status,
        source=source,
        raw_status=update.raw_status,
        occurred_at=update.occurred_at,
        error_code=update.error_code,
        error_message=update.error_message,
        dedup_key=update.dedup_key or f"{update.provider_message_id}:{update.raw_status}:{update.error_code}",
        detail=detail,
    )


def apply_pending_updates(message: Message) -> int:
    """Apply the kept updates for a message whose provider id was just written."""
    if not message.provider_message_id:
        return 0
    pending = list(
        PendingStatusUpdate.objects.filter(provider=message.provider, provider_message_id=message.provider_message_id)
        .filter(Q(organization_id=message.organization_id) | Q(organization__isnull=True))
        .order_by("received_at", "id")
    )
    for item in pending:
        _apply_update(message.pk, _update_from_json(item.payload), "webhook")
    PendingStatusUpdate.objects.filter(pk__in=[p.pk for p in pending]).delete()
    return len(pending)


def match_pending_updates(limit: int = 1000) -> int:
    """Apply kept updates whose message id has been written since (run by the sweeper)."""
    from django.db.models import Exists, OuterRef

    matched = Message.objects.filter(provider=OuterRef("provider"), provider_message_id=OuterRef("provider_message_id"))
    same_organization = matched.filter(organization_id=OuterRef("organization_id"))
    pairs = (
        PendingStatusUpdate.objects.filter((Q(organization__isnull=True) & Exists(matched)) | Exists(same_organization))
        .values_list("provider", "provider_message_id")
        .distinct()[:limit]
    )
    applied = 0
    for provider, provider_message_id in list(pairs):
        message = Message.objects.filter(provider=provider, provider_message_id=provider_message_id).first()
        if message is not None:
            applied += apply_pending_updates(message)
    return applied


def _uuid_or_none(value: str):
    import uuid

    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _update_to_json(update: StatusUpdate) -> dict:
    data = asdict(update)
    data["occurred_at"] = update.occurred_at.isoformat() if update.occurred_at else None
    return data


def _update_from_json(data: dict) -> StatusUpdate:
    data = dict(data)
    if data.get("occurred_at"):
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
    return StatusUpdate(**data)
