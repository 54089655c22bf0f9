"""Provider callbacks we received, and callbacks we post to customers.

`WebhookEvent`: one verified request from a provider, stored raw before it is
processed (DESIGN.md "Webhooks"). `CallbackEndpoint`: a customer's URL for
our signed callbacks. `CallbackDelivery`: one event to post to one URL, with
its retry state; `CallbackAttempt`: one try of it (status, latency, error).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Organization
from jood.crypto import EncryptedCharField
from providers.base import WebhookRequest
from providers.models import ProviderAccount

SECRET_PREFIX = "whsec_"


def new_signing_secret() -> str:
    """Return a Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class WebhookEvent(models.Model):
    """One authentic request from a provider, as received."""

    class State(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"

    class BodyEncoding(models.TextChoices):
        UTF8 = "utf-8"
        BASE64 = "base64"

    provider = models.CharField(max_length=16)
    provider_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    method = models.CharField(max_length=8, default="POST")
    # The public URL the provider called, with the `?t=` token masked.
    url = models.TextField(blank=True)
    # The raw body: text when it is UTF-8 (nearly always), base64 otherwise,
    # so the exact bytes can be parsed again (`reprocess_event`).
    body = models.TextField(blank=True)
    body_encoding = models.CharField(max_length=8, choices=BodyEncoding.choices, default=BodyEncoding.UTF8)
    headers = models.JSONField(default=dict, blank=True)  # the ones that matter; never Authorization
    signature_valid = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    # sha256 of provider, account and body: a provider's retry of the same request has the same key.
    dedup_key = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times processing ran.")
    processed_at = models.DateTimeField(null=True, blank=True)
    # What processing found: counts of status updates, kept-for-later updates, inbound messages.
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["provider_account", "dedup_key"], name="whevent_dedup"),
            # The sweeper: only unprocessed rows are in this index.
            models.Index(fields=["received_at"], name="whevent_sweep", condition=Q(state="received")),
            models.Index(fields=["state", "-received_at"], name="whevent_state"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} event {self.pk} ({self.state})"

    @property
    def raw_body(self) -> bytes:
        if self.body_encoding == self.BodyEncoding.BASE64:
            return base64.b64decode(self.body)
        return self.body.encode("utf-8")

    @raw_body.setter
    def raw_body(self, value: bytes) -> None:
        try:
            self.body = value.decode("utf-8")
            self.body_encoding = self.BodyEncoding.UTF8
        except UnicodeDecodeError:
            self.body = base64.b64encode(value).decode("ascii")
            self.body_encoding = self.BodyEncoding.BASE64
        if "\x00" in self.body:
            # PostgreSQL text cannot hold NUL.
            self.body = base64.b64encode(value).decode("ascii")
            self.body_encoding = self.BodyEncoding.BASE64

    def to_webhook_request(self) -> WebhookRequest:
        """Return the stored request, for the adapter's parsers (not for `verify`)."""
        from urllib.parse import parse_qsl, urlsplit

        body = self.raw_body
        query = dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))
        form = {}
        if "application/x-www-form-urlencoded" in str(self.headers.get("content-type", "")).lower():
            form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        return WebhookRequest(
            method=self.method, url=self.url, headers=dict(self.headers), body=body, query=query, form=form
        )


class CallbackEvent(models.TextChoices):
    MESSAGE_STATUS = "message.status", "Message status changed"
    MESSAGE_INBOUND = "message.inbound", "Inbound message"
    TEST = "test", "Test event"


# What an endpoint can subscribe to; "all" is every event type.
SUBSCRIBABLE_EVENTS = ("message.status", "message.inbound", "all")


class CallbackEndpoint(models.Model):
    """A customer URL that receives our signed callbacks."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="callback_endpoints")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text='Event types: "message.status", "message.inbound" or "all".')
    # Shown once, when the endpoint is created; encrypted at rest.
    secret = EncryptedCharField(max_length=100, default=new_signing_secret)
    # The secret before the last rotation: deliveries are signed with it too for SECRET_ROTATION_GRACE_HOURS.
    previous_secret = EncryptedCharField(max_length=100, blank=True, default="")
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "is_active"], name="cbendpoint_org_active")]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        events = self.events or []
        return "all" in events or event_type in events

    @property
    def previous_secret_valid_until(self):
        """Until when deliveries are also signed with the secret before the last rotation (None: no such secret)."""
        from django.conf import settings

        if not self.previous_secret or self.secret_rotated_at is None:
            return None
        return self.secret_rotated_at + timedelta(hours=settings.SECRET_ROTATION_GRACE_HOURS)

    def signing_secrets(self) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous one within its grace period."""
        until = self.previous_secret_valid_until
        if until is not None and timezone.now() < until:
            return [self.secret, self.previous_secret]
        return [self.secret]


class CallbackDelivery(models.Model):
    """One event to post to one URL, retried with backoff until it succeeds or gives up."""

    class State(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Null for a message's own `callback_url`.
    endpoint = models.ForeignKey(
        CallbackEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # The purge deletes deliveries with their messages.
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.CASCADE, related_name="callback_deliveries"
    )
    inbound_message = models.ForeignKey(
        "messaging.InboundMessage", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    url = models.URLField(max_length=500)
    event_type = models.CharField(max_length=32, choices=CallbackEvent.choices)
    payload = models.JSONField()
    webhook_id = models.CharField(max_length=64, unique=True)  # `webhook-id`: the same on every retry
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "callback deliveries"
        indexes = [
            # deliver_due_callbacks: only pending rows are in this index.
            models.Index(fields=["next_attempt_at"], name="cbdelivery_due", condition=Q(state="pending")),
            models.Index(fields=["endpoint", "-created_at"], name="cbdelivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.url} ({self.state})"


class CallbackAttempt(models.Model):
    """One POST of a delivery: what the customer's server answered, and how fast."""

    delivery = models.ForeignKey(CallbackDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
