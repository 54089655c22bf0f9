"""Signals by which a change leaves `messaging` (webhooks listens; messaging never imports it).

Both are sent after the transaction that made the change commits.
"""

from contextvars import ContextVar

from django.dispatch import Signal

# kwargs: message (Message), old_status (str), new_status (str), event (MessageEvent)
message_status_changed = Signal()
# kwargs: inbound (InboundMessage)
inbound_message_received = Signal()

# A dict that lives while the signals of one batch of changes are sent (messaging.status.apply_statuses):
# a receiver may keep per-batch look-ups in it (is there a callback endpoint for this organization?)
# rather than query once per message. None outside a batch.
batch_memo: ContextVar[dict | None] = ContextVar("batch_memo", default=None)
