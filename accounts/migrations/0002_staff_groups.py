"""The staff roles of the console, as groups (jood/admin_utils.py reads them).

- "Support": view permission on every model of our apps. Message content
  shows as hidden to them and no destructive action is offered.
- "Operators": view and change permission on every model of our apps
  (not on users: changing a user would let them grant themselves more);
  they run the console's actions and see message content.

Permissions are created here first (they normally appear in post_migrate,
after every migration), so the groups get them on a fresh database too.
A model added later needs its permissions given in its own migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

OUR_APPS = ["accounts", "providers", "messaging", "webhooks", "retention"]
SUPPORT = "Support"
OPERATORS = "Operators"
# Operators do not get these: they would allow raising one's own privileges.
NOT_FOR_OPERATORS = {("accounts", "change_user")}


def create_groups(apps, schema_editor):
    db = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=db)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.using(db).filter(content_type__app_label__in=OUR_APPS).select_related("content_type")
    view = [p for p in ours if p.codename.startswith("view_")]
    change = [
        p
        for p in ours
        if p.codename.startswith("change_") and (p.content_type.app_label, p.codename) not in NOT_FOR_OPERATORS
    ]

    support, _ = Group.objects.using(db).get_or_create(name=SUPPORT)
    support.permissions.add(*view)
    operators, _ = Group.objects.using(db).get_or_create(name=OPERATORS)
    operators.permissions.add(*view, *change)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=[SUPPORT, OPERATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0001_initial"),
        ("providers", "0001_initial"),
        ("messaging", "0006_template_sync_schedule"),
        ("webhooks", "0002_periodic_tasks"),
        ("retention", "0002_periodic_tasks"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
