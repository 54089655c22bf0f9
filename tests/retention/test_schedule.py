"""The beat schedule of retention exists right after migrate."""

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from jood.celery import app

pytestmark = pytest.mark.django_db


def test_the_purge_runs_daily_at_half_past_three_local_time():
    task = PeriodicTask.objects.select_related("crontab").get(task="retention.tasks.purge_message_logs")
    assert task.enabled and task.interval_id is None
    cron = task.crontab
    assert (cron.minute, cron.hour, cron.day_of_week, cron.day_of_month, cron.month_of_year) == (
        "30",
        "3",
        "*",
        "*",
        "*",
    )
    assert str(cron.timezone) == settings.TIME_ZONE


def test_due_organizations_are_deleted_hourly():
    task = PeriodicTask.objects.select_related("crontab").get(task="retention.tasks.delete_due_organizations")
    assert task.enabled
    assert task.crontab.hour == "*" and task.crontab.minute.isdigit()


def test_export_files_are_swept_hourly():
    task = PeriodicTask.objects.select_related("crontab").get(task="retention.tasks.sweep_exports")
    assert task.enabled and task.crontab.hour == "*"


RETENTION_TASKS = {
    "retention.tasks.purge_message_logs",
    "retention.tasks.delete_due_organizations",
    "retention.tasks.sweep_exports",
}


def test_every_scheduled_retention_task_is_registered():
    app.loader.import_default_modules()
    scheduled = set(PeriodicTask.objects.filter(task__startswith="retention.").values_list("task", flat=True))
    # The schedule is the three tasks above (an empty one would pass any loop over it).
    assert scheduled == RETENTION_TASKS
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)
