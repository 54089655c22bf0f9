from django.apps import AppConfig

from jood.nav import NavLink


class ProvidersConfig(AppConfig):
    name = "providers"
    portal_nav = [NavLink("Provider accounts", "portal-providers", "providers", 120, group="settings")]
