"""Staff console for provider callbacks (webhook events) and customer callbacks (endpoints, deliveries).

Raw bodies and callback payloads carry message texts: they show as hidden
to Support (jood/admin_utils.py). Endpoint secrets are never shown.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.services import Actor
from jood.admin_utils import (
    BigTableMixin,
    ContentMixin,
    OperateMixin,
    PublicIdSearchMixin,
    ReadOnlyMixin,
    as_uuid,
    can_see_content,
    choices_filter,
    has_error_filter,
    hidden_display,
    log_changes,
    plural,
    pretty_body,
    pretty_json,
    recent_filter,
    short,
)
from providers.models import Provider
from webhooks import callbacks, services
from webhooks.models import CallbackAttempt, CallbackDelivery, CallbackEndpoint, WebhookEvent

ACTION_LIMIT = 500
# A body search reads every body it looks at: only this far back (received_at is indexed).
BODY_SEARCH_WINDOW = timedelta(days=3)


EventFailedRecentlyFilter = recent_filter("failed", "failed", "received_at", Q(state=WebhookEvent.State.FAILED))


@admin.register(WebhookEvent)
class WebhookEventAdmin(OperateMixin, ReadOnlyMixin, ContentMixin, BigTableMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "received_at",
        "provider",
        "provider_account",
        "organization",
        "signature_valid",
        "state",
        "attempts",
        "error_preview",
    )
    list_select_related = ("provider_account__organization",)
    list_filter = (
        "state",
        choices_filter("provider", "provider", "provider", Provider.choices),
        "signature_valid",
        EventFailedRecentlyFilter,
        has_error_filter("error"),
        ("received_at", admin.DateFieldListFilter),
    )
    search_fields = ("dedup_key",)
    search_help_text = (
        "Exact: an event number or dedup key. Other text is looked for in the bodies of the last 3 days "
        "(Operators only)."
    )
    sortable_by = ("id", "received_at")
    fieldsets = [
        (None, {"fields": ["provider", "provider_account", "method", "url", "received_at"]}),
        ("Verification", {"fields": ["signature_valid", "dedup_key"]}),
        ("Processing", {"fields": ["state", "attempts", "processed_at", "error", "result_text"]}),
        ("Request", {"fields": ["headers_text", "body_encoding", "body_text"]}),
    ]
    content = {"body_text": "body_hidden"}
    actions = ["reprocess"]

    def get_readonly_fields(self, request, obj=None):
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider_account__organization")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(pk=int(term)), False
        if len(term) == 64 and all(ch in "0123456789abcdef" for ch in term.lower()):
            return queryset.filter(dedup_key=term.lower()), False
        if can_see_content(request.user) and len(term) >= 4:
            since = timezone.now() - BODY_SEARCH_WINDOW
            return queryset.filter(received_at__gte=since, body__contains=term), False
        return queryset.none(), False

    @admin.display(description="organization")
    def organization(self, event: WebhookEvent):
        account = event.provider_account
        return account.organization if account else "-"

    @admin.display(description="error")
    def error_preview(self, event: WebhookEvent) -> str:
        return short(event.error, 60) or "-"

    @admin.display(description="body")
    def body_text(self, event: WebhookEvent) -> str:
        if event.body_encoding == WebhookEvent.BodyEncoding.BASE64:
            return f"(binary, {len(event.raw_body)} bytes)"
        return pretty_body(event.body, str((event.headers or {}).get("content-type", "")))

    body_hidden = hidden_display("body")

    @admin.display(description="headers")
    def headers_text(self, event: WebhookEvent) -> str:
        return pretty_json(event.headers)

    @admin.display(description="result")
    def result_text(self, event: WebhookEvent) -> str:
        return pretty_json(event.result)

    @admin.action(description="Process the selected events again", permissions=["operate"])
    def reprocess(self, request, queryset) -> None:
        done = []
        for event in queryset.order_by("received_at", "id")[:ACTION_LIMIT]:
            result = services.reprocess_event(event)
            self.log_change(request, event, f"Processed again from the console: {result.state}.")
            done.append(result)
        failed = sum(1 for e in done if e.state == WebhookEvent.State.FAILED)
        self.message_user(
            request,
            f"Processed {plural(len(done), 'event')} again; {failed} failed.",
            messages.WARNING if failed else messages.SUCCESS,
        )


class CallbackEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = CallbackEndpoint
        fields = ["url", "events", "description", "is_active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            callbacks.validate_url(url)
        except Exception as exc:
            raise forms.ValidationError(str(exc)) from None
        return url


@admin.register(CallbackEndpoint)
class CallbackEndpointAdmin(PublicIdSearchMixin, OperateMixin, admin.ModelAdmin):
    form = CallbackEndpointForm
    list_display = ("url", "organization", "events", "is_active", "failed_day", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("organization",)
    search_fields = ("url", "organization__name")
    # The signing secret is shown to the customer once, and never here.
    exclude = ("secret", "previous_secret")
    fields = (
        "public_id",
        "organization",
        "url",
        "events",
        "description",
        "is_active",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("public_id", "organization", "created_at", "updated_at")

    def has_add_permission(self, request) -> bool:
        # Endpoints are created by their organization, who receives the secret.
        return False

    def get_queryset(self, request):
        since = timezone.now() - timedelta(hours=24)
        failed = (
            CallbackDelivery.objects.filter(endpoint=OuterRef("pk"), state="failed", created_at__gte=since)
            .order_by()
            .values("endpoint")
            .annotate(n=Count("id"))
            .values("n")
        )
        return super().get_queryset(request).annotate(failed_deliveries=Coalesce(Subquery(failed), 0))

    @admin.display(description="failed (24 h)", ordering="failed_deliveries")
    def failed_day(self, endpoint: CallbackEndpoint) -> int:
        return getattr(endpoint, "failed_deliveries", 0)

    def save_model(self, request, obj, form, change) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in services.ENDPOINT_FIELDS}
        if change and changes:
            fresh = CallbackEndpoint.objects.get(pk=obj.pk)
            services.update_endpoint(fresh, actor=Actor.from_request(request), **changes)

    def get_deleted_objects(self, objs, request):
        # Deleting an endpoint takes its delivery log with it (webhooks.services.delete_endpoint);
        # the log is read-only in the console, which must not block that.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj: CallbackEndpoint) -> None:
        services.delete_endpoint(obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset) -> None:
        actor = Actor.from_request(request)
        for endpoint in queryset.select_related("organization"):
            services.delete_endpoint(endpoint, actor=actor)


class CallbackAttemptInline(admin.TabularInline):
    model = CallbackAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CallbackDelivery)
class CallbackDeliveryAdmin(OperateMixin, ReadOnlyMixin, ContentMixin, BigTableMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "webhook_id",
        "organization",
        "event_type",
        "url",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
    )
    list_filter = (
        "state",
        "event_type",
        has_error_filter("last_error"),
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("organization",)
    search_fields = ("=webhook_id",)
    search_help_text = "Exact: a webhook-id (msg_…) or a message id."
    sortable_by = ("created_at",)
    fields = (
        "public_id",
        "webhook_id",
        "organization",
        "endpoint",
        "message",
        "inbound_message",
        "url",
        "event_type",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_latency_ms",
        "last_error",
        "created_at",
        "finished_at",
        "payload_text",
    )
    content = {"payload_text": "payload_hidden"}
    inlines = [CallbackAttemptInline]
    actions = ["retry"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization", "endpoint", "message", "inbound_message")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        public_id = as_uuid(term)
        if public_id is not None:
            return queryset.filter(Q(message__public_id=public_id) | Q(public_id=public_id)), False
        return queryset.filter(webhook_id=term), False

    @admin.display(description="payload")
    def payload_text(self, delivery: CallbackDelivery) -> str:
        return pretty_json(delivery.payload)

    payload_hidden = hidden_display("payload")

    @admin.action(description="Try the selected deliveries again now", permissions=["operate"])
    def retry(self, request, queryset) -> None:
        queued = [delivery for delivery in queryset[:ACTION_LIMIT] if callbacks.retry_now(delivery)]
        log_changes(self, request, queued, "Queued again from the console.")
        self.message_user(request, f"{plural(len(queued), 'delivery', 'deliveries')} queued again.", messages.SUCCESS)
