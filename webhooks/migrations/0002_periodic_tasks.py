"""The beat schedule of webhooks exists right after migrate: due callbacks and the event sweeper."""

from django.db import migrations

TASKS = {
    "webhooks: deliver due callbacks": "webhooks.tasks.deliver_due_callbacks",
    "webhooks: sweep unprocessed webhook events": "webhooks.tasks.sweep_webhook_events",
}


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute = (
        IntervalSchedule.objects.filter(every=1, period="minutes").order_by("id").first()
        or IntervalSchedule.objects.create(every=1, period="minutes")
    )
    for name, task in TASKS.items():
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": task, "interval": every_minute, "crontab": None, "enabled": True},
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=list(TASKS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
