"""WhatsApp template sync: Meta's templates of a WABA, mirrored as `Template` rows.

Meta is the truth for WhatsApp templates (whatsapp-cloud.md §6): names,
languages, components and approval status are edited in Meta's console and
read here. A template gone from Meta is marked `DELETED`, never deleted:
messages point at their template, and a marked one can no longer be sent
(`Template.is_approved`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging.models import Template
from providers.models import Channel, Provider, ProviderAccount

log = logging.getLogger(__name__)

DELETED = "DELETED"

# Field sizes of `Template` (a longer value from Meta is cut rather than fail the whole sync).
_MAX = {"name": 512, "language": 15, "category": 32, "approval_status": 32, "external_id": 64}


def _body_text(components: list[dict[str, Any]]) -> str:
    """Return the BODY text, shown as the template's body in lists and the portal."""
    for component in components or []:
        if str(component.get("type", "")).upper() == "BODY":
            return str(component.get("text") or "")
    return ""


def _clean(item: dict[str, Any]) -> dict[str, Any]:
    components = item.get("components") if isinstance(item.get("components"), list) else []
    values = {
        "name": str(item.get("name") or "").strip(),
        "language": str(item.get("language") or "").strip(),
        "category": str(item.get("category") or "").upper(),
        "approval_status": str(item.get("status") or "").upper(),
        "external_id": str(item.get("id") or ""),
    }
    values = {key: value[: _MAX[key]] for key, value in values.items()}
    values["components"] = components
    values["body"] = _body_text(components)
    return values


def sync_templates(account: ProviderAccount) -> dict[str, int]:
    """Fetch the account's templates from Meta and upsert them; return {created, updated, removed, skipped}.

    Raises `ProviderError` when Meta cannot be read; nothing is changed then
    (a failed fetch must not mark every template deleted).
    """
    if account.provider != Provider.WHATSAPP:
        raise ValueError(f"Template sync is for WhatsApp accounts, not {account.provider}.")
    # The HTTP calls happen before the transaction, so no row lock waits on Meta.
    fetched = account.adapter.fetch_templates(account.to_config())
    now = timezone.now()
    counts = {"created": 0, "updated": 0, "removed": 0, "skipped": 0}

    with transaction.atomic():
        # One sync per account at a time (beat and an API call may overlap).
        ProviderAccount.objects.select_for_update().filter(pk=account.pk).first()
        existing = {
            (t.name, t.language): t
            for t in Template.objects.filter(
                provider_account=account, kind=Template.Kind.WHATSAPP, channel=Channel.WHATSAPP
            )
        }
        seen: set[tuple[str, str]] = set()
        for item in fetched:
            values = _clean(item)
            key = (values["name"], values["language"])
            if not all(key) or key in seen:
                counts["skipped"] += 1
                continue
            seen.add(key)
            template = existing.get(key)
            if template is None:
                Template.objects.create(
                    organization_id=account.organization_id,
                    kind=Template.Kind.WHATSAPP,
                    channel=Channel.WHATSAPP,
                    provider_account=account,
                    synced_at=now,
                    **values,
                )
                counts["created"] += 1
                continue
            changed = [name for name, value in values.items() if getattr(template, name) != value]
            for name in changed:
                setattr(template, name, values[name])
            template.synced_at = now
            template.save(update_fields=[*changed, "synced_at", "updated_at"])
            if changed:
                counts["updated"] += 1

        for key, template in existing.items():
            if key in seen:
                continue
            update = ["synced_at", "updated_at"]
            if template.approval_status != DELETED:
                template.approval_status = DELETED
                update.append("approval_status")
                counts["removed"] += 1
            template.synced_at = now
            template.save(update_fields=update)
    return counts


def whatsapp_accounts(organization_id: int | None = None):
    """Return the active WhatsApp Cloud accounts (of one organization, or of every active one)."""
    qs = ProviderAccount.objects.filter(provider=Provider.WHATSAPP, is_active=True)
    if organization_id is not None:
        return qs.filter(organization_id=organization_id)
    return qs.filter(organization__is_active=True)
