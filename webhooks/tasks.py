"""Celery tasks of the webhooks app: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="webhooks.tasks.process_webhook_event")
def process_webhook_event(event_id: int) -> str:
    """Process a stored provider callback (safe to run twice)."""
    from webhooks.services import process_event

    return process_event(event_id).state


@shared_task(name="webhooks.tasks.drain_webhook_events")
def drain_webhook_events() -> int:
    """Process received provider callbacks in batches until none is left (woken by intake and the sweeper)."""
    from webhooks.services import drain_events

    return drain_events()


@shared_task(name="webhooks.tasks.sweep_webhook_events")
def sweep_webhook_events() -> int:
    """Beat, every minute: drain events left `received` for over a minute (a lost wake-up)."""
    from webhooks.services import sweep_events

    return sweep_events()


@shared_task(name="webhooks.tasks.simulate_sandbox_callbacks")
def simulate_sandbox_callbacks(message_id: int) -> int:
    """Feed the sandbox's status callbacks of a sent message through the intake path."""
    from webhooks.services import simulate_sandbox_callbacks as simulate

    return len(simulate(message_id))


@shared_task(name="webhooks.tasks.deliver_callback")
def deliver_callback(delivery_id: int) -> str | None:
    """Post one due callback delivery once (the claim makes a second run a no-op)."""
    from webhooks.callbacks import attempt_delivery

    delivery = attempt_delivery(delivery_id)
    return delivery.state if delivery else None


@shared_task(name="webhooks.tasks.deliver_due_callbacks")
def deliver_due_callbacks() -> int:
    """Beat, every minute: queue the callback deliveries whose next try is due."""
    from webhooks.callbacks import deliver_due

    return deliver_due()
