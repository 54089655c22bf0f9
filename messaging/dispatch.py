"""Dispatch: claim queued messages, send them through their provider, record the outcome.

DESIGN.md "Dispatch". The row is the truth; a task is only a hint that rows
are waiting. A worker claims rows with `select_for_update(skip_locked=True)`
and a lease, so two workers never send one message; a worker that dies
leaves its claim to expire and the sweeper hands the rows out again.

The one window in which a message can go out twice: the provider accepted
it and the worker died before the short transaction that records the
acceptance committed. Infobip and Unifonic close even that window by
deduplicating on the id we send (our message id).
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from messaging.models import DeliveryAttempt, MediaFile, Message, OptOut, Status, Template
from messaging.ratelimit import acquire
from messaging.services import MMS_PROVIDERS
from messaging.status import apply_pending_updates, apply_status, match_pending_updates, release_scheduled
from providers.base import MediaRef, OutboundMessage, ProviderError, TemplateRef
from providers.models import ProviderAccount

log = logging.getLogger(__name__)

CHUNK_SIZE = 50


def lease_seconds() -> int:
    return getattr(settings, "DISPATCH_LEASE_SECONDS", 120)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter (attempt 1 → up to 10 s, capped at 1 h), at least Retry-After."""
    base = min(3600.0, 10.0 * (2 ** max(0, attempt - 1)))
    delay = random.uniform(base / 2, base)
    if retry_after:
        delay = max(delay, retry_after)
    return delay


def publish_dispatch(message_ids: list[int]) -> None:
    """Publish dispatch tasks in chunks. A failed publish is logged and swallowed: the sweeper sends the rows."""
    from messaging.tasks import dispatch_messages

    for start in range(0, len(message_ids), CHUNK_SIZE):
        chunk = message_ids[start : start + CHUNK_SIZE]
        try:
            dispatch_messages.apply_async(args=[chunk], retry=False)
        except Exception:
            log.warning("dispatch publish failed for %d messages; the sweeper will pick them up", len(chunk))


def claim(message_ids: list[int]) -> list[int]:
    """Claim due queued messages for this worker: status sending with a lease. Returns the claimed ids."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk__in=message_ids, status=Status.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .values_list("pk", flat=True)
        )
        if ids:
            Message.objects.filter(pk__in=ids, status=Status.QUEUED).update(
                status=Status.SENDING,
                lease_expires_at=now + timedelta(seconds=lease_seconds()),
                attempts=F("attempts") + 1,
                updated_at=now,
            )
    return ids


def dispatch(message_ids: list[int]) -> int:
    """Claim and send the given messages; return how many were sent (accepted by a provider)."""
    claimed = claim(message_ids)
    if not claimed:
        return 0
    messages = list(
        Message.objects.filter(pk__in=claimed, status=Status.SENDING)
        .select_related("organization", "template", "requested_account")
        .order_by("pk")
    )
    accounts_by_org: dict[int, list[ProviderAccount]] = {}
    # A pause or an opt-out that came after the message was accepted (a
    # scheduled message, a retry) still stops it: checked once per chunk.
    opted_out = set(
        OptOut.objects.filter(
            organization_id__in={m.organization_id for m in messages}, phone__in={m.to for m in messages}
        ).values_list("organization_id", "channel", "phone")
    )
    sent = 0
    lease_started = time.monotonic()
    for index, message in enumerate(messages):
        # Keep our claim alive on a slow provider: extend the lease of the rest.
        if time.monotonic() - lease_started > lease_seconds() / 2:
            rest = [m.pk for m in messages[index:]]
            Message.objects.filter(pk__in=rest, status=Status.SENDING).update(
                lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds())
            )
            lease_started = time.monotonic()
        if message.organization_id not in accounts_by_org:
            accounts_by_org[message.organization_id] = list(
                ProviderAccount.objects.filter(organization_id=message.organization_id, is_active=True).order_by(
                    "priority", "id"
                )
            )
        if message.organization.is_paused or not message.organization.is_active:
            _reject(message, "organization_paused", "Sending is paused for this organization.")
            continue
        if (message.organization_id, message.channel, message.to) in opted_out:
            _reject(message, "opted_out", f"{message.to} has opted out of {message.channel} messages.")
            continue
        try:
            if send_one(message, accounts_by_org[message.organization_id]):
                sent += 1
        except Exception:
            # A bug must not strand the rest of the chunk; the lease brings this one back.
            log.exception("dispatch of message %s failed unexpectedly", message.pk)
    return sent


def choose_account(message: Message, accounts: list[ProviderAccount]) -> ProviderAccount | None:
    """The account to try: the requested one, else the first eligible by priority and prefix not yet given up on."""
    if message.requested_account_id:
        account = message.requested_account
        if account and account.is_active and message.requested_account_id not in message.tried_accounts:
            return account
        return None
    needs_mms = message.channel == "sms" and bool(message.media)
    for account in accounts:
        if (
            account.channel == message.channel
            and account.accepts(message.to)
            and account.pk not in (message.tried_accounts or [])
            and (not needs_mms or account.provider in MMS_PROVIDERS)
        ):
            return account
    return None


def build_outbound(message: Message, account: ProviderAccount) -> OutboundMessage:
    template_ref = None
    template: Template | None = message.template
    if template is not None and template.kind == Template.Kind.WHATSAPP:
        from messaging.services import whatsapp_components

        template_ref = TemplateRef(
            name=template.name, language=template.language, components=whatsapp_components(message.template_params)
        )
    media = tuple(media_ref(message, item, account) for item in (message.media or []))
    return OutboundMessage(
        id=str(message.public_id),
        channel=message.channel,
        to=message.to,
        sender=message.sender or account.default_sender,
        body=message.body,
        template=template_ref,
        media=media,
        status_callback_url=account.callback_url,
        segments=message.segments,
    )


def media_ref(message: Message, item: dict, account: ProviderAccount) -> MediaRef:
    if item.get("media_id"):
        from messaging.media import provider_ref

        return provider_ref(message.organization, item, account)
    return MediaRef(kind=item.get("kind", "image"), url=item.get("url", ""), caption=item.get("caption", ""))


def send_one(message: Message, accounts: list[ProviderAccount]) -> bool:
    """Send one claimed message; record the attempt and the outcome. True if accepted."""
    account = choose_account(message, accounts)
    if account is None:
        _finish_failed(message, "no_provider_account", "No eligible provider account is left to try.")
        return False
    adapter = account.adapter
    config = account.to_config()
    started = timezone.now()
    clock = time.monotonic()
    try:
        # Building may upload media to the provider first (WhatsApp): its
        # errors are the send's errors, retried or failed over alike.
        outbound = build_outbound(message, account)
        wait = acquire(account.pk, account.messages_per_second, max(1, message.segments))
        if wait > 0:
            time.sleep(wait)
            started, clock = timezone.now(), time.monotonic()
        result = adapter.send(config, outbound)
    except (MediaFile.DoesNotExist, OSError, ValueError) as exc:
        # The file is gone or refused: no provider can send this message.
        latency = int((time.monotonic() - clock) * 1000)
        error = ProviderError(f"The message's media cannot be sent: {exc}", permanent=True, code="media_unavailable")
        _record_error(message, account, started, latency, error, accounts)
        return False
    except ProviderError as error:
        latency = int((time.monotonic() - clock) * 1000)
        if error.already_sent:
            # The provider has it already (dedup on our id): a success.
            _record_accepted(message, account, started, latency, provider_message_id="", raw_status="duplicate")
            return True
        _record_error(message, account, started, latency, error, accounts)
        return False
    latency = int((time.monotonic() - clock) * 1000)
    _record_accepted(
        message,
        account,
        started,
        latency,
        provider_message_id=result.provider_message_id,
        raw_status=result.raw_status,
        status=result.status,
        segments=result.segments,
        price=result.price,
        currency=result.currency,
    )
    return True


def _record_accepted(
    message,
    account,
    started,
    latency,
    *,
    provider_message_id,
    raw_status,
    status=Status.SENT,
    segments=None,
    price="",
    currency="",
) -> None:
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            message=message,
            provider_account=account,
            started_at=started,
            latency_ms=latency,
            outcome=DeliveryAttempt.Outcome.ACCEPTED,
        )
        fields = {
            "provider_account": account,
            "provider": account.provider,
            "lease_expires_at": None,
            "next_attempt_at": None,
        }
        if not message.sender and account.default_sender:
            fields["sender"] = account.default_sender
        if provider_message_id:
            fields["provider_message_id"] = provider_message_id
        if segments:
            fields["segments"] = segments
        if price:
            fields["price"] = price
            fields["price_currency"] = currency
        Message.objects.filter(pk=message.pk).update(**fields)
        for key, value in fields.items():
            setattr(message, key, value)
        # Whatever the provider calls its accepted state (Twilio "queued",
        # Meta "accepted"), it has the message: ours is `sent`.
        apply_status(message, Status.SENT, source="dispatch", raw_status=raw_status or "accepted")
        apply_pending_updates(message)


def _record_error(
    message: Message,
    account: ProviderAccount,
    started,
    latency: int,
    error: ProviderError,
    accounts: list[ProviderAccount],
) -> None:
    outcome = DeliveryAttempt.Outcome.PERMANENT if error.permanent else DeliveryAttempt.Outcome.RETRYABLE
    DeliveryAttempt.objects.create(
        message=message,
        provider_account=account,
        started_at=started,
        latency_ms=latency,
        outcome=outcome,
        http_status=error.http_status,
        error_code=error.code[:64],
        error_message=error.message[:500],
    )
    if error.permanent:
        _finish_failed(message, error.code, error.message, account=account)
        return
    tries_here = message.attempts_on_account + 1
    tried = list(message.tried_accounts or [])
    if tries_here >= account.max_attempts:
        # This account has had its tries: fail over to the next eligible one.
        tried.append(account.pk)
        tries_here = 0
        delay = 0.0
        message.tried_accounts = tried
        if choose_account(message, accounts) is None:
            _finish_failed(message, error.code, error.message, account=account)
            return
    else:
        delay = backoff_seconds(tries_here, error.retry_after)
    # Release our claim: back to queued with the next try kept in the row.
    Message.objects.filter(pk=message.pk, status=Status.SENDING).update(
        status=Status.QUEUED,
        lease_expires_at=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        attempts_on_account=tries_here,
        tried_accounts=tried,
        error_code=error.code[:64],
        error_message=error.message[:500],
        provider_account=account,
        provider=account.provider,
    )
    message.tried_accounts = tried
    message.attempts_on_account = tries_here
    if delay == 0.0:
        # Fail-over is immediate: hand it to a worker now rather than wait for the sweeper.
        transaction.on_commit(lambda: publish_dispatch([message.pk]))


def _reject(message: Message, code: str, text: str) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(lease_expires_at=None, next_attempt_at=None)
        apply_status(
            message, Status.REJECTED, source="dispatch", raw_status="rejected", error_code=code, error_message=text
        )


def _finish_failed(message: Message, code: str, text: str, account: ProviderAccount | None = None) -> None:
    with transaction.atomic():
        updates = {"lease_expires_at": None, "next_attempt_at": None}
        if account is not None:
            updates.update(provider_account=account, provider=account.provider)
        Message.objects.filter(pk=message.pk).update(**updates)
        apply_status(
            message, Status.FAILED, source="dispatch", raw_status="failed", error_code=code, error_message=text
        )


def sweep(now=None) -> dict[str, int]:
    """Find what a lost task, a dead worker or a due retry left behind, and publish it again.

    Runs every minute from beat. Each query uses the partial index on
    (status, next_attempt_at) that holds only waiting rows.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=getattr(settings, "SWEEPER_QUEUED_AGE_SECONDS", 60))
    # Expired leases: the worker died or hung. Back to queued, due now.
    expired = list(
        Message.objects.filter(status=Status.SENDING, lease_expires_at__lt=now).values_list("pk", flat=True)[:10_000]
    )
    if expired:
        Message.objects.filter(pk__in=expired, status=Status.SENDING, lease_expires_at__lt=now).update(
            status=Status.QUEUED, lease_expires_at=None, next_attempt_at=now
        )
    # Due scheduled messages.
    due_scheduled = release_scheduled(now)
    # Queued rows: due retries, and first tries whose task was lost.
    waiting = list(
        Message.objects.filter(status=Status.QUEUED)
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=stale))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:10_000]
    )
    ids = list(dict.fromkeys(expired + due_scheduled + waiting))
    if ids:
        publish_dispatch(ids)
    matched = match_pending_updates()
    return {
        "expired_leases": len(expired),
        "scheduled": len(due_scheduled),
        "queued": len(waiting),
        "pending_updates_applied": matched,
    }
