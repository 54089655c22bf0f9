from django.apps import AppConfig

from jood.nav import NavLink


class RetentionConfig(AppConfig):
    name = "retention"
    portal_nav = [NavLink("Privacy & data", "portal-privacy", "privacy", 170, group="settings")]
