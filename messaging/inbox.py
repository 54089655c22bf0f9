"""The inbox's reads: conversations (one per contact number), a conversation's messages, the unread count.

A conversation is every message sent to a number and every message received
from it, in time order. The list shows the numbers that wrote to the
organization; any number's conversation can be opened. Writes (marking read,
replying) are in messaging/services.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.utils import timezone

from messaging.models import ConversationWindow, InboundMessage, Message
from messaging.services import WHATSAPP_WINDOW

# How many of each side a conversation page shows (the newest).
CONVERSATION_LIMIT = 200


def unread_count(organization) -> int:
    """Inbound messages nobody of the organization has opened yet (the partial index `inbound_unread`)."""
    return InboundMessage.objects.filter(organization=organization, read_at__isnull=True).count()


def conversations(organization, channel: str = ""):
    """Return a queryset of {from_number, last_at}: the numbers that wrote, the latest first.

    Cheap to page through (one GROUP BY on the organization's inbound rows);
    `describe` adds the counts and the last message of one page.
    """
    qs = InboundMessage.objects.filter(organization=organization)
    if channel:
        qs = qs.filter(channel=channel)
    return qs.values("from_number").annotate(last_at=Max("received_at")).order_by("-last_at", "from_number")


def describe(organization, phones: list[str], channel: str = "") -> dict[str, dict]:
    """Unread and total counts and the last message of each number (one query for the page)."""
    qs = InboundMessage.objects.filter(organization=organization, from_number__in=phones)
    if channel:
        qs = qs.filter(channel=channel)
    latest = qs.filter(from_number=OuterRef("from_number")).order_by("-received_at", "-id")
    rows = (
        qs.values("from_number")
        .annotate(
            unread=Count("id", filter=Q(read_at__isnull=True)),
            total=Count("id"),
            last_body=Subquery(latest.values("body")[:1]),
            last_channel=Subquery(latest.values("channel")[:1]),
        )
        .order_by()
    )
    return {row["from_number"]: row for row in rows}


@dataclass(frozen=True)
class Window:
    """A contact's WhatsApp 24-hour window, as of `now`."""

    last_inbound_at: datetime | None
    now: datetime

    @property
    def expires_at(self) -> datetime | None:
        return self.last_inbound_at + WHATSAPP_WINDOW if self.last_inbound_at else None

    @property
    def is_open(self) -> bool:
        return self.expires_at is not None and self.expires_at > self.now

    @property
    def remaining(self) -> timedelta:
        return max(self.expires_at - self.now, timedelta(0)) if self.expires_at else timedelta(0)

    @property
    def remaining_text(self) -> str:
        minutes = int(self.remaining.total_seconds() // 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def windows(organization, phones: list[str], now: datetime | None = None) -> dict[str, Window]:
    """The WhatsApp window of each number (one query)."""
    now = now or timezone.now()
    found = dict(
        ConversationWindow.objects.filter(organization=organization, phone__in=phones).values_list(
            "phone", "last_inbound_at"
        )
    )
    return {phone: Window(found.get(phone), now) for phone in phones}


@dataclass(frozen=True)
class Entry:
    """One line of a conversation: a message we sent, or one we received."""

    direction: str  # "out" or "in"
    at: datetime
    channel: str
    text: str
    status: str = ""
    message: Message | None = None
    inbound: InboundMessage | None = None


def conversation(organization, phone: str, channel: str = "") -> list[Entry]:
    """The newest messages to and from `phone`, oldest first."""
    sent = Message.objects.filter(organization=organization, to=phone).select_related("template")
    received = InboundMessage.objects.filter(organization=organization, from_number=phone)
    if channel:
        sent = sent.filter(channel=channel)
        received = received.filter(channel=channel)
    entries = [
        Entry(
            "out",
            m.created_at,
            m.channel,
            m.body or (f"Template {m.template.name}" if m.template else ""),
            status=m.status,
            message=m,
        )
        for m in sent.order_by("-created_at", "-id")[:CONVERSATION_LIMIT]
    ]
    entries += [
        Entry("in", r.received_at, r.channel, r.body, inbound=r)
        for r in received.order_by("-received_at", "-id")[:CONVERSATION_LIMIT]
    ]
    entries.sort(key=lambda e: e.at)
    return entries[-CONVERSATION_LIMIT:]
