"""WhatsApp templates are synced from Meta daily, right after migrate (and on demand by API or admin)."""

from django.conf import settings
from django.db import migrations


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="7", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    PeriodicTask.objects.update_or_create(
        name="messaging: sync WhatsApp templates",
        defaults={"task": "messaging.tasks_sync.sync_all_templates", "crontab": daily, "interval": None,
                  "enabled": True},
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="messaging: sync WhatsApp templates"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0005_template_constraints"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
