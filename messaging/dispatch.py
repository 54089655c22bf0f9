"""Dispatch: claim queued messages a chunk at a time, send the chunk concurrently, record it in one transaction.

DESIGN.md "Dispatch" and "The engine at speed". The row is the truth; a task
or a Redis set is only a hint that rows are waiting.

- A worker claims a chunk with `select_for_update(skip_locked=True)` and a
  lease, so two workers never send one message; a worker that dies leaves
  its claim to expire and the sweeper hands the rows out again.
- It builds every request, sends them concurrently (a bounded thread pool
  over each account's keep-alive session), then records the outcomes of the
  whole chunk in one short transaction: attempts and events in bulk, one
  UPDATE of the messages, statuses through `apply_statuses`. Records are
  written before the next chunk is sent; if recording fails (after a few
  quick reconnects), the worker stops and the lease brings the chunk back.
- Lanes: `publish_dispatch` adds the ids to a Redis set per lane (a hash of
  the provider account) and wakes that lane's drain task at most once per
  short interval; the drain sends what its lane holds, chunk after chunk.
- A read timeout is an `unknown` outcome: the provider may have the
  message. It is held for `DISPATCH_RECONCILE_MINUTES`, in which a callback
  carrying our id settles it, and only then goes out again.

The windows in which a message can go out twice are in README ("Duplicates").
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from messaging.bulk import insert_rows, update_rows
from messaging.models import DeliveryAttempt, MediaFile, Message, OptOut, PendingStatusUpdate, Status, Template
from messaging.ratelimit import acquire
from messaging.services import MMS_PROVIDERS, exclude_held, held_message_ids, hold_messages
from messaging.status import (
    ATTEMPT_FIELDS,
    StatusChange,
    apply_pending_updates,
    apply_statuses,
    match_pending_updates,
    release_scheduled,
)
from providers.base import OUR_ID_PARAM, MediaRef, OutboundMessage, ProviderError, TemplateRef
from providers.models import ProviderAccount

log = logging.getLogger(__name__)

# Transport failures that count toward marking an account unreachable (ACCOUNT_UNHEALTHY_AFTER).
CONNECTION_CODES = ("connection_error", "connect_timeout", "connection_lost")


def lease_seconds() -> int:
    return settings.DISPATCH_LEASE_SECONDS


def chunk_size() -> int:
    return settings.DISPATCH_CHUNK_SIZE


def reconcile_window() -> timedelta:
    """How long a send of unknown outcome waits for a callback carrying our id (DISPATCH_RECONCILE_MINUTES)."""
    return timedelta(minutes=settings.DISPATCH_RECONCILE_MINUTES)


def lanes() -> int:
    return max(1, settings.DISPATCH_LANES)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter (attempt 1 → up to 10 s, capped at 1 h), at least Retry-After."""
    base = min(3600.0, 10.0 * (2 ** min(12, max(0, attempt - 1))))
    delay = random.uniform(base / 2, base)
    if retry_after:
        delay = max(delay, retry_after)
    return delay


# --- lanes and wake-ups -----------------------------------------------------------
def lane_of(account_id: int | None) -> int:
    """The dispatch lane (queue `dispatch.<n>`) of a provider account: a hash of its id."""
    if not account_id:
        return 0
    return zlib.crc32(str(account_id).encode()) % lanes()


def lane_queue(lane: int) -> str:
    return f"dispatch.{lane}"


LANE_KEY = "jood:lane:{}"  # a Redis set of message ids waiting in a lane
WAKE_KEY = "jood:wake:{}"  # set while a wake-up of the lane is fresh (debounce)
SLOT_KEY = "jood:drain:{}:{}"  # one per drain running on a lane
PAUSE_KEY = "jood:pause:{}"  # set when recording failed: the lane sends nothing until the chunk's lease is over


def redis_client():
    """REDIS_URL's Redis (the coordination store, jood/coordination.py): never the broker, which may be RabbitMQ."""
    from jood import coordination

    return coordination.client()


def _eager() -> bool:
    """Send here and now: tasks run in this process (embedded mode, tests)."""
    from jood.celery import app

    return bool(app.conf.task_always_eager)


def publish_dispatch(message_ids: list[int]) -> None:
    """Tell the workers that these committed rows wait: a debounced wake-up of their lanes, no task per call.

    With Redis, the ids go into their lane's set and the lane's drain task is
    published only if no wake-up is fresh (SET NX with a short TTL). In
    embedded mode (and with eager tasks) the chunks are sent here and now.
    A failure is logged and swallowed: the rows are the truth and the
    sweeper finds them again, so a lost wake-up only delays.
    """
    if not message_ids:
        return
    from messaging.tasks import dispatch_messages, drain_lane

    if _eager():
        for start in range(0, len(message_ids), chunk_size()):
            try:
                dispatch_messages.apply_async(args=[message_ids[start : start + chunk_size()]], retry=False)
            except Exception:
                log.exception("dispatch of %d messages failed; the sweeper will pick them up", len(message_ids))
        return
    if not settings.REDIS_URL:
        # A broker (RabbitMQ) but no Redis to coordinate the lanes: one task per chunk on its lane's queue.
        try:
            for lane, ids in lanes_for(message_ids).items():
                for start in range(0, len(ids), chunk_size()):
                    dispatch_messages.apply_async(
                        args=[ids[start : start + chunk_size()]], queue=lane_queue(lane), retry=False
                    )
        except Exception:
            log.warning("dispatch publish failed for %d messages; the sweeper will pick them up", len(message_ids))
        return
    try:
        by_lane = lanes_for(message_ids)
        client = redis_client()
        pipe = client.pipeline(transaction=False)
        for lane, ids in by_lane.items():
            pipe.sadd(LANE_KEY.format(lane), *ids)
            pipe.set(WAKE_KEY.format(lane), 1, nx=True, px=settings.DISPATCH_WAKE_MS)
        replies = pipe.execute()
        for (lane, _), woken in zip(by_lane.items(), replies[1::2], strict=True):
            if woken:
                drain_lane.apply_async(args=[lane], queue=lane_queue(lane), retry=False)
    except Exception:
        log.warning("dispatch wake-up failed for %d messages; the sweeper will pick them up", len(message_ids))


_routes: dict[tuple[int, str], tuple[float, int | None]] = {}


def lanes_for(message_ids: list[int]) -> dict[int, list[int]]:
    """Group ids by lane: the account a message is bound to, else its organization's first routable account.

    One query on the primary key; the organization's route is kept 10 s in this process.
    """
    rows = list(
        Message.objects.filter(pk__in=message_ids).values_list(
            "pk", "organization_id", "channel", "requested_account_id", "provider_account_id"
        )
    )
    now = time.monotonic()
    missing = {(org, channel) for _, org, channel, requested, used in rows if not (requested or used)}
    missing = {key for key in missing if _routes.get(key, (0.0, None))[0] < now}
    if missing:
        found: dict[tuple[int, str], list[tuple[bool, int]]] = {key: [] for key in missing}
        accounts = (
            ProviderAccount.objects.filter(organization_id__in={org for org, _ in missing}, is_active=True)
            .order_by("priority", "id")
            .values_list("organization_id", "channel", "pk", "health_status")
        )
        for org, channel, pk, health in accounts:
            if (org, channel) in found:
                found[(org, channel)].append((health in ("", "ok"), pk))
        for key, candidates in found.items():
            healthy = [pk for ok, pk in candidates if ok]
            route = healthy[0] if healthy else (candidates[0][1] if candidates else None)
            _routes[key] = (now + 10.0, route)
    out: dict[int, list[int]] = {}
    for pk, org, channel, requested, used in rows:
        account = requested or used or _routes.get((org, channel), (0.0, None))[1]
        out.setdefault(lane_of(account), []).append(pk)
    return out


def drain(lane: int) -> int:
    """Send what the lane's set holds, chunk after chunk; return how many were accepted.

    Up to `DISPATCH_LANE_DRAINS` drains run on one lane at once (each a
    worker process); past that a wake-up exits at once. A drain stops after
    `DISPATCH_DRAIN_SECONDS` and wakes its lane again, so a long backlog
    never holds a worker for ever.
    """
    if not settings.REDIS_URL:
        # Published by a process that has REDIS_URL while this one has none: the lane's ids are in a
        # Redis this worker cannot see. The rows stay queued and the sweeper publishes them again.
        log.error("drain_lane(%s) needs REDIS_URL (the lanes' coordination store); set it on every worker", lane)
        return 0
    client = redis_client()
    if client.exists(PAUSE_KEY.format(lane)):
        return 0
    slot = _take_slot(client, lane)
    if slot is None:
        return 0
    key = LANE_KEY.format(lane)
    deadline = time.monotonic() + settings.DISPATCH_DRAIN_SECONDS
    sent = 0
    try:
        while True:
            raw = client.spop(key, chunk_size())
            if not raw:
                # Clear the wake-up, then look again: an id added meanwhile is seen here or wakes a new drain.
                client.delete(WAKE_KEY.format(lane))
                if not client.scard(key):
                    break
                continue
            if client.scard(key):
                # More waits: let another worker help (a wake-up that finds no free slot exits).
                _wake(client, lane)
            try:
                sent += dispatch(sorted(int(x) for x in raw))
            except RecordingFailed:
                # Stop sending on this lane: nothing more goes out that could not be recorded.
                # The claimed chunk comes back when its lease expires (the sweeper).
                client.set(PAUSE_KEY.format(lane), 1, px=lease_seconds() * 1000)
                raise
            if time.monotonic() > deadline:
                client.delete(WAKE_KEY.format(lane))
                _wake(client, lane)
                break
    finally:
        client.delete(slot)
    return sent


def _take_slot(client, lane: int) -> str | None:
    ttl = (settings.DISPATCH_DRAIN_SECONDS + lease_seconds()) * 1000
    for n in range(max(1, settings.DISPATCH_LANE_DRAINS)):
        slot = SLOT_KEY.format(lane, n)
        if client.set(slot, os.getpid(), nx=True, px=ttl):
            return slot
    return None


def _wake(client, lane: int) -> None:
    from messaging.tasks import drain_lane

    if client.set(WAKE_KEY.format(lane), 1, nx=True, px=settings.DISPATCH_WAKE_MS):
        drain_lane.apply_async(args=[lane], queue=lane_queue(lane), retry=False)


# --- the chunk --------------------------------------------------------------------
def claim(message_ids: list[int]) -> tuple[list[int], datetime | None]:
    """Claim due queued messages for this worker: status sending with a lease. Returns (ids, the lease's end)."""
    now = timezone.now()
    lease = now + timedelta(seconds=lease_seconds())
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk__in=message_ids, status=Status.QUEUED)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if ids:
            Message.objects.filter(pk__in=ids).update(
                status=Status.SENDING, lease_expires_at=lease, attempts=F("attempts") + 1, updated_at=now
            )
    return ids, (lease if ids else None)


@dataclass
class Outcome:
    """What happened to one claimed message in this chunk; recorded with the rest of the chunk."""

    message: Message
    account: ProviderAccount | None = None
    outbound: OutboundMessage | None = None
    started: datetime | None = None
    latency_ms: int = 0
    result: object = None  # SendResult
    error: ProviderError | None = None
    internal: BaseException | None = None
    # Decided before any send: reject (paused, opted out), fail (no account), release (rate limit).
    reject: tuple[str, str] | None = None
    fail: tuple[str, str] | None = None
    release_after: float | None = None
    extra: dict = field(default_factory=dict)


class RecordingFailed(Exception):
    """The outcomes of a chunk could not be written: stop sending, the lease brings the chunk back."""


_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """This process's send pool (made after the fork: a prefork child gets its own)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=settings.DISPATCH_CONCURRENCY, thread_name_prefix="send")
            _pool_pid = os.getpid()
    return _pool


def dispatch(message_ids: list[int]) -> int:
    """Claim, send and record the given messages in chunks; return how many a provider accepted.

    Raises RecordingFailed if a chunk's outcomes cannot be written: nothing
    more is sent, and the claimed rows come back when their lease expires.
    """
    sent = 0
    for start in range(0, len(message_ids), chunk_size()):
        sent += dispatch_chunk(message_ids[start : start + chunk_size()])
    return sent


def dispatch_chunk(message_ids: list[int]) -> int:
    claimed, lease = claim(message_ids)
    if not claimed:
        return 0
    messages = list(
        Message.objects.filter(pk__in=claimed, status=Status.SENDING)
        .select_related("organization", "template", "requested_account")
        .order_by("pk")
    )
    # A paused or restricted organization's messages wait, untouched, until it may send again.
    held = held_message_ids(messages)
    if held:
        hold_messages(sorted(held))
        messages = [m for m in messages if m.pk not in held]
    outcomes = prepare(messages)
    send_all([o for o in outcomes if o.outbound is not None])
    record_with_retries(outcomes, lease)
    return sum(1 for o in outcomes if o.result is not None or (o.error is not None and o.error.already_sent))


def prepare(messages: list[Message]) -> list[Outcome]:
    """Decide each message's account and build its request; reject or fail what cannot go. No send yet."""
    org_ids = {m.organization_id for m in messages}
    accounts_by_org: dict[int, list[ProviderAccount]] = {org: [] for org in org_ids}
    for account in ProviderAccount.objects.filter(organization_id__in=org_ids, is_active=True).order_by(
        "priority", "id"
    ):
        accounts_by_org[account.organization_id].append(account)
    # A pause or an opt-out that came after the message was accepted (a
    # scheduled message, a retry) still stops it: checked once per chunk.
    opted_out = set(
        OptOut.objects.filter(organization_id__in=org_ids, phone__in={m.to for m in messages}).values_list(
            "organization_id", "channel", "phone"
        )
    )
    outcomes = []
    configs: dict[int, object] = {}
    for message in messages:
        outcome = Outcome(message)
        outcomes.append(outcome)
        if message.organization.is_paused or not message.organization.is_active:
            outcome.reject = ("organization_paused", "Sending is paused for this organization.")
            continue
        if (message.organization_id, message.channel, message.to) in opted_out:
            outcome.reject = ("opted_out", f"{message.to} has opted out of {message.channel} messages.")
            continue
        account = choose_account(message, accounts_by_org[message.organization_id])
        if account is None:
            outcome.fail = ("no_provider_account", "No eligible provider account is left to try.")
            continue
        outcome.account = account
        try:
            # Building may upload media to the provider first (WhatsApp): its provider
            # errors are the send's errors; a file that is gone or refused cannot be sent.
            outcome.outbound = build_outbound(message, account)
        except ProviderError as error:
            outcome.error = error
        except MediaUnavailable as exc:
            outcome.error = ProviderError(
                f"The message's media cannot be sent: {exc}", permanent=True, code="media_unavailable"
            )
        except Exception as exc:  # a bug of ours: counted, and capped (`DISPATCH_MAX_INTERNAL_ERRORS`)
            log.exception("building message %s failed", message.pk)
            outcome.internal = exc
        if outcome.outbound is not None and account.pk not in configs:
            configs[account.pk] = account.to_config()
        outcome.extra["config"] = configs.get(account.pk)
    _rate_limit([o for o in outcomes if o.outbound is not None])
    return outcomes


def _rate_limit(outcomes: list[Outcome]) -> None:
    """Take each account's tokens (segments) for its part of the chunk, waiting at most a bounded time.

    What would need a longer wait is given back to the queue, due when its tokens are (no try
    counted), rather than slept on while the lease runs out.
    """
    by_account: dict[int, list[Outcome]] = {}
    for o in outcomes:
        by_account.setdefault(o.account.pk, []).append(o)
    longest = 0.0
    bound = min(settings.DISPATCH_MAX_RATE_WAIT_SECONDS, lease_seconds() / 4)
    for part in by_account.values():
        account = part[0].account
        rate = account.messages_per_second
        if rate <= 0:
            continue
        biggest = max(max(1, o.message.segments) for o in part)
        wait = acquire(account.pk, rate, sum(max(1, o.message.segments) for o in part), capacity=max(rate, biggest))
        if wait > bound:
            excess = (wait - bound) * rate
            given_back = 0
            while part and given_back < excess:
                o = part.pop()
                given_back += max(1, o.message.segments)
                o.outbound = None
                o.release_after = wait
            acquire(account.pk, rate, -given_back, capacity=max(rate, biggest))
            wait = bound if part else 0.0
        longest = max(longest, wait)
    if longest > 0:
        time.sleep(longest)


class MediaUnavailable(Exception):
    """A message's media file is gone or cannot be read."""


def send_all(outcomes: list[Outcome]) -> None:
    """Send every built request concurrently; each outcome gets its result or error."""
    if not outcomes:
        return
    if len(outcomes) == 1:
        _send(outcomes[0])
        return
    list(pool().map(_send, outcomes))


def _send(outcome: Outcome) -> None:
    adapter = outcome.account.adapter
    outcome.started = timezone.now()
    clock = time.monotonic()
    try:
        outcome.result = adapter.send(outcome.extra["config"], outcome.outbound)
    except ProviderError as error:
        outcome.error = error
    except Exception as exc:  # a bug in an adapter: ours, not the provider's
        log.exception("sending message %s failed unexpectedly", outcome.message.pk)
        outcome.internal = exc
    outcome.latency_ms = int((time.monotonic() - clock) * 1000)


def choose_account(message: Message, accounts: list[ProviderAccount]) -> ProviderAccount | None:
    """The account to try: the requested one, else the first eligible by priority and prefix not yet given up on.

    An account marked unhealthy (`health_status` other than "" or "ok") is
    skipped while a healthy eligible one is left, and used when none is.
    """
    if message.requested_account_id:
        account = message.requested_account
        if account and account.is_active and message.requested_account_id not in message.tried_accounts:
            return account
        return None
    needs_mms = message.channel == "sms" and bool(message.media)
    fallback = None
    for account in accounts:
        if (
            account.channel == message.channel
            and account.accepts(message.to)
            and account.pk not in (message.tried_accounts or [])
            and (not needs_mms or account.provider in MMS_PROVIDERS)
        ):
            if account.health_status in ("", "ok"):
                return account
            fallback = fallback or account
    return fallback


def build_outbound(message: Message, account: ProviderAccount) -> OutboundMessage:
    template_ref = None
    template: Template | None = message.template
    if template is not None and template.kind == Template.Kind.WHATSAPP:
        from messaging.services import whatsapp_components

        template_ref = TemplateRef(
            name=template.name, language=template.language, components=whatsapp_components(message.template_params)
        )
    media = tuple(media_ref(message, item, account) for item in (message.media or []))
    callback = account.callback_url
    if callback and account.adapter.our_id_in_callback_url:
        # Our id travels where the provider echoes it (Twilio calls this URL back as given).
        callback += ("&" if "?" in callback else "?") + f"{OUR_ID_PARAM}={message.public_id}"
    return OutboundMessage(
        id=str(message.public_id),
        channel=message.channel,
        to=message.to,
        sender=message.sender or account.default_sender,
        body=message.body,
        template=template_ref,
        media=media,
        status_callback_url=callback,
        segments=message.segments,
    )


def media_ref(message: Message, item: dict, account: ProviderAccount) -> MediaRef:
    if item.get("media_id"):
        from messaging.media import provider_ref

        try:
            return provider_ref(message.organization, item, account)
        except (MediaFile.DoesNotExist, OSError, ValueError) as exc:
            # The file is gone, unreadable or refused (check_media): no provider can send it.
            raise MediaUnavailable(str(exc)) from exc
    return MediaRef(kind=item.get("kind", "image"), url=item.get("url", ""), caption=item.get("caption", ""))


# --- recording --------------------------------------------------------------------
def record_with_retries(outcomes: list[Outcome], lease: datetime) -> None:
    """Record the chunk; on a lost connection reconnect and try again briefly, then give up loudly."""
    delays = settings.DISPATCH_RECORD_RETRY_DELAYS
    for attempt in range(len(delays) + 1):
        try:
            record(outcomes, lease)
            return
        except (OperationalError, InterfaceError) as exc:
            if attempt == len(delays):
                raise RecordingFailed(f"recording a chunk of {len(outcomes)} failed: {exc}") from exc
            log.warning("recording a chunk failed (%s); reconnecting", exc)
            connection.close()
            time.sleep(delays[attempt])
        except DatabaseError as exc:
            raise RecordingFailed(f"recording a chunk of {len(outcomes)} failed: {exc}") from exc


def record(outcomes: list[Outcome], lease: datetime) -> None:
    """Write the outcomes of a chunk in one transaction.

    An outcome is written only while our claim holds (the row is still
    `sending` under our lease) or lapsed unclaimed (`queued`: recording the
    acceptance then spares a resend); a row another worker has claimed since
    gets the attempt and an event, never a status from us.
    """
    now = timezone.now()
    budget = timedelta(hours=settings.DISPATCH_RETRY_BUDGET_HOURS)
    max_internal = settings.DISPATCH_MAX_INTERNAL_ERRORS
    reconcile = reconcile_window()
    with transaction.atomic():
        ids = [o.message.pk for o in outcomes]
        current = {
            pk: (status, until)
            for pk, status, until in Message.objects.select_for_update()
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", "status", "lease_expires_at")
        }
        attempts: list[DeliveryAttempt] = []
        changes: list[StatusChange] = []
        updated: list[Message] = []
        opt_outs: list[OptOut] = []
        failover: list[int] = []
        written_ids: list[Message] = []
        connection_failures: set[int] = set()
        others: dict[int, list[ProviderAccount]] = {}
        successes: set[int] = set()
        for o in outcomes:
            m = o.message
            status, until = current.get(m.pk, (None, None))
            holds = (status == Status.SENDING and until == lease) or status == Status.QUEUED
            if o.account is not None and (o.result is not None or o.error is not None or o.internal is not None):
                attempts.append(_attempt(o))
            if not holds:
                if o.result is not None:
                    changes.append(
                        StatusChange(
                            m.pk,
                            None,
                            "dispatch",
                            raw_status="accepted_after_claim_lost",
                            detail={"provider_message_id": o.result.provider_message_id},
                        )
                    )
                continue
            m.lease_expires_at = None
            if o.reject:
                m.next_attempt_at = None
                code, text = o.reject
                changes.append(StatusChange(m.pk, Status.REJECTED, "dispatch", "rejected", None, code, text))
            elif o.fail:
                m.next_attempt_at = None
                code, text = o.fail
                changes.append(StatusChange(m.pk, Status.FAILED, "dispatch", "failed", None, code, text))
            elif o.release_after is not None:
                m.status = Status.QUEUED
                m.next_attempt_at = now + timedelta(seconds=o.release_after)
                m.attempts -= 1  # not a try: it was never sent
            elif o.result is not None or (o.error is not None and o.error.already_sent):
                _accepted(m, o, changes)
                successes.add(o.account.pk)
                if m.provider_message_id:
                    written_ids.append(m)
            elif o.internal is not None:
                m.internal_errors += 1
                m.error_code, m.error_message = "internal_error", f"{o.internal.__class__.__name__}: {o.internal}"[:500]
                if m.internal_errors >= max_internal:
                    m.next_attempt_at = None
                    changes.append(
                        StatusChange(
                            m.pk,
                            Status.FAILED,
                            "dispatch",
                            "failed",
                            None,
                            "internal_error",
                            f"Sending failed {m.internal_errors} times in Jood's own code (last: {o.internal}); "
                            "an operator can retry it.",
                        )
                    )
                else:
                    m.status = Status.QUEUED
                    m.next_attempt_at = now + timedelta(seconds=backoff_seconds(m.internal_errors))
            else:
                error = o.error
                m.provider_account, m.provider = o.account, o.account.provider
                m.error_code, m.error_message = error.code[:64], error.message[:500]
                if error.code in CONNECTION_CODES:
                    connection_failures.add(o.account.pk)
                if error.permanent:
                    m.next_attempt_at = None
                    changes.append(
                        StatusChange(m.pk, Status.FAILED, "dispatch", "failed", None, error.code, error.message)
                    )
                    if error.kind == "opted_out":
                        opt_outs.append(OptOut(organization_id=m.organization_id, channel=m.channel, phone=m.to))
                elif error.outcome_unknown and not o.account.adapter.dedupes_on_our_id:
                    # The provider may have it: wait for a callback carrying our id before sending again.
                    m.status = Status.QUEUED
                    m.attempts_on_account += 1
                    m.next_attempt_at = now + reconcile
                    changes.append(
                        StatusChange(
                            m.pk,
                            None,
                            "dispatch",
                            "unknown",
                            None,
                            error.code,
                            error.message,
                            detail={"held_until": m.next_attempt_at.isoformat()},
                        )
                    )
                else:
                    if _retry(m, o.account, error, budget, now, changes, others):
                        if m.next_attempt_at <= now:
                            failover.append(m.pk)
            m.updated_at = now
            updated.append(m)

        insert_rows(attempts)
        if updated:
            update_rows(
                updated,
                [
                    "status",
                    "attempts",
                    *ATTEMPT_FIELDS,
                    "provider_account",
                    "provider",
                    "provider_message_id",
                    "segments",
                    "price",
                    "price_currency",
                    "sender",
                    "updated_at",
                ],
            )
        if changes:
            apply_statuses(changes)
        if opt_outs:
            for optout in opt_outs:
                optout.source = "provider"
            OptOut.objects.bulk_create(opt_outs, ignore_conflicts=True)
        if written_ids:
            _apply_pending([m for m in written_ids])
        _mark_health(connection_failures, successes)
        if failover:
            transaction.on_commit(lambda: publish_dispatch(failover))


def _attempt(o: Outcome) -> DeliveryAttempt:
    if o.result is not None or (o.error is not None and o.error.already_sent):
        outcome, code, text, http = DeliveryAttempt.Outcome.ACCEPTED, "", "", None
    elif o.internal is not None:
        outcome, code, text, http = (
            DeliveryAttempt.Outcome.RETRYABLE,
            "internal_error",
            f"{o.internal.__class__.__name__}: {o.internal}",
            None,
        )
    else:
        e = o.error
        if e.permanent:
            outcome = DeliveryAttempt.Outcome.PERMANENT
        elif e.outcome_unknown:
            outcome = DeliveryAttempt.Outcome.UNKNOWN
        else:
            outcome = DeliveryAttempt.Outcome.RETRYABLE
        code, text, http = e.code, e.message, e.http_status
    return DeliveryAttempt(
        message_id=o.message.pk,
        provider_account=o.account,
        started_at=o.started or timezone.now(),
        latency_ms=o.latency_ms,
        outcome=outcome,
        http_status=http,
        error_code=code[:64],
        error_message=text[:500],
    )


def _accepted(m: Message, o: Outcome, changes: list[StatusChange]) -> None:
    account = o.account
    m.provider_account, m.provider = account, account.provider
    m.next_attempt_at = None
    m.error_code, m.error_message = "", ""
    if not m.sender and account.default_sender:
        m.sender = account.default_sender
    raw = "duplicate"
    if o.result is not None:
        r = o.result
        raw = r.raw_status or "accepted"
        if r.provider_message_id:
            m.provider_message_id = r.provider_message_id
        if r.segments:
            m.segments = r.segments
        if r.price:
            m.price = r.price
            m.price_currency = r.currency
    # Whatever the provider calls its accepted state (Twilio "queued", Meta "accepted"), it has the message.
    changes.append(StatusChange(m.pk, Status.SENT, "dispatch", raw_status=raw))


def _retry(
    m: Message, account: ProviderAccount, error: ProviderError, budget: timedelta, now, changes, others: dict
) -> bool:
    """Put a retryable failure back in the queue (backoff, then fail-over, for the time budget); False if it failed."""
    tries_here = m.attempts_on_account + 1
    tried = list(m.tried_accounts or [])
    if tries_here >= account.max_attempts:
        # This account has had its tries: the next eligible one at once, else start the round again later.
        tried.append(account.pk)
        tries_here = 0
        delay = 0.0
        if m.requested_account_id or not _has_other(m, tried, others):
            tried = []
            delay = backoff_seconds(m.attempts, error.retry_after)
    else:
        delay = backoff_seconds(tries_here, error.retry_after)
    started = m.queued_at or m.created_at
    if started and now + timedelta(seconds=delay) > started + budget:
        m.next_attempt_at = None
        changes.append(StatusChange(m.pk, Status.FAILED, "dispatch", "failed", None, error.code, error.message))
        return False
    m.status = Status.QUEUED
    m.attempts_on_account = tries_here
    m.tried_accounts = tried
    m.next_attempt_at = now + timedelta(seconds=delay)
    return True


def _has_other(m: Message, tried: list[int], others: dict) -> bool:
    """Whether another eligible account of the organization is left to fail over to (accounts kept in `others`)."""
    accounts = others.get(m.organization_id)
    if accounts is None:
        accounts = list(
            ProviderAccount.objects.filter(organization_id=m.organization_id, is_active=True).order_by("priority", "id")
        )
        others[m.organization_id] = accounts
    probe = Message(channel=m.channel, to=m.to, media=m.media, tried_accounts=tried, requested_account_id=None)
    return choose_account(probe, accounts) is not None


def _apply_pending(messages: list[Message]) -> None:
    """Apply the callbacks that beat our commit of these provider ids (one query when there are none)."""
    ids = {m.provider_message_id for m in messages}
    waiting = set(
        PendingStatusUpdate.objects.filter(provider_message_id__in=ids).values_list("provider_message_id", flat=True)
    )
    for m in messages:
        if m.provider_message_id in waiting:
            apply_pending_updates(m)


def _mark_health(failed_accounts: set[int], ok_accounts: set[int]) -> None:
    """Mark an account unreachable after its last N sends failed to connect; an accepted send clears that."""
    n = settings.ACCOUNT_UNHEALTHY_AFTER
    for pk in failed_accounts - ok_accounts:
        last = list(
            DeliveryAttempt.objects.filter(provider_account_id=pk)
            .order_by("-id")
            .values_list("error_code", flat=True)[:n]
        )
        if len(last) >= n and all(code in CONNECTION_CODES for code in last):
            ProviderAccount.objects.filter(pk=pk, health_status__in=("", "ok")).update(
                health_status="unreachable",
                health_detail=f"The last {n} sends could not reach the provider.",
                health_checked_at=timezone.now(),
            )
    if ok_accounts:
        ProviderAccount.objects.filter(pk__in=ok_accounts, health_status="unreachable").update(
            health_status="ok", health_detail="A send was accepted.", health_checked_at=timezone.now()
        )


# --- the sweeper and the due-retry poll ------------------------------------------
def sweep(now=None) -> dict[str, int]:
    """Find what a lost wake-up, a dead worker or a due retry left behind, and publish it again.

    Runs every minute from beat. Each query uses the partial index on
    (status, next_attempt_at) that holds only waiting rows.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.SWEEPER_QUEUED_AGE_SECONDS)
    # Expired leases: the worker died or hung, maybe after the provider took some of its chunk.
    # Like a read timeout, the outcome is unknown: held for the reconciliation window, in which
    # a callback carrying our id settles the message; then it goes again.
    expired = list(
        Message.objects.filter(status=Status.SENDING, lease_expires_at__lt=now).values_list("pk", flat=True)[:10_000]
    )
    if expired:
        Message.objects.filter(pk__in=expired, status=Status.SENDING, lease_expires_at__lt=now).update(
            status=Status.QUEUED, lease_expires_at=None, next_attempt_at=now + reconcile_window(), updated_at=now
        )
    # Due scheduled messages.
    due_scheduled = release_scheduled(now)
    # Queued rows: due retries, and first tries whose wake-up was lost.
    waiting = list(
        exclude_held(Message.objects.filter(status=Status.QUEUED))
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=stale))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:10_000]
    )
    ids = list(dict.fromkeys(due_scheduled + waiting))
    if ids:
        publish_dispatch(ids)
    matched = match_pending_updates()
    return {
        "expired_leases": len(expired),
        "scheduled": len(due_scheduled),
        "queued": len(waiting),
        "pending_updates_applied": matched,
    }


RETRY_LOCK = "jood:lock:due-retries"


def publish_due_retries(now=None, limit: int = 5000) -> int:
    """Publish queued messages whose next try is due (every few seconds, on the `retries` queue).

    One indexed query on the sweeper's partial index; one run at a time (a
    Redis lock, or a PostgreSQL advisory lock in embedded mode is not needed:
    the embedded scheduler runs tasks one after another). Returns how many.
    """
    now = now or timezone.now()
    lock = None
    if settings.REDIS_URL:
        lock = redis_client().lock(RETRY_LOCK, timeout=30, blocking=False)
        if not lock.acquire(blocking=False):
            return 0
    try:
        ids = list(
            exclude_held(Message.objects.filter(status=Status.QUEUED, next_attempt_at__lte=now))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            publish_dispatch(ids)
        return len(ids)
    finally:
        if lock is not None:
            try:
                lock.release()
            except Exception:
                pass
