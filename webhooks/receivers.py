"""Receivers of messaging's signals (connected in WebhooksConfig.ready).

Both signals are sent after commit, from inside other code's on-commit
callbacks, so a receiver never raises: an error here is logged and must not
stop the callbacks queued after it.
"""

from __future__ import annotations

import logging

from messaging.models import Status

log = logging.getLogger(__name__)

SANDBOX = "sandbox"
MAX_SANDBOX_DELAY_SECONDS = 300


def on_message_status_changed(sender, message, old_status: str, new_status: str, event=None, **kwargs) -> None:
    """Queue customer callbacks for the change; start the sandbox's receipts when a sandbox message is sent."""
    try:
        from webhooks.callbacks import enqueue_status_callbacks

        enqueue_status_callbacks(message, new_status=new_status, old_status=old_status, event=event)
    except Exception:
        log.exception("could not queue callbacks for message %s", getattr(message, "pk", None))
    if new_status == Status.SENT and message.provider == SANDBOX:
        try:
            _start_sandbox_callbacks(message)
        except Exception:
            log.exception("could not start sandbox callbacks for message %s", message.pk)


def on_inbound_message_received(sender, inbound, **kwargs) -> None:
    """Queue customer callbacks for an inbound message."""
    try:
        from webhooks.callbacks import enqueue_inbound_callbacks

        enqueue_inbound_callbacks(inbound)
    except Exception:
        log.exception("could not queue callbacks for inbound message %s", getattr(inbound, "pk", None))


def _start_sandbox_callbacks(message) -> None:
    from django.db import transaction

    from webhooks import tasks
    from webhooks.services import publish

    delay_ms = 0.0
    account = message.provider_account
    if account is not None:
        try:
            delay_ms = float((account.settings or {}).get("callback_delay_ms") or 0)
        except (TypeError, ValueError):
            delay_ms = 0.0
    countdown = min(max(delay_ms, 0.0) / 1000, MAX_SANDBOX_DELAY_SECONDS) or None
    transaction.on_commit(lambda: publish(tasks.simulate_sandbox_callbacks, message.pk, countdown=countdown))
