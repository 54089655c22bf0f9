"""The embedded scheduler plays beat's part when there is no Redis."""

from io import StringIO

from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from jood.celery import app


def test_every_periodic_task_names_a_registered_task(db):
    app.loader.import_default_modules()
    tasks = list(PeriodicTask.objects.values_list("task", flat=True))
    assert tasks, "the migrations create the beat schedule"
    assert [name for name in tasks if name not in app.tasks] == []


def test_once_runs_every_enabled_task_and_records_it(db, caplog):
    enabled = PeriodicTask.objects.filter(enabled=True)
    assert enabled.exists(), "the migrations create the beat schedule"
    call_command("run_embedded_scheduler", "--once", stdout=StringIO())
    assert "unknown task" not in caplog.text
    assert not enabled.filter(last_run_at__isnull=True).exists()
