from django.apps import AppConfig


class JoodConfig(AppConfig):
    name = "jood"
    verbose_name = "Jood Notifications"
