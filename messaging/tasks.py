"""Celery tasks: thin wrappers over services. Each takes ids (or a lane) and is safe to run twice."""

from celery import shared_task

from messaging import dispatch
from messaging.template_sync_tasks import sync_account_templates, sync_all_templates  # noqa: F401  (registers them)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def dispatch_messages(message_ids: list[int]) -> int:
    """Send these messages (embedded mode, eager tasks, and callers that name the ids)."""
    return dispatch.dispatch(message_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def drain_lane(lane: int) -> int:
    """Send what waits in a dispatch lane (queue `dispatch.<lane>`), chunk after chunk."""
    return dispatch.drain(lane)


@shared_task(ignore_result=True)
def publish_due_retries() -> int:
    """Every few seconds (queue `retries`): wake the lanes of messages whose next try is due."""
    return dispatch.publish_due_retries()


@shared_task(ignore_result=True)
def sweep() -> dict:
    return dispatch.sweep()


@shared_task(ignore_result=True)
def rollup_daily_stats() -> int:
    from messaging.analytics import rollup_recent_days

    return rollup_recent_days()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def accept_batch(batch_id: int) -> str | None:
    """Validate and write the rows of a portal bulk upload (safe to run twice)."""
    from messaging.services import accept_pending_batch

    batch = accept_pending_batch(batch_id)
    return batch.state if batch else None


@shared_task(ignore_result=True)
def sweep_pending_batches() -> int:
    """Beat, every minute: accept portal uploads whose task was lost."""
    from messaging.services import sweep_pending_batches as sweep

    return sweep()


@shared_task(ignore_result=True)
def fetch_prices() -> dict:
    """Read the prices that providers give only after the send (Twilio)."""
    from messaging.spend import fetch_missing_prices

    return fetch_missing_prices()
