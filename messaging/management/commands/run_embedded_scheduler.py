"""Play celery-beat's part in embedded mode (no REDIS_URL): run the periodic tasks in this process.

It reads the same django-celery-beat `PeriodicTask` rows that beat reads and
runs each due task in-process (tasks are eager in embedded mode).
"""

from __future__ import annotations

import json
import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from jood import heartbeat

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run the periodic tasks (sweeper, purge, callbacks) in this process, for embedded mode."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every enabled task once and exit.")
        parser.add_argument("--tick", type=float, default=5.0, help="Seconds between checks.")

    def handle(self, *args, once=False, tick=5.0, **options):
        if settings.REDIS_URL and not once:
            raise CommandError("REDIS_URL is set: run `celery -A jood beat` and a worker instead.")
        from jood.celery import app

        # Import every app's tasks module so each task name resolves (Celery's
        # autodiscovery is lazy until a worker starts).
        app.loader.import_default_modules()
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        last_run: dict[int, float] = {}
        self.stdout.write("Embedded scheduler running; Ctrl-C to stop.")
        while not stopping:
            now = time.time()
            heartbeat.record(heartbeat.BEAT)
            for task in PeriodicTask.objects.filter(enabled=True).select_related("interval", "crontab"):
                if not once and not self._due(task, last_run.get(task.pk), now):
                    continue
                last_run[task.pk] = now
                try:
                    app.tasks[task.task].apply(args=json.loads(task.args or "[]"))
                    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now())
                except KeyError:
                    log.error("periodic task %s names unknown task %s", task.name, task.task)
                except Exception:
                    log.exception("periodic task %s failed", task.name)
            if once:
                return
            try:
                time.sleep(tick)
            except KeyboardInterrupt:
                return

    @staticmethod
    def _due(task, last: float | None, now: float) -> bool:
        if task.interval is not None:
            return last is None or now - last >= task.interval.schedule.run_every.total_seconds()
        if task.crontab is not None:
            if task.last_run_at is None:
                # As beat does: a new crontab task waits for its first slot.
                PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now())
                return False
            return task.crontab.schedule.is_due(task.last_run_at).is_due
        return False
