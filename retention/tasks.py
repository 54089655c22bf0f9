"""Celery tasks of the retention app: thin wrappers over purge and services, each safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone


@shared_task(ignore_result=True)
def purge_message_logs() -> dict:
    """The daily purge (beat, 03:30 in TIME_ZONE). Stops at PURGE_TIME_BUDGET_SECONDS; the next run resumes."""
    from retention import purge

    record = purge.run(trigger="beat")
    return {"purge_run": record.pk, "completed": record.completed, "deleted": record.total_deleted}


@shared_task(ignore_result=True)
def delete_due_organizations() -> list[str]:
    """Hourly: erase organizations whose deletion is due; reject messages that slipped into paused ones."""
    from retention import services

    services.enforce_pauses()
    return services.delete_due_organizations(trigger="beat")


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def build_export(export_id: int) -> bool:
    from retention import services

    return services.build_export(export_id)


@shared_task(ignore_result=True)
def sweep_exports() -> int:
    """Hourly: remove files of expired and downloaded exports; publish builds that a lost task left pending."""
    from retention import purge, services
    from retention.models import DataExport

    now = timezone.now()
    purge.expire_exports(purge.Context(), now)
    waiting = DataExport.objects.filter(
        state=DataExport.State.PENDING, created_at__lt=now - timezone.timedelta(minutes=5)
    ).exclude(started_at__gt=now - services.EXPORT_BUILD_LEASE)
    ids = list(waiting.values_list("pk", flat=True)[:100])
    for pk in ids:
        services._publish(build_export, pk)
    return len(ids)
