"""The beat schedule of retention exists right after migrate (DESIGN.md: no manual step).

- the purge, daily at 03:30 in TIME_ZONE;
- the erasure of organizations whose deletion is due, hourly;
- the sweep of data exports (expired files, lost builds), hourly.
"""

from django.conf import settings
from django.db import migrations

PURGE = "retention: purge message logs"
DELETIONS = "retention: delete due organizations"
EXPORTS = "retention: sweep data exports"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")

    def crontab(minute, hour):
        schedule = CrontabSchedule.objects.filter(
            minute=minute,
            hour=hour,
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        ).order_by("id").first()
        return schedule or CrontabSchedule.objects.create(
            minute=minute,
            hour=hour,
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )

    tasks = {
        PURGE: ("retention.tasks.purge_message_logs", crontab("30", "3"), "Daily retention purge (PurgeRun rows)."),
        DELETIONS: (
            "retention.tasks.delete_due_organizations",
            crontab("45", "*"),
            "Erase organizations past their deletion grace period.",
        ),
        EXPORTS: ("retention.tasks.sweep_exports", crontab("5", "*"), "Expire data export files."),
    }
    for name, (task, schedule, description) in tasks.items():
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": task,
                "crontab": schedule,
                "interval": None,
                "enabled": True,
                "description": description,
            },
        )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[PURGE, DELETIONS, EXPORTS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
