"""The Celery app.

With REDIS_URL set, tasks go through Redis to separate worker and beat
processes. Without it (embedded mode), CELERY_TASK_ALWAYS_EAGER runs each task
in the publishing process; dispatch tasks are published on commit, so they
run right after the request's transaction, and `manage.py run_embedded_scheduler`
plays beat's part (the sweeper, the purge).

Queues (lanes), so that slow work of one kind never waits behind another:
`dispatch.0` … `dispatch.<DISPATCH_LANES - 1>` (sending, by a hash of the
provider account: messaging/dispatch.py), `retries` (the due-retry poll, every
few seconds), `sweeper`, `webhooks` (provider callbacks), `callbacks` (posts to
customers) and `maintenance` (purge, exports, template sync, daily stats, and
any task not routed). One worker for all of them on a laptop:

    celery -A jood worker -Q dispatch.0,dispatch.1,dispatch.2,dispatch.3,retries,sweeper,webhooks,callbacks,maintenance
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jood.settings")

app = Celery("jood")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def dispatch_queues() -> list[str]:
    from django.conf import settings

    return [f"dispatch.{n}" for n in range(max(1, settings.DISPATCH_LANES))]


def all_queues() -> list[str]:
    return [*dispatch_queues(), "retries", "sweeper", "webhooks", "callbacks", "maintenance"]


# The first pattern that matches a task's name decides its queue. `drain_lane` is
# published with its lane's queue named explicitly.
app.conf.task_routes = (
    [
        ("messaging.tasks.dispatch_messages", {"queue": "dispatch.0"}),
        ("messaging.tasks.drain_lane", {"queue": "dispatch.0"}),
        ("messaging.tasks.publish_due_retries", {"queue": "retries"}),
        ("messaging.tasks.sweep", {"queue": "sweeper"}),
        # A portal bulk upload waits on it: not behind a long purge on `maintenance`.
        ("messaging.tasks.accept_batch", {"queue": "sweeper"}),
        ("webhooks.tasks.deliver_*", {"queue": "callbacks"}),
        ("webhooks.tasks.*", {"queue": "webhooks"}),
        ("*", {"queue": "maintenance"}),
    ],
)
app.conf.task_default_queue = "maintenance"
