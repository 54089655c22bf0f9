"""Celery tasks of the retention app: thin wrappers over purge and services, each safe to run twice."""

from __future__ import annotations

from celery import shared_task


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
    from retention import services

    return services.sweep_exports()
