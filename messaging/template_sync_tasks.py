"""Celery tasks of the WhatsApp template sync (imported by messaging/tasks.py so Celery finds them).

Their names are the ones they had in `messaging/tasks_sync.py`: beat's
PeriodicTask row (migration 0006) and messages already queued name them so.
"""

from __future__ import annotations

import logging

from celery import shared_task

from providers.base import ProviderError

log = logging.getLogger(__name__)


@shared_task(name="messaging.tasks_sync.sync_all_templates", ignore_result=True)
def sync_all_templates() -> int:
    """Queue one sync per active WhatsApp account (from beat); return how many were queued."""
    from messaging.template_sync import whatsapp_accounts

    ids = list(whatsapp_accounts().values_list("pk", flat=True))
    for pk in ids:
        try:
            sync_account_templates.apply_async(args=[pk], retry=False)
        except Exception:
            # The next scheduled run tries again: a lost publish costs one interval.
            log.warning("could not queue the template sync of provider account %s", pk)
    return len(ids)


@shared_task(name="messaging.tasks_sync.sync_account_templates", ignore_result=True, acks_late=True)
def sync_account_templates(account_id: int) -> dict | None:
    """Sync one account's templates; safe to run twice (an upsert)."""
    from messaging.template_sync import sync_templates, whatsapp_accounts

    account = whatsapp_accounts().filter(pk=account_id).select_related("organization").first()
    if account is None:
        return None  # deactivated or deleted since it was queued
    try:
        return sync_templates(account)
    except ProviderError as exc:
        # Bad credentials or Meta down: the account's health check says which; retry next run.
        log.warning("template sync of provider account %s failed: %s", account.public_id, exc.message)
        return None
