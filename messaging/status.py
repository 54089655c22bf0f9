"""The one place a message's status changes.

`apply_statuses` moves messages forward by rank (DESIGN.md "Message
lifecycle") and records a `MessageEvent` for every report, moving or not,
for many reports in one transaction; `apply_status` is the batch of one.
The dispatcher's claim (`queued` -> `sending`) and its release of a claim
for a retry (`sending` -> `queued`) are bookkeeping of our own worker, done
by conditional bulk updates in messaging/dispatch.py; an operator's retry of
a failed message goes through `apply_statuses` with `restart`
(messaging.services.retry_messages), and due scheduled messages are
released in bulk by `release_scheduled` (same event and signal per
message, one statement for all).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from messaging.bulk import insert_rows, update_rows
from messaging.models import (
    RANK,
    STATUS_TIMESTAMP,
    TERMINAL,
    Message,
    MessageEvent,
    PendingStatusUpdate,
    Status,
)
from messaging.signals import batch_memo, message_status_changed
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


@dataclass(frozen=True)
class StatusChange:
    """One status report for one message: the unit `apply_statuses` takes."""

    message_id: int
    status: str | None  # None: record an event only
    source: str  # "webhook", "dispatch", "sweeper", "operator", ...
    raw_status: str = ""
    occurred_at: datetime | None = None
    error_code: str = ""
    error_message: str = ""
    dedup_key: str = ""
    detail: dict | None = None
    restart: bool = False


def apply_statuses(changes: Sequence[StatusChange]) -> list[MessageEvent | None]:
    """Record many status reports and move each message forward where a report is ahead.

    One atomic block: one `select_for_update` of all the messages (ordered by id,
    so two batches never deadlock), the forward-only rule applied in Python (also
    across several changes for one message in the batch, in input order), one bulk
    insert of events, one bulk UPDATE of the moved messages, and the
    `message_status_changed` signal on commit for each change that moved one.

    The result is aligned with `changes`: the event recorded, or None where the
    dedup_key was seen before (in the database or earlier in the batch: providers
    repeat callbacks, so this is idempotent) or where the message no longer
    exists (purged between the match and the apply). `restart` lets an
    operator's retry send a failed message again (a new attempt).
    """
    return _apply(changes)[0]


def _apply(changes: Sequence[StatusChange]) -> tuple[list[MessageEvent | None], dict[int, Message]]:
    """`apply_statuses`, also returning the locked messages by id (as left by the changes)."""
    results: list[MessageEvent | None] = [None] * len(changes)
    if not changes:
        return results, {}
    with transaction.atomic():
        ids = sorted({change.message_id for change in changes})
        locked = {m.pk: m for m in Message.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        keyed = {change.message_id for change in changes if change.dedup_key}
        seen: set[tuple[int, str]] = set()
        if keyed:
            keys = {change.dedup_key[:200] for change in changes if change.dedup_key}
            seen = set(
                MessageEvent.objects.filter(message_id__in=keyed, dedup_key__in=keys).values_list(
                    "message_id", "dedup_key"
                )
            )
        now = timezone.now()
        events: list[MessageEvent] = []
        moved: list[tuple[Message, str, str, MessageEvent]] = []
        fields: set[str] = set()
        for index, change in enumerate(changes):
            message = locked.get(change.message_id)
            if message is None:
                continue
            key = change.dedup_key[:200]
            if key:
                if (message.pk, key) in seen:
                    continue
                seen.add((message.pk, key))
            old = message.status
            status = change.status
            moves = bool(status) and (change.restart or can_move(old, status))
            event = MessageEvent(
                message_id=message.pk,
                status=status or "",
                raw_status=change.raw_status[:64],
                source=change.source,
                applied=moves,
                provider_timestamp=change.occurred_at,
                received_at=now,
                error_code=str(change.error_code)[:64],
                error_message=str(change.error_message)[:500],
                dedup_key=key,
                detail=change.detail or {},
            )
            events.append(event)
            results[index] = event
            if moves:
                fields |= _move(message, change, now)
                moved.append((message, old, status, event))
        insert_rows(events)
        if moved:
            messages = list({message.pk: message for message, *_ in moved}.values())
            for message in messages:
                message.updated_at = now
            update_rows(messages, sorted(fields | {"updated_at"}))
            signal_on_commit(moved)
    return results, locked


# A message's sending state: what a restart (an operator's retry) clears, and what dispatch writes after a send.
ATTEMPT_FIELDS = (
    "lease_expires_at",
    "next_attempt_at",
    "attempts_on_account",
    "tried_accounts",
    "internal_errors",
    "error_code",
    "error_message",
)


def signal_on_commit(changes: Sequence[tuple[Message | int, str, str, MessageEvent]]) -> None:
    """Send `message_status_changed` for each (message, old status, new status, event) once the transaction commits.

    One batch (`batch_memo`) for them all; messages given by id are read then, in one query.
    """
    if not changes:
        return

    def notify() -> None:
        ids = [message for message, *_ in changes if isinstance(message, int)]
        loaded = Message.objects.in_bulk(ids) if ids else {}
        token = batch_memo.set({})
        try:
            for message, old, new, event in changes:
                message = loaded.get(message) if isinstance(message, int) else message
                if message is not None:
                    message_status_changed.send(
                        sender=Message, message=message, old_status=old, new_status=new, event=event
                    )
        finally:
            batch_memo.reset(token)

    transaction.on_commit(notify)


def _move(message: Message, change: StatusChange, now: datetime) -> set[str]:
    """Move `message` (in memory) to the change's status; return the fields it set."""
    status = change.status
    at = change.occurred_at or now
    fields = {"status"}
    message.status = status
    stamp = STATUS_TIMESTAMP.get(status)
    if stamp and (change.restart or getattr(message, stamp) is None):
        setattr(message, stamp, at)
        fields.add(stamp)
    # Delivery implies sending; a late "sent" never arrives for some carriers.
    if status in (Status.DELIVERED, Status.READ) and message.sent_at is None:
        message.sent_at = at
        fields.add("sent_at")
    if status == Status.READ and message.delivered_at is None:
        message.delivered_at = at
        fields.add("delivered_at")
    if change.error_code or change.error_message or status in (Status.DELIVERED, Status.READ):
        # A later success clears the error of an earlier failure report.
        message.error_code = str(change.error_code)[:64]
        message.error_message = str(change.error_message)[:500]
        fields |= {"error_code", "error_message"}
    if change.restart:
        message.lease_expires_at = None
        message.next_attempt_at = None
        message.attempts_on_account = 0
        message.tried_accounts = []
        message.internal_errors = 0
        message.error_code = ""
        message.error_message = ""
        fields.update(ATTEMPT_FIELDS)
    return fields


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
    """Record a status report for a message and move it forward if it is ahead: `apply_statuses` of one.

    Returns the event, or None if the same report (dedup_key) was applied
    before. Raises Message.DoesNotExist for a message that is not there.
    """
    pk = message.pk if isinstance(message, Message) else message
    change = StatusChange(
        message_id=pk,
        status=status,
        source=source,
        raw_status=raw_status,
        occurred_at=occurred_at,
        error_code=error_code,
        error_message=error_message,
        dedup_key=dedup_key,
        detail=detail,
        restart=restart,
    )
    (event,), locked = _apply([change])
    if pk not in locked:
        raise Message.DoesNotExist(f"Message {pk} does not exist.")
    if isinstance(message, Message):
        # Keep the caller's object in step with the row.
        for field in _CALLER_FIELDS:
            setattr(message, field, getattr(locked[pk], field))
    return event


_CALLER_FIELDS = (
    "status",
    "error_code",
    "error_message",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "queued_at",
    "canceled_at",
)


def release_scheduled(now: datetime, limit: int = 10_000) -> list[int]:
    """Move due scheduled messages to `queued`: one UPDATE and one bulk insert of events, not a
    transaction per message (a scheduled bulk send falls due all at once). Returns their ids."""
    from messaging.services import exclude_held  # services imports this module

    with transaction.atomic():
        # A paused or restricted organization's scheduled messages wait: the one rule of holding.
        due = Message.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            status=Status.SCHEDULED, scheduled_at__lte=now
        )
        ids = list(exclude_held(due).values_list("pk", flat=True)[:limit])
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
        signal_on_commit([(event.message_id, Status.SCHEDULED, Status.QUEUED, event) for event in events])
    return ids


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


def _update_from_json(data: dict) -> StatusUpdate:
    data = dict(data)
    if data.get("occurred_at"):
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
    return StatusUpdate(**data)
