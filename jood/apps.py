from django.apps import AppConfig


class JoodConfig(AppConfig):
    name = "jood"
    verbose_name = "Jood Notifications"

    def ready(self) -> None:
        from jood import checks  # noqa: F401  (registers the system checks)
