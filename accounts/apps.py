from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Imported for their side effects: the system checks register
        # themselves and the access-log receivers connect.
        from accounts import checks, signals  # noqa: F401
