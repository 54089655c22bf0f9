"""Messages and everything that hangs off them."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import ApiKey, Organization, User
from jood import placeholders
from providers.models import Channel, ProviderAccount


class Status(models.TextChoices):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELED = "canceled"


# DESIGN.md "Message lifecycle": status only moves forward by rank.
# rejected and canceled are terminal: nothing moves a message out of them.
RANK = {
    Status.SCHEDULED: 0,
    Status.QUEUED: 1,
    Status.SENDING: 2,
    Status.SENT: 3,
    Status.UNDELIVERED: 4,
    Status.FAILED: 4,
    Status.DELIVERED: 5,
    Status.READ: 6,
}
TERMINAL = {Status.REJECTED, Status.CANCELED}
# Statuses in which the message still waits for us (not the provider).
PENDING = {Status.SCHEDULED, Status.QUEUED, Status.SENDING}
FINAL_FAILURES = {Status.UNDELIVERED, Status.FAILED, Status.REJECTED}

# The timestamp field each status sets (the first time it is reached).
STATUS_TIMESTAMP = {
    Status.QUEUED: "queued_at",
    Status.SENT: "sent_at",
    Status.DELIVERED: "delivered_at",
    Status.READ: "read_at",
    Status.UNDELIVERED: "failed_at",
    Status.FAILED: "failed_at",
    Status.REJECTED: "failed_at",
    Status.CANCELED: "canceled_at",
}


class Template(models.Model):
    """A message template: the organization's own, or a WhatsApp template synced from Meta."""

    class Kind(models.TextChoices):
        OWN = "own", "Own"
        WHATSAPP = "whatsapp", "WhatsApp (synced)"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="templates")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.OWN)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.SMS)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15, default="en")
    body = models.TextField(blank=True, help_text="Text with named placeholders, e.g. Hello {{first_name}}.")
    # WhatsApp: the synced template (Meta's fields).
    provider_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="templates"
    )
    external_id = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=32, blank=True)
    components = models.JSONField(default=list, blank=True)
    approval_status = models.CharField(max_length=32, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel", "name", "language"],
                condition=Q(kind="own"),
                name="uniq_own_template",
            ),
            # Synced templates belong to a WhatsApp Business Account: two
            # accounts of one organization may each have `order_shipped`.
            models.UniqueConstraint(
                fields=["provider_account", "name", "language"],
                condition=Q(kind="whatsapp"),
                name="uniq_synced_template",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def placeholders(self) -> list[str]:
        # Own templates' names (jood/placeholders.py); a synced template's `{{1}}` is not listed here.
        return placeholders.names(self.body, numeric=False)

    @property
    def is_approved(self) -> bool:
        return self.kind == self.Kind.OWN or self.approval_status.upper() == "APPROVED"


def media_upload_to(instance: MediaFile, filename: str) -> str:
    return f"media/{instance.organization_id}/{instance.public_id}"


class MediaFile(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="media_files")
    file = models.FileField(upload_to=media_upload_to)
    filename = models.CharField(max_length=255, blank=True)
    kind = models.CharField(max_length=16)  # image, document, audio, video
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    # Media ids a provider gave us on upload, per provider account public id.
    provider_media_ids = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.filename or str(self.public_id)


class Batch(models.Model):
    """A bulk send. Counts by status are read live from its messages."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="batches")
    name = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    total = models.PositiveIntegerField(default=0, help_text="Recipients in the request.")
    accepted = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0, help_text="Recipients refused at validation (no message).")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class State(models.TextChoices):
        ACCEPTING = "accepting"  # a portal upload: its rows are being validated and written by a task
        ACCEPTED = "accepted"
        FAILED = "failed"  # the whole request was refused (`error` says why)

    state = models.CharField(max_length=10, choices=State.choices, default=State.ACCEPTED)
    error = models.CharField(max_length=500, blank=True)
    # The rows refused at validation: [{"index", "row"?, "to", "code", "message"}], downloadable as CSV.
    refused_rows = models.JSONField(default=list, blank=True)
    # A portal upload waiting for its task: the send request's fields and recipients (emptied once accepted).
    pending = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.name or f"Batch {self.public_id}"


class Message(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    to = models.CharField(max_length=20)
    sender = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    template_params = models.JSONField(default=dict, blank=True)
    media = models.JSONField(default=list, blank=True)  # [{"kind", "url"} or {"kind", "media_id"}]
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # The account that must be used (chosen by the caller), or null for routing.
    requested_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    provider = models.CharField(max_length=16, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    encoding = models.CharField(max_length=8, blank=True)  # GSM-7 / UCS-2
    segments = models.PositiveSmallIntegerField(default=1)
    # What the provider charged, as it reported it (issue 17 item 6): at send
    # (Unifonic), in a delivery report (Infobip) or fetched later (Twilio).
    price = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    price_currency = models.CharField(max_length=3, blank=True)
    # When we last asked the provider for a price it had not reported yet (Twilio).
    price_checked_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    metadata = models.JSONField(default=dict, blank=True)
    callback_url = models.URLField(blank=True, max_length=500)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    # Dispatch bookkeeping: when to try next, the worker's claim, tries so far.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    attempts_on_account = models.PositiveSmallIntegerField(default=0)
    tried_accounts = models.JSONField(default=list, blank=True)  # primary keys already given up on
    # Sends that failed in our own code (not the provider's): capped by DISPATCH_MAX_INTERNAL_ERRORS.
    internal_errors = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The API and portal lists: an organization's messages, newest first.
            models.Index(fields=["organization", "-created_at"], name="msg_org_created"),
            models.Index(fields=["organization", "status", "-created_at"], name="msg_org_status"),
            models.Index(fields=["organization", "to"], name="msg_org_to"),
            # Staff search a phone number across organizations.
            models.Index(fields=["to"], name="msg_to"),
            # The sweeper: only rows that still wait for us are in this index.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="msg_sweep",
                condition=Q(status__in=["scheduled", "queued", "sending"]),
            ),
            # Webhook matching.
            models.Index(fields=["provider", "provider_message_id"], name="msg_provider_id"),
            # The purge walks by creation time.
            models.Index(fields=["created_at"], name="msg_created"),
            models.Index(fields=["batch", "status"], name="msg_batch_status"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to} ({self.status})"

    @property
    def price_text(self) -> str:
        """The price as the provider reported it ("0.0075 USD"), or "" when it has not."""
        if self.price is None:
            return ""
        return f"{self.price.normalize():f} {self.price_currency}".strip()


class MessageEvent(models.Model):
    """One thing that happened to a message. Every callback leaves one, moving the status or not."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, blank=True)  # normalized, or empty for an unknown value
    raw_status = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16)  # api, dispatch, webhook, sandbox, admin, sweeper
    applied = models.BooleanField(default=False, help_text="Whether it moved the message's status.")
    provider_timestamp = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    dedup_key = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)  # pricing, conversation, segments...

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [models.Index(fields=["message", "dedup_key"], name="event_dedup")]

    def __str__(self) -> str:
        return f"{self.status or self.raw_status} at {self.received_at:%Y-%m-%d %H:%M:%S}"


class DeliveryAttempt(models.Model):
    class Outcome(models.TextChoices):
        ACCEPTED = "accepted"
        RETRYABLE = "retryable", "Retryable error"
        PERMANENT = "permanent", "Permanent error"
        # The request went out and no answer came (read timeout): the provider may have it.
        UNKNOWN = "unknown", "Unknown (no answer)"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="delivery_attempts")
    provider_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    latency_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class PendingStatusUpdate(models.Model):
    """A provider status for a message id we have not written yet (the callback beat our commit)."""

    # The verified account's organization: a kept update only ever applies to its own messages.
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=16)
    provider_message_id = models.CharField(max_length=100)
    payload = models.JSONField()  # the StatusUpdate's fields
    webhook_event_id = models.BigIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["provider", "provider_message_id"], name="pending_provider_id")]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_message_id}"


class OptOut(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="opt_outs")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    phone = models.CharField(max_length=20)
    source = models.CharField(max_length=32, default="api")  # api, portal, inbound_keyword, provider
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "channel", "phone"], name="uniq_optout")]

    def __str__(self) -> str:
        return f"{self.phone} ({self.channel})"


class ConversationWindow(models.Model):
    """WhatsApp: when a contact last wrote to the organization (opens 24 hours of free-form)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    phone = models.CharField(max_length=20)
    last_inbound_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "phone"], name="uniq_window")]

    def __str__(self) -> str:
        return f"{self.phone} until {self.last_inbound_at:%Y-%m-%d %H:%M}"


class InboundMessage(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="inbound_messages")
    provider_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    from_number = models.CharField(max_length=20)
    to_number = models.CharField(max_length=64, blank=True)
    body = models.TextField(blank=True)
    media = models.JSONField(default=list, blank=True)
    profile_name = models.CharField(max_length=200, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When someone of the organization opened its conversation in the inbox (null: unread).
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_account", "provider_message_id"],
                name="uniq_inbound",
                condition=~Q(provider_message_id=""),
            )
        ]
        indexes = [
            # The inbox: an organization's conversations (one per number), the latest first.
            models.Index(fields=["organization", "from_number", "-received_at"], name="inbound_org_from"),
            # The unread count in the navigation: only unread rows are in this index.
            models.Index(fields=["organization"], name="inbound_unread", condition=Q(read_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"from {self.from_number}"


class DailyStats(models.Model):
    """Counts per day, channel, provider (account), country, status and error: what analytics read.

    It is what survives the purge, so it holds everything the analytics page
    shows: spend per currency, and a histogram of the time to delivered (the
    median of a purged day is read from it).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    channel = models.CharField(max_length=16)
    provider = models.CharField(max_length=16, blank=True)
    provider_account = models.ForeignKey(
        ProviderAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The recipient's country calling code ("966"), "" when unknown.
    country = models.CharField(max_length=4, blank=True)
    status = models.CharField(max_length=12)
    error_code = models.CharField(max_length=64, blank=True)
    count = models.PositiveIntegerField(default=0)
    segments = models.PositiveIntegerField(default=0)
    price = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    price_currency = models.CharField(max_length=3, blank=True)
    priced = models.PositiveIntegerField(default=0, help_text="Messages with a price reported.")
    # Messages delivered, counted by time from creation to delivered: {bucket upper bound in seconds: count}.
    delivery_seconds = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "daily stats"
        ordering = ["-day"]
        indexes = [models.Index(fields=["organization", "day"], name="dailystats_org_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.status}: {self.count}"


class IdempotencyRecord(models.Model):
    """Stripe-style Idempotency-Key: the first answer, replayed for 24 hours."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=64)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)  # null while in flight
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="uniq_idempotency")]

    def __str__(self) -> str:
        return self.key
