"""The admin app with the console's own site (jood.admin_utils.AdminSite): INSTALLED_APPS names this config.

Kept apart from admin_utils so that loading INSTALLED_APPS imports nothing of the admin's models.
"""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "jood.admin_utils.AdminSite"
