"""celery-beat's scheduler: django-celery-beat's database scheduler plus a heartbeat.

`celery -A jood beat` uses it (CELERY_BEAT_SCHEDULER). Every tick at most every
BEAT_HEARTBEAT_SECONDS it records the `beat` heartbeat, so /healthz/ready and
the operations page see a stopped (or hung) beat within a minute.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import close_old_connections
from django_celery_beat.schedulers import DatabaseScheduler

from jood import heartbeat


class HeartbeatScheduler(DatabaseScheduler):
    _last_heartbeat = 0.0

    def tick(self, *args, **kwargs):
        delay = super().tick(*args, **kwargs)
        now = time.monotonic()
        every = settings.BEAT_HEARTBEAT_SECONDS
        if now - self._last_heartbeat >= every:
            # Beat holds one connection for days: drop it if PostgreSQL closed it.
            close_old_connections()
            heartbeat.record(heartbeat.BEAT)
            self._last_heartbeat = now
        # Wake up in time for the next heartbeat even when no task is due soon.
        return min(delay, every)
