from django.apps import AppConfig

from jood.nav import NavLink


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks and callbacks"
    portal_nav = [NavLink("Callback endpoints", "portal-callbacks", "callbacks", 130, group="settings")]

    def ready(self) -> None:
        from messaging.signals import inbound_message_received, message_status_changed
        from webhooks import receivers

        message_status_changed.connect(receivers.on_message_status_changed, dispatch_uid="webhooks.status_changed")
        inbound_message_received.connect(receivers.on_inbound_message_received, dispatch_uid="webhooks.inbound")
