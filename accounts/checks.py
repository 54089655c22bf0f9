"""System checks that find misconfiguration at start-up and name the setting."""

from __future__ import annotations

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, register


@register()
def check_public_base_url(app_configs, **kwargs) -> list[Error]:
    """PUBLIC_BASE_URL builds webhook and callback URLs: it must be https in production."""
    url = settings.PUBLIC_BASE_URL
    if settings.DEBUG or url.lower().startswith("https://"):
        return []
    return [
        Error(
            f"PUBLIC_BASE_URL must start with https:// when DEBUG is off (it is {url!r}).",
            hint="Set PUBLIC_BASE_URL to the public https address of this site, e.g. https://notify.example.com.",
            id="accounts.E001",
        )
    ]


@register()
def check_field_encryption_key(app_configs, **kwargs) -> list[Error]:
    """Every key in FIELD_ENCRYPTION_KEY must be a Fernet key, or credentials cannot be read."""
    keys = settings.FIELD_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = [k.strip() for k in keys.split(",") if k.strip()]
    hint = (
        "Generate one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
        " Several keys are comma-separated, newest first."
    )
    if not keys:
        message = "FIELD_ENCRYPTION_KEY is empty: provider credentials cannot be encrypted."
        return [Error(message, hint=hint, id="accounts.E002")]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            # Never echo the key itself: it is a secret.
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY key #{position} is not a valid Fernet key"
                    " (32 url-safe base64-encoded bytes).",
                    hint=hint,
                    id="accounts.E003",
                )
            )
    return errors
