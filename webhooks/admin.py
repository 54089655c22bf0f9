"""Staff console for provider callbacks and customer callbacks."""

from __future__ import annotations

from django.contrib import admin, messages

from webhooks import callbacks, services
from webhooks.models import CallbackAttempt, CallbackDelivery, CallbackEndpoint, WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ("id", "provider", "provider_account", "received_at", "state", "attempts", "error")
    list_filter = ("state", "provider", "signature_valid")
    list_select_related = ("provider_account",)
    search_fields = ("dedup_key", "body")
    date_hierarchy = "received_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
    actions = ["reprocess"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Process the selected events again")
    def reprocess(self, request, queryset):
        states = [services.reprocess_event(event).state for event in queryset[:500]]
        failed = states.count(WebhookEvent.State.FAILED)
        self.message_user(
            request,
            f"Processed {len(states)} event(s); {failed} failed.",
            messages.WARNING if failed else messages.SUCCESS,
        )


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "organization", "events", "is_active", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("organization",)
    search_fields = ("url", "organization__name")
    exclude = ("secret",)
    readonly_fields = ("public_id", "created_at", "updated_at")


class CallbackAttemptInline(admin.TabularInline):
    model = CallbackAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("number", "started_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "webhook_id",
        "organization",
        "event_type",
        "url",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("state", "event_type")
    list_select_related = ("organization",)
    search_fields = ("webhook_id", "url")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in CallbackDelivery._meta.fields]
    inlines = [CallbackAttemptInline]
    actions = ["retry"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Try the selected deliveries again now")
    def retry(self, request, queryset):
        count = sum(callbacks.retry_now(delivery) for delivery in queryset[:500])
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)
