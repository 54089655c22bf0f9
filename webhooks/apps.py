from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks and callbacks"

    def ready(self) -> None:
        from messaging.signals import inbound_message_received, message_status_changed
        from webhooks import receivers

        message_status_changed.connect(receivers.on_message_status_changed, dispatch_uid="webhooks.status_changed")
        inbound_message_received.connect(receivers.on_inbound_message_received, dispatch_uid="webhooks.inbound")
