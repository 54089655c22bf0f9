"""Writes of the providers app: connecting, changing, testing and erasing provider accounts."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import AccessLog, Organization
from accounts.services import SYSTEM, Actor, record_access
from providers.base import HealthResult, get_adapter
from providers.models import ProviderAccount


class InvalidAccount(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _record(account: ProviderAccount, change: str, actor: Actor, **details) -> None:
    """Leave the access-log row of a change to an account's credentials or state."""
    record_access(
        AccessLog.Action.CREDENTIALS_CHANGED,
        actor,
        organization=account.organization,
        account=str(account.public_id),
        change=change,
        **details,
    )


def _validate(provider: str, channel: str, credentials: dict[str, str]) -> None:
    adapter = get_adapter(provider)
    errors = {}
    if channel not in adapter.channels:
        errors["channel"] = f"{provider} sends {', '.join(adapter.channels)}, not {channel}."
    for field, error in adapter.validate_credentials(credentials).items():
        errors[f"credentials.{field}"] = error
    if errors:
        raise InvalidAccount(errors)


@transaction.atomic
def connect_account(
    organization: Organization,
    *,
    provider: str,
    channel: str,
    label: str,
    credentials: dict[str, str],
    actor: Actor = SYSTEM,
    **fields,
) -> ProviderAccount:
    """Create a provider account after validating its credentials' shape."""
    _validate(provider, channel, credentials)
    account = ProviderAccount(organization=organization, provider=provider, channel=channel, label=label, **fields)
    account.set_credentials(credentials)
    account.save()
    _record(account, "connected", actor, provider=provider)
    return account


@transaction.atomic
def update_account(
    account: ProviderAccount, *, credentials: dict[str, str] | None = None, actor: Actor = SYSTEM, **fields
) -> ProviderAccount:
    """Change an account. Credentials given are merged over the stored ones (write-only: never read back)."""
    for name, value in fields.items():
        setattr(account, name, value)
    update = list(fields)
    if credentials:
        merged = {**account.get_credentials(), **credentials}
        _validate(account.provider, account.channel, merged)
        account.set_credentials(merged)
        update += ["credentials", "credentials_hint"]
    account.save(update_fields=sorted(set(update)) + ["updated_at"] if update else None)
    if credentials:
        _record(account, "updated", actor, fields=sorted(credentials))
    return account


log = logging.getLogger(__name__)

# Routing skips an account whose health is anything else (issue 17 item 7; the
# engine marks "unreachable" after repeated connection errors).
HEALTHY_STATUSES = ("", "ok")
HEALTH_LABELS = {"ok": "connection ok", "bad_credentials": "credentials refused", "unreachable": "unreachable"}
HEALTH_PROBLEMS = {"bad_credentials": "the credentials were refused", "unreachable": "the provider did not answer"}


def health_problem(result: HealthResult) -> str:
    """Say what a failed check found, in a sentence for people: "the credentials were refused. <detail>"."""
    return f"{HEALTH_PROBLEMS.get(result.status, result.status.replace('_', ' '))}. {result.detail}".strip()


def unhealthy_accounts(organization: Organization | None = None):
    """Enabled accounts with credentials whose last check or sends failed (what routing skips)."""
    accounts = ProviderAccount.objects.filter(is_active=True).exclude(health_status__in=HEALTHY_STATUSES)
    accounts = accounts.filter(Q(credentials__isnull=False) | Q(provider="sandbox"))
    if organization is not None:
        accounts = accounts.filter(organization=organization)
    return accounts


def check_account(account: ProviderAccount) -> HealthResult:
    """Call the provider's harmless read endpoint and keep the result on the account.

    A failed check marks the account unhealthy (routing skips it); a passing
    one clears whatever marked it, a check or the engine's connection errors.
    """
    try:
        result = account.adapter.check_credentials(account.to_config())
    except Exception as exc:  # an adapter bug or an unexpected answer must still leave a verdict
        log.warning("credentials check of account %s raised %s", account.pk, type(exc).__name__)
        result = HealthResult("unreachable", f"The check could not complete ({type(exc).__name__}).")
    ProviderAccount.objects.filter(pk=account.pk).update(
        health_status=result.status, health_detail=result.detail[:300], health_checked_at=timezone.now()
    )
    account.health_status, account.health_detail = result.status, result.detail[:300]
    return result


@transaction.atomic
def rotate_webhook_secret(account: ProviderAccount, *, actor: Actor = SYSTEM) -> ProviderAccount:
    """Give the account a new webhook token; the current one stays accepted for SECRET_ROTATION_GRACE_HOURS.

    Where the token is pasted in the provider's console (Infobip Subscriptions, Unifonic's account
    webhook), paste the new callback URL within the grace period. Per-message callback URLs carry the
    new token from the next send on.
    """
    from providers.models import new_webhook_secret

    locked = ProviderAccount.objects.select_for_update().get(pk=account.pk)
    locked.previous_webhook_secret = locked.webhook_secret
    locked.webhook_secret = new_webhook_secret()
    locked.webhook_secret_rotated_at = timezone.now()
    locked.save(update_fields=["previous_webhook_secret", "webhook_secret", "webhook_secret_rotated_at", "updated_at"])
    for name in ("previous_webhook_secret", "webhook_secret", "webhook_secret_rotated_at", "updated_at"):
        setattr(account, name, getattr(locked, name))
    _record(account, "webhook_token_rotated", actor)
    return account


def recheck_unhealthy_accounts(limit: int = 200) -> dict[str, int]:
    """Check again every enabled account marked unhealthy (the periodic task); healthy ones are left alone.

    Returns how many were checked and how many came back healthy.
    """
    checked = recovered = 0
    for account in unhealthy_accounts().order_by("health_checked_at", "pk")[:limit]:
        checked += 1
        recovered += check_account(account).ok
    if checked:
        log.info("re-checked %d unhealthy provider accounts, %d recovered", checked, recovered)
    return {"checked": checked, "recovered": recovered}


def set_active(account: ProviderAccount, active: bool, *, actor: Actor = SYSTEM) -> None:
    ProviderAccount.objects.filter(pk=account.pk).update(is_active=active, updated_at=timezone.now())
    account.is_active = active
    _record(account, "enabled" if active else "disabled", actor)


@transaction.atomic
def erase_credentials(organization: Organization, *, actor: Actor = SYSTEM) -> int:
    """Empty every credential column of the organization at once (NULL, not an encrypted empty string)."""
    count = ProviderAccount.objects.filter(organization=organization).update(
        credentials=None, credentials_hint={}, previous_webhook_secret="", is_active=False, updated_at=timezone.now()
    )
    record_access(
        AccessLog.Action.CREDENTIALS_CHANGED, actor, organization=organization, change="erased", accounts=count
    )
    return count


def delete_account(account: ProviderAccount, *, actor: Actor = SYSTEM) -> None:
    account.delete()  # the instance keeps its public id and organization for the log row
    _record(account, "deleted", actor)


def reencrypt_all() -> dict[str, int]:
    """Re-encrypt every encrypted field of every model with the newest key (jood/crypto.py walks the models)."""
    from jood.crypto import reencrypt_every_field

    return reencrypt_every_field()
