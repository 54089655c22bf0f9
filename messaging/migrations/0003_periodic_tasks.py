"""The beat schedule of messaging exists right after migrate: the sweeper and the stats roll-up."""

from django.conf import settings
from django.db import migrations


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name="messaging: sweep waiting messages",
        defaults={"task": "messaging.tasks.sweep", "interval": every_minute, "crontab": None, "enabled": True},
    )
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="1", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.update_or_create(
        name="messaging: roll up daily stats",
        defaults={"task": "messaging.tasks.rollup_daily_stats", "crontab": nightly, "interval": None, "enabled": True},
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__startswith="messaging: ").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0002_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
