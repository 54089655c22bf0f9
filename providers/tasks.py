"""Periodic tasks of the providers app (thin wrappers over services)."""

from __future__ import annotations

from celery import shared_task

from providers import services


@shared_task(ignore_result=True)
def recheck_unhealthy_accounts() -> dict[str, int]:
    return services.recheck_unhealthy_accounts()
