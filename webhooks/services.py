"""Writes of the webhooks app.

Intake (DESIGN.md "Webhooks"): `ingest` verifies a provider's request,
stores it as a `WebhookEvent` and queues `process_event` after commit; the
view and the sandbox simulator both go through it. Processing re-parses the
stored body with the adapter and hands each status report to
`messaging.status` and each inbound message to `messaging.inbound`.

Callback endpoints: `create_endpoint`, `update_endpoint`, `delete_endpoint`.
Outgoing deliveries live in webhooks/callbacks.py.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import AccessLog, Organization
from accounts.services import SYSTEM, Actor, record_access
from messaging.models import Message
from messaging.status import apply_provider_update
from providers.base import CALLBACK_TOKEN_PARAM, ProviderAdapter, StatusUpdate, WebhookRequest, get_adapter
from providers.models import ProviderAccount
from webhooks.models import CallbackEndpoint, WebhookEvent, new_signing_secret

log = logging.getLogger(__name__)

# Providers that have an intake URL.
INTAKE_PROVIDERS = ("twilio", "infobip", "unifonic", "whatsapp", "sandbox")

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
def ingest(provider: str, account: ProviderAccount, request: WebhookRequest) -> WebhookEvent | None:
    """Verify a provider's request, store it and queue its processing.

    Returns the stored event, or None when verification failed: then nothing
    is stored and the caller answers 403. A provider's retry of a request we
    already have is stored as `ignored` (not processed again).
    """
    adapter = get_adapter(provider)
    if account.provider != provider or not adapter.verify(request, account.to_config()):
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
    original = (
        WebhookEvent.objects.filter(
            provider_account=account,
            dedup_key=dedup_key,
            state__in=[WebhookEvent.State.RECEIVED, WebhookEvent.State.PROCESSED],
        )
        .values_list("pk", flat=True)
        .first()
    )
    if original is not None:
        # Processing is idempotent anyway; this only spares the work.
        event.state = WebhookEvent.State.IGNORED
        event.error = f"Repeat of event {original}."
        event.processed_at = timezone.now()
        event.save()
        return event
    event.save()
    from webhooks import tasks

    transaction.on_commit(lambda: publish(tasks.process_webhook_event, event.pk))
    return event


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


def process_event(event: WebhookEvent | int, *, force: bool = False) -> WebhookEvent:
    """Parse a stored event and apply what it reports; safe to run twice.

    Status reports go to `apply_provider_update` (which dedups), inbound
    messages to `record_inbound` (idempotent by provider id). A body the
    adapter cannot read marks the event `failed` with the reason; so does an
    unexpected error, which is also logged. `force` processes an event that
    was processed already (`reprocess_event`).
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
            outcome = _process(locked)
            applied = (
                outcome.statuses + outcome.duplicates + outcome.pending + outcome.inbound + outcome.inbound_repeats
            )
            locked.state = WebhookEvent.State.PROCESSED if applied else WebhookEvent.State.IGNORED
            locked.error = "" if locked.state == WebhookEvent.State.PROCESSED else "Nothing to apply."
            if outcome.foreign:
                locked.error = f"{outcome.foreign} report(s) named a message of another organization; skipped."
            locked.result = outcome.as_dict()
            locked.processed_at = timezone.now()
            locked.attempts = F("attempts") + 1
            locked.save(update_fields=["state", "error", "result", "processed_at", "attempts"])
            locked.refresh_from_db(fields=["attempts"])
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


def _process(event: WebhookEvent) -> Outcome:
    from messaging.inbound import record_inbound

    outcome = Outcome()
    account = event.provider_account
    if account is None:
        return outcome  # the account was deleted: nothing of it is left to update
    adapter = get_adapter(event.provider)
    request = event.to_webhook_request()
    config = account.to_config()
    try:
        updates = _parse_statuses(adapter, request, config)
        inbound = adapter.parse_inbound(request)
    except Exception as exc:
        raise WebhookParseError(f"{exc.__class__.__name__}: {exc}") from exc
    for update in updates:
        if _belongs_elsewhere(event.provider, account, update):
            # A report may only move its own organization's messages (a
            # leaked URL token must not reach another tenant).
            outcome.foreign += 1
            log.warning("webhook event %s: a report names a message of another organization", event.pk)
            continue
        result = apply_provider_update(
            event.provider, update, webhook_event_id=event.pk, organization_id=account.organization_id
        )
        if result is False:
            outcome.pending += 1
        elif result is None:
            outcome.duplicates += 1
        else:
            outcome.statuses += 1
    for item in inbound:
        _, created = record_inbound(account, item)
        if created:
            outcome.inbound += 1
        else:
            outcome.inbound_repeats += 1
    return outcome


def _parse_statuses(adapter: ProviderAdapter, request: WebhookRequest, config) -> list[StatusUpdate]:
    # Unifonic reads its report times in the account's time zone and takes the account.
    if "account" in inspect.signature(adapter.parse_status_callback).parameters:
        return adapter.parse_status_callback(request, account=config)
    return adapter.parse_status_callback(request)


def _belongs_elsewhere(provider: str, account: ProviderAccount, update: StatusUpdate) -> bool:
    """True if the report matches a message of an organization other than the account's."""
    owner = (
        Message.objects.filter(provider=provider, provider_message_id=update.provider_message_id)
        .values_list("organization_id", flat=True)
        .first()
        if update.provider_message_id
        else None
    )
    if owner is None and update.our_message_id:
        try:
            our_id = uuid.UUID(str(update.our_message_id))
        except ValueError:
            our_id = None
        if our_id is not None:
            owner = Message.objects.filter(public_id=our_id).values_list("organization_id", flat=True).first()
    return owner is not None and owner != account.organization_id


def sweep_events(older_than_seconds: int = 60, limit: int = 500) -> int:
    """Queue processing of events left `received` (a lost publish); return how many."""
    from webhooks import tasks

    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    ids = list(
        WebhookEvent.objects.filter(state=WebhookEvent.State.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        publish(tasks.process_webhook_event, pk)
    return len(ids)


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
    from messaging.models import InboundMessage
    from messaging.phones import InvalidNumber, to_e164
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
    record_access(
        AccessLog.Action.ORGANIZATION_CHANGED,
        actor,
        organization=organization,
        callback_endpoint=str(endpoint.public_id),
        change="callback_endpoint_created",
        url=url,
    )
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
    record_access(
        AccessLog.Action.ORGANIZATION_CHANGED,
        actor,
        organization=endpoint.organization,
        callback_endpoint=str(endpoint.public_id),
        change="callback_secret_rotated",
    )
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
        record_access(
            AccessLog.Action.ORGANIZATION_CHANGED,
            actor,
            organization=endpoint.organization,
            callback_endpoint=str(endpoint.public_id),
            change="callback_endpoint_updated",
            fields=changed,
        )
    return endpoint


@transaction.atomic
def delete_endpoint(endpoint: CallbackEndpoint, *, actor: Actor = SYSTEM) -> None:
    """Delete an endpoint and its delivery log; pending deliveries stop."""
    record_access(
        AccessLog.Action.ORGANIZATION_CHANGED,
        actor,
        organization=endpoint.organization,
        callback_endpoint=str(endpoint.public_id),
        change="callback_endpoint_deleted",
        url=endpoint.url,
    )
    endpoint.delete()
