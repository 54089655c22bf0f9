"""Inbound messages: store once, open the WhatsApp window, honour STOP and START.

Called by webhooks processing with the provider account the message came
through and the adapter's normalized `InboundMessage`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from jood import phones
from messaging.models import ConversationWindow, OptOut
from messaging.models import InboundMessage as InboundRow
from messaging.signals import inbound_message_received
from providers.base import InboundMessage
from providers.models import Channel, ProviderAccount

log = logging.getLogger(__name__)

# Whole-message keywords, compared after trimming, folding case and
# collapsing whitespace (the carrier-standard set Twilio also honours).
STOP_KEYWORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "إيقاف"})
START_KEYWORDS = frozenset({"start", "unstop"})

_SPACES = re.compile(r"\s+")


def keyword(body: str) -> str:
    """Return the message as a keyword candidate: trimmed, case-folded, single-spaced."""
    return _SPACES.sub(" ", (body or "").strip()).casefold()


def record_inbound(account: ProviderAccount, inbound: InboundMessage) -> tuple[InboundRow, bool]:
    """Store an inbound message once; return it and whether it is new.

    A repeat of the same provider message id (providers retry) changes
    nothing. A new one opens or extends the WhatsApp conversation window,
    applies STOP / START keywords as opt-outs, and sends
    `inbound_message_received` after commit.
    """
    phone = phones.sender(inbound.from_number)
    received_at = inbound.received_at or timezone.now()
    channel = inbound.channel or account.channel
    with transaction.atomic():
        if inbound.provider_message_id:
            existing = InboundRow.objects.filter(
                provider_account=account, provider_message_id=inbound.provider_message_id
            ).first()
            if existing is not None:
                return existing, False
        try:
            with transaction.atomic():
                row = InboundRow.objects.create(
                    organization_id=account.organization_id,
                    provider_account=account,
                    channel=channel,
                    from_number=phone,
                    to_number=str(inbound.to_number or "")[:64],
                    body=inbound.body or "",
                    media=[asdict(media) for media in inbound.media],
                    profile_name=(inbound.profile_name or "")[:200],
                    provider_message_id=(inbound.provider_message_id or "")[:100],
                    received_at=received_at,
                )
        except IntegrityError:
            # The same message, stored by a concurrent delivery of the callback.
            row = InboundRow.objects.get(provider_account=account, provider_message_id=inbound.provider_message_id)
            return row, False
        if channel == Channel.WHATSAPP:
            open_window(account.organization_id, phone, received_at)
        word = keyword(inbound.body)
        if word in STOP_KEYWORDS:
            _opt_out(account.organization_id, channel, phone)
        elif word in START_KEYWORDS:
            deleted, _ = OptOut.objects.filter(
                organization_id=account.organization_id, channel=channel, phone=phone
            ).delete()
            if deleted:
                log.info("inbound START: %s re-subscribed on %s", _mask(phone), channel)
        transaction.on_commit(lambda: inbound_message_received.send(sender=InboundRow, inbound=row))
    return row, True


def open_window(organization_id: int, phone: str, at: datetime) -> None:
    """Set the contact's last inbound time to `at`, unless a later one is known."""
    if not ConversationWindow.objects.filter(organization_id=organization_id, phone=phone).exists():
        try:
            with transaction.atomic():
                ConversationWindow.objects.create(organization_id=organization_id, phone=phone, last_inbound_at=at)
                return
        except IntegrityError:
            pass  # created concurrently: move it forward below
    # A conditional update: messages can arrive out of order, the latest time wins.
    ConversationWindow.objects.filter(organization_id=organization_id, phone=phone, last_inbound_at__lt=at).update(
        last_inbound_at=at
    )


def _opt_out(organization_id: int, channel: str, phone: str) -> None:
    try:
        with transaction.atomic():
            _, created = OptOut.objects.get_or_create(
                organization_id=organization_id,
                channel=channel,
                phone=phone,
                defaults={"source": "inbound_keyword"},
            )
    except IntegrityError:
        created = False  # opted out concurrently
    if created:
        log.info("inbound STOP: %s opted out of %s", _mask(phone), channel)


def _mask(phone: str) -> str:
    return phone[:-4] + "****" if len(phone) > 6 else "****"
