"""Signals by which a change leaves `messaging` (webhooks listens; messaging never imports it).

Both are sent after the transaction that made the change commits.
"""

from django.dispatch import Signal

# kwargs: message (Message), old_status (str), new_status (str), event (MessageEvent)
message_status_changed = Signal()
# kwargs: inbound (InboundMessage)
inbound_message_received = Signal()
