"""Outgoing callbacks: signed POSTs to customers' endpoints, retried for over 24 hours.

Signed the Standard Webhooks way (https://www.standardwebhooks.com/), with
the `standardwebhooks` package, the reference implementation customers verify
with: `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the base64-decoded
part of the endpoint's `whsec_` secret.

A delivery to a message's own `callback_url` has no endpoint: it is signed
with the organization's default secret, the secret of its oldest active
endpoint, and goes unsigned when the organization has no endpoint.

Every try leaves a `CallbackAttempt`. The row keeps `next_attempt_at`;
`deliver_due_callbacks` (celery-beat, every minute) sends what is due, so
no retry waits in the broker as a countdown.

Before each POST the host is resolved and refused if any address is not a
public one (loopback, private, link-local, multicast, reserved, unspecified,
cloud metadata), and the connected socket is checked again, so DNS that
changes between the check and the connect does not get through either: the
guard of jood/outbound.py, the same the provider adapters use.
`OUTBOUND_ALLOW_PRIVATE` (old name `CALLBACKS_ALLOW_PRIVATE`) lifts it (tests,
local development).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks import Webhook

from jood.crypto import is_undecryptable
from jood.outbound import (  # noqa: F401  (re-exported: the callback API's names)
    UnsafeDestination,
    allow_private,
    check_destination,
    guarded_session,
    is_forbidden_address,
    validate_url,
)
from messaging.models import Batch, Message
from messaging.models import InboundMessage as InboundRow
from messaging.signals import batch_memo
from providers.base import parse_retry_after
from webhooks.models import (
    CallbackAttempt,
    CallbackDelivery,
    CallbackEndpoint,
    CallbackEvent,
)

log = logging.getLogger(__name__)

# Seconds to wait after failed try n (1-based) before try n+1. Together
# with jitter the last try comes more than 24 hours after the first.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.1  # +/- 10 %
# A claimed delivery is not due again for this long (a worker that dies mid-try).
CLAIM_SECONDS = 5 * 60
TIMEOUT = (5.0, 15.0)  # connect, read
USER_AGENT = "JoodNotifications-Webhooks/1.0"


# --- signing ---------------------------------------------------------------------
def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value for a body: `v1,<base64 HMAC-SHA256>`.

    `Webhook` takes the `whsec_` secret as stored and signs the body as text:
    ours is always UTF-8 (`encode_payload`), so the signed bytes are the posted ones.
    """
    at = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(msg_id=webhook_id, timestamp=at, data=body.decode("utf-8"))


def encode_payload(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- payloads --------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def status_payload(message: Message, *, new_status: str, old_status: str = "", event=None) -> dict:
    """Return the `message.status` payload of a status change."""
    batch_id = None
    if message.batch_id:
        batch = Batch.objects.filter(pk=message.batch_id).values_list("public_id", flat=True).first()
        batch_id = str(batch) if batch else None
    error = None
    if message.error_code or message.error_message:
        error = {"code": message.error_code, "message": message.error_message}
    data = {
        "id": str(message.public_id),
        "status": new_status,
        "previous_status": old_status or None,
        "channel": message.channel,
        "to": message.to,
        "from": message.sender or None,
        "provider": message.provider or None,
        "provider_message_id": message.provider_message_id or None,
        "error": error,
        "segments": message.segments,
        "metadata": message.metadata or {},
        "batch_id": batch_id,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "delivered_at": _iso(message.delivered_at),
        "read_at": _iso(message.read_at),
        "failed_at": _iso(message.failed_at),
    }
    if event is not None:
        data["event"] = {
            "raw_status": event.raw_status or None,
            "provider_timestamp": _iso(event.provider_timestamp),
            "received_at": _iso(event.received_at),
        }
    at = event.received_at if event is not None else timezone.now()
    return {"type": CallbackEvent.MESSAGE_STATUS.value, "timestamp": _iso(at), "data": data}


def inbound_payload(inbound: InboundRow) -> dict:
    """Return the `message.inbound` payload of an inbound message."""
    provider = None
    if inbound.provider_account_id:
        provider = inbound.provider_account.provider
    return {
        "type": CallbackEvent.MESSAGE_INBOUND.value,
        "timestamp": _iso(inbound.created_at),
        "data": {
            "id": str(inbound.public_id),
            "channel": inbound.channel,
            "from": inbound.from_number,
            "to": inbound.to_number,
            "body": inbound.body,
            "media": inbound.media or [],
            "profile_name": inbound.profile_name or None,
            "provider": provider,
            "provider_message_id": inbound.provider_message_id or None,
            "received_at": _iso(inbound.received_at),
        },
    }


# --- creating deliveries ---------------------------------------------------------
def _new_webhook_id() -> str:
    return "msg_" + uuid.uuid4().hex


def _publish_deliveries(deliveries: list[CallbackDelivery]) -> None:
    from webhooks import tasks
    from webhooks.services import publish

    ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: [publish(tasks.deliver_callback, pk) for pk in ids])


def create_deliveries(
    organization_id: int,
    event_type: str,
    payload: dict,
    *,
    message: Message | None = None,
    inbound: InboundRow | None = None,
    extra_urls: tuple[str, ...] = (),
) -> list[CallbackDelivery]:
    """Create one pending delivery per active endpoint that wants `event_type` (and per extra URL)."""
    endpoints = [
        e
        for e in CallbackEndpoint.objects.filter(organization_id=organization_id, is_active=True)
        if e.wants(event_type)
    ]
    targets = [(endpoint, endpoint.url) for endpoint in endpoints] + [(None, url) for url in extra_urls if url]
    now = timezone.now()
    rows = [
        CallbackDelivery(
            endpoint=endpoint,
            organization_id=organization_id,
            message=message,
            inbound_message=inbound,
            url=url,
            event_type=event_type,
            payload=payload,
            webhook_id=_new_webhook_id(),
            next_attempt_at=now,
        )
        for endpoint, url in targets
    ]
    if not rows:
        return []
    with transaction.atomic():
        for row in rows:
            row.save()  # one by one: bulk_create gives no ids on every backend
        _publish_deliveries(rows)
    return rows


def _has_endpoints(organization_id: int) -> bool:
    memo = batch_memo.get()  # within one batch of status changes: one query per organization
    if memo is not None and ("has_endpoints", organization_id) in memo:
        return memo[("has_endpoints", organization_id)]
    found = CallbackEndpoint.objects.filter(organization_id=organization_id, is_active=True).exists()
    if memo is not None:
        memo[("has_endpoints", organization_id)] = found
    return found


def enqueue_status_callbacks(
    message: Message, *, new_status: str, old_status: str = "", event=None
) -> list[CallbackDelivery]:
    """Queue the `message.status` callbacks of a status change (endpoints and the message's callback_url)."""
    if not message.callback_url and not _has_endpoints(message.organization_id):
        return []  # the common case on the dispatch path: nothing to build or store
    payload = status_payload(message, new_status=new_status, old_status=old_status, event=event)
    return create_deliveries(
        message.organization_id,
        CallbackEvent.MESSAGE_STATUS,
        payload,
        message=message,
        extra_urls=(message.callback_url,) if message.callback_url else (),
    )


def enqueue_inbound_callbacks(inbound: InboundRow) -> list[CallbackDelivery]:
    """Queue the `message.inbound` callbacks of an inbound message."""
    return create_deliveries(
        inbound.organization_id, CallbackEvent.MESSAGE_INBOUND, inbound_payload(inbound), inbound=inbound
    )


def send_test_event(endpoint: CallbackEndpoint) -> CallbackDelivery:
    """Post a `test` event to an endpoint now (one try, no retries) and return the delivery."""
    now = timezone.now()
    delivery = CallbackDelivery.objects.create(
        endpoint=endpoint,
        organization_id=endpoint.organization_id,
        url=endpoint.url,
        event_type=CallbackEvent.TEST,
        payload={
            "type": CallbackEvent.TEST.value,
            "timestamp": _iso(now),
            "data": {
                "endpoint_id": str(endpoint.public_id),
                "message": "A test event from Jood Notifications.",
            },
        },
        webhook_id=_new_webhook_id(),
        next_attempt_at=now,
    )
    return attempt_delivery(delivery.pk, force=True) or delivery


# --- the SSRF guard: jood/outbound.py, shared with the provider adapters -----------
def session() -> requests.Session:
    """Return the shared session: the address guard, no proxies from the environment, no retries."""
    global _session
    if _session is None:
        _session = guarded_session(user_agent=USER_AGENT, pool_connections=8, pool_maxsize=32)
    return _session


_session: requests.Session | None = None


# --- sending ---------------------------------------------------------------------
def signing_secrets(delivery: CallbackDelivery) -> list[str]:
    """Return the secrets a delivery is signed with ([] for unsigned).

    An endpoint's own, plus its previous one during the grace period after a
    rotation. A message's own `callback_url` uses the organization's default
    endpoint (its oldest active one).
    """
    endpoint = delivery.endpoint if delivery.endpoint_id else None
    if endpoint is None:
        endpoint = (
            CallbackEndpoint.objects.filter(organization_id=delivery.organization_id, is_active=True)
            .order_by("created_at", "id")
            .first()
        )
    return endpoint.signing_secrets() if endpoint is not None else []


def signature_header(secrets: list[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """Return `webhook-signature`: one `v1,` signature per secret, space separated (Standard Webhooks)."""
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets)


# A delivery whose signing secret cannot be decrypted waits this long before it is looked at again.
HOLD_SECONDS = 3600


def _hold_undecryptable(delivery: CallbackDelivery, now: datetime) -> CallbackDelivery:
    """Keep a delivery pending, unsent, when its signing secret cannot be decrypted: never sign with garbage.

    Nothing is posted and no try is counted; once the key is back in FIELD_ENCRYPTION_KEY
    (or the endpoint's secret is rotated) it goes out.
    """
    log.error(
        "callback %s to endpoint %s held: its signing secret cannot be decrypted with FIELD_ENCRYPTION_KEY",
        delivery.webhook_id,
        delivery.endpoint_id or "default",
    )
    delivery.last_error = (
        "Held: the signing secret cannot be decrypted with the configured keys (FIELD_ENCRYPTION_KEY); "
        "not sent. Restore the key or rotate the endpoint's secret."
    )
    delivery.next_attempt_at = now + timedelta(seconds=HOLD_SECONDS)
    delivery.save(update_fields=["last_error", "next_attempt_at"])
    return delivery


def next_delay(attempt: int, retry_after: float | None = None) -> float | None:
    """Return seconds to wait after failed try `attempt`, or None when it was the last."""
    if attempt >= MAX_ATTEMPTS:
        return None
    delay = RETRY_DELAYS[attempt - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after:
        delay = max(delay, min(retry_after, RETRY_DELAYS[-1]))
    return delay


def attempt_delivery(delivery_id: int, *, force: bool = False) -> CallbackDelivery | None:
    """Claim a due delivery, POST it once and record the try; None if it was not due.

    Safe to run twice: the claim is a conditional update, so two workers
    never post the same try. `force` posts a pending delivery that is not due yet.
    """
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claim = CallbackDelivery.objects.filter(pk=delivery_id, state=CallbackDelivery.State.PENDING)
    if not force:
        claim = claim.filter(due)
    if not claim.update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)):
        return None
    delivery = CallbackDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.endpoint_id and not delivery.endpoint.is_active:
        delivery.state = CallbackDelivery.State.FAILED
        delivery.last_error = "The endpoint was disabled."
        delivery.next_attempt_at = None
        delivery.finished_at = now
        delivery.save(update_fields=["state", "last_error", "next_attempt_at", "finished_at"])
        return delivery

    number = delivery.attempts + 1
    body = encode_payload(delivery.payload)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(timestamp),
    }
    secrets = signing_secrets(delivery)
    if any(is_undecryptable(secret) for secret in secrets):
        return _hold_undecryptable(delivery, now)
    if secrets:
        headers["webhook-signature"] = signature_header(secrets, delivery.webhook_id, timestamp, body)

    status_code: int | None = None
    error = ""
    excerpt = ""
    retry_after: float | None = None
    started_at = timezone.now()
    started = time.monotonic()
    try:
        check_destination(delivery.url)
        response = session().post(
            delivery.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False, stream=True
        )
        try:
            status_code = response.status_code
            raw = response.raw.read(500, decode_content=True)
            # PostgreSQL text holds no NUL; the excerpt is for reading, not for replay.
            excerpt = raw.decode("utf-8", errors="replace").replace("\x00", "")
        finally:
            response.close()
        if 300 <= status_code < 400:
            error = f"HTTP {status_code}: redirect to {response.headers.get('Location', '?')} not followed"
        elif not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except UnsafeDestination as exc:
        error = f"Refused: {exc}"
    except requests.Timeout:
        error = "Timed out"
    except requests.ConnectionError as exc:
        error = f"Could not connect: {_short(exc)}"
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {_short(exc)}"
    latency_ms = int((time.monotonic() - started) * 1000)
    succeeded = status_code is not None and 200 <= status_code < 300

    finished = timezone.now()
    delivery.attempts = number
    delivery.last_status_code = status_code
    delivery.last_latency_ms = latency_ms
    delivery.last_error = error[:500]
    if succeeded:
        delivery.state = CallbackDelivery.State.SUCCEEDED
        delivery.next_attempt_at = None
        delivery.finished_at = finished
    else:
        delay = None if delivery.event_type == CallbackEvent.TEST else next_delay(number, retry_after)
        if delay is None:
            delivery.state = CallbackDelivery.State.FAILED
            delivery.next_attempt_at = None
            delivery.finished_at = finished
        else:
            delivery.next_attempt_at = finished + timedelta(seconds=delay)
    with transaction.atomic():
        CallbackAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started_at,
            status_code=status_code,
            latency_ms=latency_ms,
            succeeded=succeeded,
            error=error[:500],
            response_excerpt=excerpt[:500],
        )
        delivery.save(
            update_fields=[
                "attempts",
                "last_status_code",
                "last_latency_ms",
                "last_error",
                "state",
                "next_attempt_at",
                "finished_at",
            ]
        )
    if not succeeded:
        log.info("callback %s try %s to %s failed: %s", delivery.webhook_id, number, _host(delivery.url), error)
    return delivery


def deliver_due(limit: int = 500) -> int:
    """Queue every pending delivery that is due; return how many."""
    from webhooks import tasks
    from webhooks.services import publish

    ids = list(
        CallbackDelivery.objects.filter(state=CallbackDelivery.State.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        publish(tasks.deliver_callback, pk)
    return len(ids)


def retry_now(delivery: CallbackDelivery) -> bool:
    """Make a delivery due now (a failed one gets one more try); return False if it had succeeded."""
    updated = (
        CallbackDelivery.objects.filter(pk=delivery.pk)
        .exclude(state=CallbackDelivery.State.SUCCEEDED)
        .update(state=CallbackDelivery.State.PENDING, next_attempt_at=timezone.now(), finished_at=None)
    )
    if updated:
        from webhooks import tasks
        from webhooks.services import publish

        transaction.on_commit(lambda: publish(tasks.deliver_callback, delivery.pk))
    return bool(updated)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text[:200]


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"
