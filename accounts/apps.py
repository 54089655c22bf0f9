from django.apps import AppConfig

from jood.nav import NavLink


class AccountsConfig(AppConfig):
    name = "accounts"
    portal_nav = [
        NavLink("Organization", "portal-organization-settings", "organization", 110, group="settings"),
        NavLink("API keys", "portal-api-keys", "api-keys", 140, group="settings"),
        NavLink("Team", "portal-team", "team", 150, group="settings"),
        NavLink("Access log", "portal-access-log", "access-log", 160, group="settings", needs="manage"),
    ]

    def ready(self) -> None:
        # Imported for their side effects: the system checks register
        # themselves and the access-log receivers connect.
        from accounts import checks, signals  # noqa: F401
