"""Beat publishes the due-retry poll every 2 seconds (queue `retries`): a retry goes out on time."""

from django.db import migrations


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_2s, _ = IntervalSchedule.objects.get_or_create(every=2, period="seconds")
    PeriodicTask.objects.update_or_create(
        name="messaging: publish due retries",
        defaults={
            "task": "messaging.tasks.publish_due_retries",
            "interval": every_2s,
            "crontab": None,
            "enabled": True,
            # A poll that waited longer than its period is pointless: the next one comes.
            "expire_seconds": 10,
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name="messaging: publish due retries").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0008_dispatch_engine"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
