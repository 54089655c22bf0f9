"""Record and read heartbeats (jood.models.Heartbeat): one UPDATE, or one INSERT the first time."""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

log = logging.getLogger(__name__)

BEAT = "beat"


def record(name: str = BEAT, at: datetime | None = None) -> None:
    """Store that `name` is alive now. Never raises: a failed write shows as a stale heartbeat."""
    from jood.models import Heartbeat

    at = at or timezone.now()
    try:
        if not Heartbeat.objects.filter(name=name).update(at=at):
            Heartbeat.objects.update_or_create(name=name, defaults={"at": at})
    except Exception as exc:
        log.warning("could not record the %s heartbeat: %s", name, exc)


def last(name: str = BEAT) -> datetime | None:
    from jood.models import Heartbeat

    return Heartbeat.objects.filter(name=name).values_list("at", flat=True).first()
