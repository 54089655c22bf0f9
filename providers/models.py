"""Provider accounts: the customer's own Twilio, Infobip, Unifonic, WhatsApp or sandbox account."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization
from jood.crypto import EncryptedCharField, EncryptedTextField, UndecryptableValue, is_undecryptable
from providers.adapters import ADAPTERS
from providers.base import CALLBACK_TOKEN_PARAM, AccountConfig, get_adapter

# The adapter registry's names and labels, in its order (Provider.TWILIO == "twilio").
Provider = models.TextChoices("Provider", [(cls.name.upper(), (cls.name, cls.label)) for cls in ADAPTERS])


class Channel(models.TextChoices):
    SMS = "sms", "SMS"
    WHATSAPP = "whatsapp", "WhatsApp"


# The fields that tune how an account sends, and the provider options: shown and changed
# together by the API and the admin.
SENDING_FIELDS = ("default_sender", "priority", "allowed_prefixes", "messages_per_second", "max_attempts")
OPTION_FIELDS = ("api_base_url", "settings")


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(24)


class ProviderAccount(models.Model):
    """One connection to a provider. Credentials are encrypted and write-only."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="provider_accounts")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    label = models.CharField(max_length=100)
    # A JSON object of the provider's credential fields, encrypted at rest
    # (Fernet, FIELD_ENCRYPTION_KEY). Emptied, not only flagged, on erasure.
    credentials = EncryptedTextField(null=True, blank=True)
    # Masked hints ("••••ab12") of each field: the only form ever shown.
    credentials_hint = models.JSONField(default=dict, blank=True)
    default_sender = models.CharField(max_length=64, blank=True)
    priority = models.PositiveSmallIntegerField(default=100, help_text="Lower is tried first.")
    allowed_prefixes = models.JSONField(
        default=list, blank=True, help_text='E.164 prefixes this account sends to, e.g. ["+966", "+971"]; empty: all.'
    )
    messages_per_second = models.FloatField(default=10.0, help_text="Segments per second, shared by every worker.")
    api_base_url = models.URLField(blank=True, help_text="Empty: the provider's public default.")
    # The token in the callback URL (Infobip, Unifonic) or the HMAC key (sandbox).
    webhook_secret = EncryptedCharField(max_length=100, default=new_webhook_secret)
    # The token before the last rotation: still accepted for SECRET_ROTATION_GRACE_HOURS after it.
    previous_webhook_secret = EncryptedCharField(max_length=100, blank=True, default="")
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Provider options (sandbox: rates, latency).")
    max_attempts = models.PositiveSmallIntegerField(default=3, help_text="Tries on this account before failing over.")
    is_active = models.BooleanField(default=True)
    health_status = models.CharField(max_length=20, blank=True)
    health_detail = models.CharField(max_length=300, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]
        indexes = [models.Index(fields=["organization", "channel", "is_active", "priority"], name="pa_routing")]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_provider_display()})"

    # Credentials are set and read only through these two methods.
    def set_credentials(self, values: dict[str, str]) -> None:
        """Store credentials (encrypted) and their masked hints."""
        clean = {k: str(v) for k, v in values.items() if v not in (None, "")}
        self.credentials = json.dumps(clean)
        self.credentials_hint = get_adapter(self.provider).mask(clean)

    def get_credentials(self) -> dict[str, str]:
        """The credentials; UndecryptableValue (logged) when no configured key decrypts them: never guessed."""
        if is_undecryptable(self.credentials) or is_undecryptable(self.webhook_secret):
            raise UndecryptableValue(
                f"provider account {self.pk}: its secrets cannot be decrypted (FIELD_ENCRYPTION_KEY)"
            )
        if not self.credentials:
            return {}
        return json.loads(self.credentials)

    @property
    def adapter(self):
        return get_adapter(self.provider)

    @property
    def callback_url(self) -> str:
        """The address to paste into the provider's console (and sent per message where taken).

        Carries the account's token (`?t=`) where the provider signs nothing: shown to admins only
        (`public_callback_url` is the same without it).
        """
        url = self.public_callback_url
        if is_undecryptable(self.webhook_secret):
            return url  # logged when loaded; never shown nor used (jood/crypto.py)
        if self.adapter.callback_token_in_url:
            url += f"?{CALLBACK_TOKEN_PARAM}={self.webhook_secret}"
        return url

    @property
    def public_callback_url(self) -> str:
        """The callback URL without any token: what viewers and members may see."""
        return f"{settings.PUBLIC_BASE_URL}/webhooks/{self.provider}/{self.public_id}/"

    @property
    def previous_token_valid_until(self):
        """Until when the token before the last rotation is still accepted (None: no such token)."""
        if not self.previous_webhook_secret or self.webhook_secret_rotated_at is None:
            return None
        return self.webhook_secret_rotated_at + timedelta(hours=settings.SECRET_ROTATION_GRACE_HOURS)

    def previous_webhook_secrets(self) -> tuple[str, ...]:
        """The older tokens still accepted now (the one before the last rotation, within its grace period)."""
        until = self.previous_token_valid_until
        return (self.previous_webhook_secret,) if until is not None and timezone.now() < until else ()

    def to_config(self) -> AccountConfig:
        return AccountConfig(
            id=str(self.public_id),
            provider=self.provider,
            channel=self.channel,
            credentials=self.get_credentials(),
            sender=self.default_sender,
            api_base_url=self.api_base_url,
            callback_url=self.callback_url,
            webhook_secret=self.webhook_secret,
            previous_webhook_secrets=self.previous_webhook_secrets(),
            settings=dict(self.settings or {}),
        )

    def accepts(self, phone: str) -> bool:
        """True if this account may send to the E.164 number."""
        prefixes = self.allowed_prefixes or []
        return not prefixes or any(phone.startswith(p) for p in prefixes)
