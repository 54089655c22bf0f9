"""The Celery app.

With REDIS_URL set, tasks go through Redis to separate worker and beat
processes. Without it (embedded mode), CELERY_TASK_ALWAYS_EAGER runs each task
in the publishing process; dispatch tasks are published on commit, so they
run right after the request's transaction, and `manage.py run_embedded_scheduler`
plays beat's part (the sweeper, the purge).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jood.settings")

app = Celery("jood")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
