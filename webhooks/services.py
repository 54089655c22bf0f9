"""Writes of the webhooks app.

Intake (DESIGN.md "Webhooks"): `ingest` verifies a provider's request,
stores it as a `WebhookEvent` and wakes the drain after commit (at most
once per WEBHOOK_DRAIN_INTERVAL: no task per request); the view and the
sandbox simulator both go through it. `drain_events` takes the received
events a few hundred per transaction, re-parses each stored body with the
adapter, applies every status report of the batch with one call of the
batch status function (`messaging.status`) and hands inbound messages to
`messaging.inbound`.

Callback endpoints: `create_endpoint`, `update_endpoint`, `delete_endpoint`.
Outgoing deliveries live in webhooks/callbacks.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import AccessLog, Organization
from accounts.services import SYSTEM, Actor, record_access
from messaging.models import Message, PendingStatusUpdate
from messaging.spend import record_prices
from messaging.status import StatusChange, apply_pending_updates, apply_statuses
from providers.base import CALLBACK_TOKEN_PARAM, StatusUpdate, WebhookRequest, get_adapter, provider_names
from providers.models import ProviderAccount
from webhooks.models import CallbackEndpoint, WebhookEvent, new_signing_secret

log = logging.getLogger(__name__)

# Providers that have an intake URL: every adapter (each verifies its callbacks).
INTAKE_PROVIDERS = tuple(provider_names())

# Request headers kept on the event: enough to parse again and to debug.
# Authorization and cookies never are (Infobip's Basic password is a secret).
KEPT_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    "x-twilio-signature",
    "i-twilio-idempotency-token",
    "x-hub-signature-256",
    "x-sandbox-signature",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
)
# Query parameters that carry a secret: masked in the stored URL.
SECRET_PARAMS = (CALLBACK_TOKEN_PARAM, "hub.verify_token")
MASK = "REDACTED"


class WebhookParseError(Exception):
    """The adapter could not read a stored body."""


# --- intake ----------------------------------------------------------------------
def ingest(
    provider: str, account: ProviderAccount, request: WebhookRequest, *, log_refusal: bool = True
) -> WebhookEvent | None:
    """Verify a provider's request, store it and wake the drain.

    Returns the stored event, or None when verification failed: then nothing
    is stored and the caller answers 403 (logged unless `log_refusal` is
    off: the caller tries again). The request costs one INSERT: the
    drain (`drain_events`) finds repeats of a request we already have and
    stores them as `ignored`, and applies the rest in batches.
    """
    adapter = get_adapter(provider)
    if account.provider != provider or not adapter.verify(request, account.to_config()):
        if not log_refusal:
            return None
        log.warning(
            "webhook refused: %s account %s, signature or token did not verify (%s %s bytes, from %s)",
            provider,
            account.public_id,
            request.method,
            len(request.body),
            request.header("x-forwarded-for") or "-",
        )
        return None
    dedup_key = hashlib.sha256(f"{provider}:{account.pk}:".encode() + request.body).hexdigest()
    event = WebhookEvent(
        provider=provider,
        provider_account=account,
        method=request.method.upper()[:8],
        url=mask_url(request.url),
        headers={name: request.headers[name] for name in KEPT_HEADERS if name in request.headers},
        signature_valid=True,
        dedup_key=dedup_key,
    )
    event.raw_body = request.body
    event.save(force_insert=True)
    transaction.on_commit(wake_drain)
    return event


WAKE_KEY = "jood:webhooks:drain-wake"


def _wake_client():
    """REDIS_URL's Redis (jood/coordination.py: one client per process, REDIS_SOCKET_TIMEOUT), never the broker."""
    from jood import coordination

    return coordination.client()


def wake_drain() -> bool:
    """Publish the drain at most once per WEBHOOK_DRAIN_INTERVAL; True if this call published it.

    The first caller of an interval sets a Redis key (SET NX with the
    interval as TTL) and publishes the drain with the interval as countdown:
    the drain starts once the key is gone, so it sees every event committed
    by a caller that found the key set. Nothing is lost if the publish or
    Redis fails: the events stay `received` and `sweep_webhook_events` drains
    them. In embedded mode the drain runs at once, in this process.
    """
    from jood.celery import app
    from webhooks import tasks

    interval = float(settings.WEBHOOK_DRAIN_INTERVAL)
    if app.conf.task_always_eager or not settings.REDIS_URL:
        publish(tasks.drain_webhook_events)
        return True
    try:
        if not _wake_client().set(WAKE_KEY, b"1", nx=True, px=max(1, int(interval * 1000))):
            return False
    except Exception:
        log.warning("webhook drain wake-up failed (Redis); the sweeper will drain the events")
        return False
    publish(tasks.drain_webhook_events, countdown=interval)
    return True


def publish(task, *args, countdown: float | None = None) -> None:
    """Publish a task; a broker that is down is logged, never raised (the sweeper finds the row)."""
    try:
        if countdown:
            task.apply_async(args=args, countdown=countdown)
        else:
            task.delay(*args)
    except Exception:
        log.exception("could not publish %s%r; the sweeper will pick it up", task.name, args)


def mask_url(url: str) -> str:
    """Return the URL with secret query parameters (`?t=` tokens) masked."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name in SECRET_PARAMS for name, _ in pairs):
        return url
    query = urlencode([(name, MASK if name in SECRET_PARAMS else value) for name, value in pairs])
    return urlunsplit(parts._replace(query=query))


# --- processing ------------------------------------------------------------------
@dataclass
class Outcome:
    statuses: int = 0
    duplicates: int = 0
    pending: int = 0
    foreign: int = 0
    inbound: int = 0
    inbound_repeats: int = 0

    def as_dict(self) -> dict[str, int]:
        return {key: value for key, value in self.__dict__.items() if value}

    @property
    def applied(self) -> int:
        return self.statuses + self.duplicates + self.pending + self.inbound + self.inbound_repeats


# Events per transaction in the drain: one lock of the events, one of their
# messages, one insert of message events, one update of each.
DRAIN_BATCH = 200


def drain_events(batch_size: int = DRAIN_BATCH, time_budget: float = 50.0) -> int:
    """Process `received` events, oldest first, a batch per transaction, until none is left.

    Two drains running at once share the work (`skip_locked`). A batch that
    fails as a whole (a database error) is rolled back and its events are
    processed one by one, so one bad event never holds up the others.
    Returns how many events were processed. Past `time_budget` seconds it
    publishes itself again rather than hold its worker.
    """
    done = 0
    started = time.monotonic()
    while True:
        with transaction.atomic():
            events = list(
                WebhookEvent.objects.select_for_update(skip_locked=True)
                .filter(state=WebhookEvent.State.RECEIVED)
                .order_by("id")[:batch_size]
            )
            if not events:
                return done
            try:
                with transaction.atomic():
                    _process_batch(events)
                failed_batch = False
            except Exception:
                log.exception("webhook batch of %d events failed; processing them one by one", len(events))
                failed_batch = True
        if failed_batch:
            for event in events:
                process_event(event.pk)
        done += len(events)
        if len(events) < batch_size:
            return done
        if time.monotonic() - started > time_budget:
            from webhooks import tasks

            publish(tasks.drain_webhook_events)
            return done


def process_event(event: WebhookEvent | int, *, force: bool = False) -> WebhookEvent:
    """Parse a stored event and apply what it reports; safe to run twice.

    The drain's batch path for one event: status reports go to the batch
    status function (which dedups), inbound messages to `record_inbound`
    (idempotent by provider id). A body the adapter cannot read marks the
    event `failed` with the reason; so does an unexpected error, which is
    also logged. `force` processes an event that was processed already
    (`reprocess_event`).
    """
    pk = event.pk if isinstance(event, WebhookEvent) else event
    try:
        with transaction.atomic():
            locked = WebhookEvent.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if locked is None:
                # Another worker holds it (or it is gone).
                return WebhookEvent.objects.filter(pk=pk).first() or WebhookEvent(pk=pk)
            if locked.state != WebhookEvent.State.RECEIVED and not force:
                return locked
            _process_batch([locked], repeats=not force, raise_errors=True)
            return locked
    except WebhookParseError as exc:
        log.warning("webhook event %s could not be parsed: %s", pk, exc)
        return _mark_failed(pk, f"Could not parse: {exc}")
    except Exception as exc:
        log.exception("webhook event %s failed", pk)
        return _mark_failed(pk, f"{exc.__class__.__name__}: {exc}")


def reprocess_event(event: WebhookEvent) -> WebhookEvent:
    """Process an event again (staff, after a fix); applying it twice changes nothing."""
    return process_event(event, force=True)


def _mark_failed(pk: int, error: str) -> WebhookEvent:
    WebhookEvent.objects.filter(pk=pk).update(
        state=WebhookEvent.State.FAILED, error=error[:2000], processed_at=timezone.now(), attempts=F("attempts") + 1
    )
    return WebhookEvent.objects.get(pk=pk)


@dataclass
class _Report:
    event: WebhookEvent
    account: ProviderAccount
    update: StatusUpdate


def _process_batch(events: list[WebhookEvent], *, repeats: bool = True, raise_errors: bool = False) -> None:
    """Apply locked events in one go: parse each, match every report in two queries, apply
    all statuses with one call of the batch status function, save the events in one UPDATE.

    `repeats` marks an event whose body we already have (a provider's retry) `ignored`.
    With `raise_errors` a body that cannot be parsed raises WebhookParseError (one event);
    otherwise that event alone is marked failed.
    """
    from messaging.inbound import record_inbound

    now = timezone.now()
    outcomes: dict[int, Outcome] = {}
    errors: dict[int, str] = {}
    states: dict[int, str] = {}
    account_ids = {e.provider_account_id for e in events if e.provider_account_id}
    accounts = ProviderAccount.objects.in_bulk(account_ids) if account_ids else {}
    configs: dict[int, object] = {}

    live = events
    if repeats:
        live = []
        keys = {e.dedup_key for e in events if e.dedup_key}
        first_seen: dict[tuple[int | None, str], int] = {}
        if keys:
            batch_ids = [e.pk for e in events]
            for account_id, key, pk in (
                WebhookEvent.objects.filter(
                    provider_account_id__in=account_ids,
                    dedup_key__in=keys,
                    state__in=[WebhookEvent.State.RECEIVED, WebhookEvent.State.PROCESSED],
                )
                .exclude(pk__in=batch_ids)
                .filter(pk__lt=max(batch_ids))
                .values_list("provider_account_id", "dedup_key", "pk")
                .order_by("pk")
            ):
                first_seen.setdefault((account_id, key), pk)
        for event in events:
            original = first_seen.get((event.provider_account_id, event.dedup_key)) if event.dedup_key else None
            if original is not None and original < event.pk:
                # Processing is idempotent anyway; this only spares the work.
                states[event.pk] = WebhookEvent.State.IGNORED
                errors[event.pk] = f"Repeat of event {original}."
                continue
            if event.dedup_key:
                first_seen.setdefault((event.provider_account_id, event.dedup_key), event.pk)
            live.append(event)

    reports: list[_Report] = []
    inbound: list[tuple[WebhookEvent, ProviderAccount, object]] = []
    for event in live:
        outcomes[event.pk] = Outcome()
        account = accounts.get(event.provider_account_id)
        if account is None:
            continue  # the account was deleted: nothing of it is left to update
        if account.pk not in configs:
            configs[account.pk] = account.to_config()
        adapter = get_adapter(event.provider)
        request = event.to_webhook_request()
        try:
            updates = adapter.parse_status_callback(request, configs[account.pk])
            items = adapter.parse_inbound(request)
        except Exception as exc:
            error = WebhookParseError(f"{exc.__class__.__name__}: {exc}")
            if raise_errors:
                raise error from exc
            log.warning("webhook event %s could not be parsed: %s", event.pk, error)
            states[event.pk] = WebhookEvent.State.FAILED
            errors[event.pk] = f"Could not parse: {error}"
            continue
        reports.extend(_Report(event, account, update) for update in updates)
        inbound.extend((event, account, item) for item in items)

    _apply_reports(reports, outcomes)
    for event, account, item in inbound:
        _, created = record_inbound(account, item)
        if created:
            outcomes[event.pk].inbound += 1
        else:
            outcomes[event.pk].inbound_repeats += 1

    for event in events:
        outcome = outcomes.get(event.pk)
        if event.pk in states:
            event.state = states[event.pk]
            event.error = errors.get(event.pk, "")
            event.result = {}
        else:
            event.state = WebhookEvent.State.PROCESSED if outcome.applied else WebhookEvent.State.IGNORED
            event.error = "" if outcome.applied else "Nothing to apply."
            if outcome.foreign:
                event.error = f"{outcome.foreign} report(s) named a message of another organization; skipped."
            event.result = outcome.as_dict()
        event.processed_at = now
        event.attempts += 1
    WebhookEvent.objects.bulk_update(events, ["state", "error", "result", "processed_at", "attempts"])


def _apply_reports(reports: list[_Report], outcomes: dict[int, Outcome]) -> None:
    """Match each report to its message (by provider id, else by our id echoed back) and apply them.

    A report may only move its own organization's messages (a leaked URL
    token must not reach another tenant). A report for an id not written yet
    is kept as a `PendingStatusUpdate` and applied when the id appears.
    """
    if not reports:
        return
    by_provider_id: dict[tuple[str, str], list[tuple[int, int]]] = {}
    wanted: dict[str, set[str]] = {}
    our_ids: set[uuid.UUID] = set()
    for report in reports:
        if report.update.provider_message_id:
            wanted.setdefault(report.event.provider, set()).add(report.update.provider_message_id)
        our_id = _uuid_or_none(report.update.our_message_id)
        if our_id is not None:
            our_ids.add(our_id)
    for provider, ids in wanted.items():
        for pmid, pk, org in Message.objects.filter(provider=provider, provider_message_id__in=ids).values_list(
            "provider_message_id", "pk", "organization_id"
        ):
            by_provider_id.setdefault((provider, pmid), []).append((pk, org))
    by_our_id: dict[uuid.UUID, tuple[int, int]] = {}
    if our_ids:
        by_our_id = {
            public_id: (pk, org)
            for public_id, pk, org in Message.objects.filter(public_id__in=our_ids).values_list(
                "public_id", "pk", "organization_id"
            )
        }

    matched: list[tuple[_Report, int]] = []
    pending: list[_Report] = []
    found_by_our_id: list[tuple[int, str, str]] = []
    for report in reports:
        org = report.account.organization_id
        outcome = outcomes[report.event.pk]
        update = report.update
        candidates = by_provider_id.get((report.event.provider, update.provider_message_id), [])
        mine = [pk for pk, owner in candidates if owner == org]
        if not mine:
            our = by_our_id.get(_uuid_or_none(update.our_message_id))
            if our is not None and our[1] == org:
                mine = [our[0]]
                if update.provider_message_id:
                    found_by_our_id.append((our[0], report.event.provider, update.provider_message_id))
            elif candidates or our is not None:
                outcome.foreign += 1
                log.warning("webhook event %s: a report names a message of another organization", report.event.pk)
                continue
        if mine:
            matched.append((report, mine[0]))
        else:
            pending.append(report)

    # Found by our id (the send's answer was lost to a timeout): keep the provider's id now, so
    # later reports match by it. Rare (only after a lost answer): one UPDATE each.
    for message_id, provider, provider_message_id in found_by_our_id:
        Message.objects.filter(pk=message_id, provider_message_id="").update(
            provider=provider, provider_message_id=provider_message_id[:100]
        )
    results = apply_changes([(message_id, report.update) for report, message_id in matched])
    for (report, _), result in zip(matched, results, strict=True):
        if result is None:
            outcomes[report.event.pk].duplicates += 1
        else:
            outcomes[report.event.pk].statuses += 1

    if pending:
        PendingStatusUpdate.objects.bulk_create(
            PendingStatusUpdate(
                organization_id=report.account.organization_id,
                provider=report.event.provider,
                provider_message_id=report.update.provider_message_id,
                payload=update_to_json(report.update),
                webhook_event_id=report.event.pk,
            )
            for report in pending
        )
        for report in pending:
            outcomes[report.event.pk].pending += 1
        # The dispatcher may have committed an id between our look-up and this
        # insert; the sweeper's `match_pending_updates` catches the rest.
        late = Message.objects.filter(
            provider__in={r.event.provider for r in pending},
            provider_message_id__in={r.update.provider_message_id for r in pending if r.update.provider_message_id},
            organization_id__in={r.account.organization_id for r in pending},
        )
        for message in late:
            apply_pending_updates(message)


def apply_changes(pairs: list[tuple[int, StatusUpdate]]) -> list:
    """Apply provider reports to matched messages in one call of the batch status function,
    in order; None where a report was a repeat.

    Prices the reports carry (Infobip prices in the delivery report) are
    stored first, as the one-report path does: one UPDATE per distinct price.
    """
    record_prices((message_id, update.price, update.currency) for message_id, update in pairs if update.price)
    return apply_statuses(
        [
            StatusChange(
                message_id=message_id,
                status=update.status,
                source="webhook",
                raw_status=update.raw_status,
                occurred_at=update.occurred_at,
                error_code=update.error_code,
                error_message=update.error_message,
                dedup_key=update.dedup_key or f"{update.provider_message_id}:{update.raw_status}:{update.error_code}",
                detail=dict(update.extra or {}),
            )
            for message_id, update in pairs
        ]
    )


def update_to_json(update: StatusUpdate) -> dict:
    """A StatusUpdate as PendingStatusUpdate.payload stores it (messaging.status reads it back)."""
    data = asdict(update)
    data["occurred_at"] = update.occurred_at.isoformat() if update.occurred_at else None
    return data


def _uuid_or_none(value) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def sweep_events(older_than_seconds: int = 60) -> int:
    """Drain events left `received` for a while (a lost wake-up); return how many were waiting."""
    from webhooks import tasks

    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    waiting = WebhookEvent.objects.filter(state=WebhookEvent.State.RECEIVED, received_at__lt=cutoff).count()
    if waiting:
        publish(tasks.drain_webhook_events)
    return waiting


# --- the sandbox -----------------------------------------------------------------
def simulate_sandbox_callbacks(message_id: int) -> list[WebhookEvent]:
    """Send a sandbox message's status callbacks through `ingest`, as a real provider's would come."""
    from providers.sandbox import SandboxAdapter

    message = Message.objects.select_related("provider_account").filter(pk=message_id).first()
    if message is None or message.provider != "sandbox" or not message.provider_message_id:
        return []
    account = message.provider_account
    if account is None or account.provider != "sandbox":
        return []
    config = account.to_config()
    parts = urlsplit(config.callback_url)
    events = []
    for body, headers in SandboxAdapter().callbacks(
        config, message.provider_message_id, message.to, str(message.public_id)
    ):
        request = WebhookRequest(
            method="POST",
            url=config.callback_url,
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        )
        event = ingest("sandbox", account, request)
        if event is not None:
            events.append(event)
    return events


class SandboxError(Exception):
    """A simulated reply cannot be made (HTTP 400 in the API, a message in the portal)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def sandbox_account_for(
    organization: Organization, channel: str = "whatsapp", account: ProviderAccount | None = None
) -> ProviderAccount:
    """The organization's sandbox account to simulate a reply through (the chosen one, or the first active)."""
    if account is not None:
        if account.organization_id != organization.pk:
            raise SandboxError("unknown_provider_account", "No such provider account in this organization.")
        if account.provider != "sandbox":
            raise SandboxError(
                "not_sandbox",
                f"{account.label} is a real {account.get_provider_display()} account: only a sandbox account "
                "can simulate a reply. Real replies arrive through its webhook.",
            )
        return account
    found = (
        ProviderAccount.objects.filter(organization=organization, provider="sandbox", channel=channel, is_active=True)
        .order_by("priority", "id")
        .first()
    )
    if found is None:
        raise SandboxError(
            "no_sandbox_account",
            f"No active sandbox {channel} account: connect one to simulate a customer's reply.",
        )
    return found


def simulate_sandbox_inbound(
    organization: Organization,
    from_number: str,
    body: str,
    *,
    channel: str = "whatsapp",
    account: ProviderAccount | None = None,
):
    """Simulate a customer's reply to a sandbox account, through the same intake path as a real one.

    The signed callback is ingested and processed at once, so when this
    returns the reply is stored and (WhatsApp) the 24-hour window is open.
    Returns the stored `InboundMessage`.
    """
    from jood.phones import InvalidNumber, to_e164
    from messaging.models import InboundMessage
    from providers.sandbox import SandboxAdapter

    account = sandbox_account_for(organization, channel, account)
    try:
        phone = to_e164(from_number)
    except InvalidNumber as exc:
        raise SandboxError("invalid_number", str(exc)) from None
    config = account.to_config()
    raw, headers = SandboxAdapter().inbound_callback(config, phone, body)
    parts = urlsplit(config.callback_url)
    request = WebhookRequest(
        method="POST",
        url=config.callback_url,
        headers=headers,
        body=raw,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )
    # One transaction: the processing task that ingest publishes goes out after
    # commit and finds the event processed, so no worker can hold it while we look.
    with transaction.atomic():
        event = ingest("sandbox", account, request)
        if event is None:  # cannot happen with our own signature; say so rather than pretend
            raise SandboxError("not_verified", "The simulated reply did not verify.")
        event = process_event(event)
    provider_id = json.loads(raw)["id"]
    inbound = InboundMessage.objects.filter(provider_account=account, provider_message_id=provider_id).first()
    if inbound is None:
        raise SandboxError("not_processed", f"The simulated reply was not stored: {event.error or event.state}.")
    log.info("sandbox: simulated a %s reply to account %s", account.channel, account.public_id)
    return inbound


# --- callback endpoints ----------------------------------------------------------
def _log_endpoint_change(endpoint: CallbackEndpoint, actor: Actor, change: str, **detail) -> None:
    record_access(
        AccessLog.Action.ORGANIZATION_CHANGED,
        actor,
        organization=endpoint.organization,
        callback_endpoint=str(endpoint.public_id),
        change=change,
        **detail,
    )


@transaction.atomic
def create_endpoint(
    organization: Organization,
    url: str,
    *,
    events: list[str] | None = None,
    description: str = "",
    is_active: bool = True,
    actor: Actor = SYSTEM,
) -> tuple[CallbackEndpoint, str]:
    """Create an endpoint; return it with its signing secret (shown to the customer once)."""
    secret = new_signing_secret()
    endpoint = CallbackEndpoint.objects.create(
        organization=organization,
        url=url,
        events=list(events or ["all"]),
        description=description,
        is_active=is_active,
        secret=secret,
    )
    _log_endpoint_change(endpoint, actor, "callback_endpoint_created", url=url)
    return endpoint, secret


@transaction.atomic
def rotate_endpoint_secret(endpoint: CallbackEndpoint, *, actor: Actor = SYSTEM) -> str:
    """Give an endpoint a new signing secret and return it (shown to the customer once).

    For SECRET_ROTATION_GRACE_HOURS every delivery carries two signatures (Standard
    Webhooks allows several, space separated): one with the new secret, one with the old.
    """
    locked = CallbackEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = new_signing_secret()
    endpoint.previous_secret = locked.secret
    endpoint.secret = secret
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["previous_secret", "secret", "secret_rotated_at", "updated_at"])
    _log_endpoint_change(endpoint, actor, "callback_secret_rotated")
    return secret


ENDPOINT_FIELDS = ("url", "events", "description", "is_active")


@transaction.atomic
def update_endpoint(endpoint: CallbackEndpoint, *, actor: Actor = SYSTEM, **changes) -> CallbackEndpoint:
    """Change an endpoint's url, events, description or is_active."""
    unknown = set(changes) - set(ENDPOINT_FIELDS)
    if unknown:
        raise TypeError(f"cannot change {sorted(unknown)}")
    changed = [name for name, value in changes.items() if getattr(endpoint, name) != value]
    for name in changed:
        setattr(endpoint, name, changes[name])
    if changed:
        endpoint.save(update_fields=[*changed, "updated_at"])
        _log_endpoint_change(endpoint, actor, "callback_endpoint_updated", fields=changed)
    return endpoint


@transaction.atomic
def delete_endpoint(endpoint: CallbackEndpoint, *, actor: Actor = SYSTEM) -> None:
    """Delete an endpoint and its delivery log; pending deliveries stop."""
    _log_endpoint_change(endpoint, actor, "callback_endpoint_deleted", url=endpoint.url)
    endpoint.delete()
