"""The staff console for messages and what hangs off them.

Messages are read-only here: they change through `messaging.services`
(retry, cancel) and the dispatcher. The message table is the biggest of
all, so its list counts at most COUNT_CAP rows, filters on fixed choices
(no `SELECT DISTINCT` over it) and searches exact values on indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import Count, Q
from django.utils.html import format_html

from accounts.models import Organization
from accounts.services import Actor
from jood.admin_utils import (
    BigTableMixin,
    ContentMixin,
    OperateMixin,
    PageAnnotationMixin,
    PhoneSearchMixin,
    ReadOnlyMixin,
    as_uuid,
    choices_filter,
    has_error_filter,
    hidden_display,
    log_changes,
    plural,
    pretty_json,
    recent_filter,
    short,
)
from jood.phones import candidates, is_local, searched_number
from messaging import services
from messaging.models import (
    Batch,
    ConversationWindow,
    DailyStats,
    DeliveryAttempt,
    IdempotencyRecord,
    InboundMessage,
    MediaFile,
    Message,
    MessageEvent,
    OptOut,
    PendingStatusUpdate,
    Status,
    Template,
)
from providers import admin as providers_admin
from providers.models import Provider, ProviderAccount

# An action touches at most this many rows ("select all" over a big table included).
ACTION_LIMIT = 1000
# Above this many organizations the phone search stops naming them (see _search_messages).
ORG_IN_LIST_LIMIT = 5000

FAILURES = [Status.FAILED, Status.UNDELIVERED, Status.REJECTED]

ProviderFilter = choices_filter("provider", "provider", "provider", Provider.choices)
MessageStatusFilter = choices_filter("status", "status", "status", Status.choices)


def body_columns(description: str):
    """The list's short body and the page's whole body of a model with a `body` (an admin's two columns)."""

    @admin.display(description=description)
    def preview(self, obj) -> str:
        return short(obj.body, 50)

    @admin.display(description=description)
    def whole(self, obj) -> str:
        return obj.body or "-"

    return preview, whole


def json_column(field: str, description: str):
    """A read-only column showing a JSON field, indented."""

    @admin.display(description=description)
    def column(self, obj) -> str:
        return pretty_json(getattr(obj, field))

    return column


# "Failed in the last hour": failed, undelivered or rejected, by failed_at.
MessageFailedRecentlyFilter = recent_filter("failed", "failed", "failed_at", Q(status__in=FAILURES))


class MessageEventInline(ReadOnlyMixin, admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    show_change_link = False
    fields = [
        "received_at",
        "status",
        "raw_status",
        "source",
        "applied",
        "provider_timestamp",
        "error_code",
        "error_message",
        "detail",
    ]
    readonly_fields = fields
    verbose_name_plural = "timeline (every report, moving the status or not)"


class DeliveryAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["started_at", "provider_account", "outcome", "http_status", "latency_ms", "error_code", "error_message"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("provider_account")


def _search_messages(queryset, term: str):
    """Exact matches only, each on an index: public id, provider message id, or phone number.

    - provider message id: `provider IN (every provider) AND provider_message_id = x`
      walks msg_provider_id (provider, provider_message_id) once per provider;
    - phone: `organization_id IN (...) AND to = x` walks msg_org_to the same way.
    """
    term = term.strip()
    condition = Q(provider__in=Provider.values, provider_message_id=term)
    public_id = as_uuid(term)
    if public_id is not None:
        condition |= Q(public_id=public_id)
    phones = _phone_candidates(term)
    if phones:
        org_ids = list(Organization.objects.order_by().values_list("pk", flat=True)[: ORG_IN_LIST_LIMIT + 1])
        if len(org_ids) <= ORG_IN_LIST_LIMIT:
            condition |= Q(organization_id__in=org_ids, to__in=phones)
        else:
            condition |= Q(to__in=phones)
    return queryset.filter(condition)


def _phone_candidates(term: str) -> list[str]:
    """The E.164 numbers a search term can mean: +966…, 00966…, 966…, or a local 05… in any organization's country.

    A local number has no country, so it is read in each country an
    organization has set (and PHONE_DEFAULT_REGION), as the portal reads it
    in the organization's own.
    """
    if not is_local(term):
        return candidates(term)
    regions = {settings.PHONE_DEFAULT_REGION} | set(
        Organization.objects.exclude(country="").values_list("country", flat=True).distinct()
    )
    return candidates(term, regions)


@dataclass(frozen=True)
class MessageAction:
    """An operator's action on selected messages: the service that does it and what the console says."""

    statuses: tuple[str, ...]
    service: Callable[..., bool]
    history: str
    done: str
    skipped_because: str


RETRY = MessageAction(
    services.RETRYABLE,
    services.retry_message,
    history="Retried from the console: queued for a new attempt.",
    done="Queued {} again for a new attempt.",
    skipped_because="only failed or undelivered messages are retried",
)
CANCEL = MessageAction(
    (Status.QUEUED, Status.SCHEDULED),
    services.cancel_message,
    history="Canceled from the console.",
    done="Canceled {}.",
    skipped_because="only queued or scheduled messages can be canceled",
)


@admin.register(Message)
class MessageAdmin(OperateMixin, ReadOnlyMixin, ContentMixin, BigTableMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "public_id",
        "organization",
        "channel",
        "to",
        "status",
        "provider_account",
        "error_code",
        "attempts",
        "body_preview",
    ]
    list_display_links = ["created_at", "public_id"]
    list_select_related = ["organization", "provider_account"]
    list_filter = [
        "status",
        "channel",
        ProviderFilter,
        MessageFailedRecentlyFilter,
        has_error_filter("error_code", "error_message"),
        ("created_at", admin.DateFieldListFilter),
        ("organization", admin.RelatedFieldListFilter),
    ]
    search_fields = ["public_id"]  # shows the search box; the search itself is exact (get_search_results)
    search_help_text = "Exact: a message id, a provider message id, or a phone number (+9665…, 009665…, 05…)."
    sortable_by = ["created_at"]
    inlines = [MessageEventInline, DeliveryAttemptInline]
    actions = ["retry", "cancel"]
    fieldsets = [
        (None, {"fields": ["public_id", "organization", "channel", "to", "sender", "status", "batch"]}),
        ("Why it failed", {"fields": ["error_code", "error_message"]}),
        ("Content", {"fields": ["body_text", "template", "template_params_text", "media"]}),
        (
            "Provider",
            {
                "fields": [
                    "provider_account",
                    "requested_account",
                    "provider",
                    "provider_message_id",
                    "encoding",
                    "segments",
                    "price",
                    "price_currency",
                ]
            },
        ),
        (
            "Times",
            {
                "fields": [
                    "created_at",
                    "scheduled_at",
                    "queued_at",
                    "sent_at",
                    "delivered_at",
                    "read_at",
                    "failed_at",
                    "canceled_at",
                    "updated_at",
                ]
            },
        ),
        (
            "Dispatch",
            {"fields": ["attempts", "attempts_on_account", "tried_accounts", "next_attempt_at", "lease_expires_at"]},
        ),
        ("Customer's", {"fields": ["metadata_text", "callback_url"]}),
    ]
    content = {"body_text": "body_hidden", "body_preview": "body_hidden", "template_params_text": "params_hidden"}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if getattr(request.resolver_match, "url_name", "") == "messaging_message_changelist":
            # Loading the provider account for its name must not decrypt its
            # credentials, twice per row of a 100-row page.
            queryset = queryset.select_related("organization", "provider_account").defer(
                "provider_account__credentials", "provider_account__webhook_secret"
            )
        return queryset

    def get_readonly_fields(self, request, obj=None):
        return flatten_fieldsets(self.get_fieldsets(request, obj))

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return _search_messages(queryset, search_term), False

    # --- columns -----------------------------------------------------------------------
    body_preview, body_text = body_columns("body")
    template_params_text = json_column("template_params", "template parameters")
    metadata_text = json_column("metadata", "metadata")

    body_hidden = hidden_display("body")
    params_hidden = hidden_display("template parameters")

    # --- actions -------------------------------------------------------------------------
    @admin.action(description="Retry the selected failed messages (a new attempt each)", permissions=["operate"])
    def retry(self, request, queryset) -> None:
        self._apply(request, queryset, RETRY)

    @admin.action(description="Cancel the selected queued or scheduled messages", permissions=["operate"])
    def cancel(self, request, queryset) -> None:
        self._apply(request, queryset, CANCEL)

    def _apply(self, request, queryset, action: MessageAction) -> None:
        """Call the action's service on the selected messages (ACTION_LIMIT at most), leave history, and say so.

        The service decides under the row lock; `statuses` only spares it the rows that are plainly not for it.
        """
        actor = Actor.from_request(request)
        rows = list(queryset.order_by()[:ACTION_LIMIT])
        changed = [m for m in rows if m.status in action.statuses and action.service(m, actor=actor)]
        log_changes(self, request, changed, action.history)
        skipped = len(rows) - len(changed)
        text = action.done.format(plural(len(changed), "message"))
        if skipped:
            text += f" {plural(skipped, 'message')} skipped: {action.skipped_because}."
        self.message_user(request, text, messages.SUCCESS if changed else messages.WARNING)


class MessageIdSearchMixin:
    """Searches the rows of one message, by its exact public id."""

    search_fields = ["message__public_id"]  # shows the search box; the search itself is exact
    search_help_text = "Exact: the message id."

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        public_id = as_uuid(search_term)
        if public_id is None:
            return queryset.none(), False
        return queryset.filter(message__public_id=public_id), False


@admin.register(MessageEvent)
class MessageEventAdmin(MessageIdSearchMixin, ReadOnlyMixin, BigTableMixin, admin.ModelAdmin):
    list_display = ["received_at", "message", "status", "raw_status", "source", "applied", "error_code"]
    list_select_related = ["message"]
    list_filter = [
        MessageStatusFilter,
        "source",
        "applied",
        has_error_filter("error_code", "error_message"),
        ("received_at", admin.DateFieldListFilter),
    ]
    sortable_by = ["received_at"]
    raw_id_fields = ["message"]


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(MessageIdSearchMixin, ReadOnlyMixin, BigTableMixin, admin.ModelAdmin):
    list_display = ["started_at", "message", "provider_account", "outcome", "http_status", "latency_ms", "error_code"]
    list_select_related = ["message", "provider_account"]
    list_filter = [
        "outcome",
        has_error_filter("error_code", "error_message"),
        ("started_at", admin.DateFieldListFilter),
        ("provider_account", admin.RelatedFieldListFilter),
    ]
    sortable_by = ["started_at"]


@admin.register(Batch)
class BatchAdmin(ReadOnlyMixin, PageAnnotationMixin, admin.ModelAdmin):
    list_display = ["created_at", "__str__", "organization", "channel", "total", "accepted", "refused", "progress"]
    list_select_related = ["organization"]
    list_filter = ["channel", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["name", "organization__name"]
    fields = [
        "public_id",
        "organization",
        "name",
        "channel",
        "total",
        "accepted",
        "refused",
        "progress_detail",
        "created_by",
        "api_key",
        "created_at",
    ]
    readonly_fields = fields

    def annotate_page(self, request, rows: list[Batch]) -> None:
        """Counts by status of every batch on the page, in one query."""
        counts: dict[int, dict[str, int]] = {}
        for row in (
            Message.objects.filter(batch_id__in=[b.pk for b in rows])
            .values("batch_id", "status")
            .annotate(n=Count("id"))
            .order_by()
        ):
            counts.setdefault(row["batch_id"], {})[row["status"]] = row["n"]
        for batch in rows:
            batch.status_counts = counts.get(batch.pk, {})

    @admin.display(description="progress")
    def progress(self, batch: Batch) -> str:
        by_status = getattr(batch, "status_counts", {})
        total = sum(by_status.values())
        waiting = sum(by_status.get(s, 0) for s in (Status.SCHEDULED, Status.QUEUED, Status.SENDING))
        percent = 100.0 if total == 0 else round(100.0 * (total - waiting) / total, 1)
        failed = sum(by_status.get(s, 0) for s in FAILURES)
        return f"{percent}% done · {waiting} waiting · {failed} failed"

    @admin.display(description="progress")
    def progress_detail(self, batch: Batch) -> str:
        progress = services.batch_progress(batch)
        return format_html(
            "{}% done ({} of {})<br>{}",
            progress["percent"],
            progress["done"],
            progress["total"],
            ", ".join(f"{status}: {n}" for status, n in sorted(progress["counts"].items())) or "no messages",
        )


@admin.register(Template)
class TemplateAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "language", "organization", "kind", "channel", "approval_status", "category", "synced_at"]
    list_select_related = ["organization", "provider_account"]
    list_filter = ["kind", "channel", "approval_status", "category"]
    search_fields = ["name", "=external_id", "organization__name"]
    fields = [
        "public_id",
        "organization",
        "kind",
        "channel",
        "name",
        "language",
        "body",
        "provider_account",
        "external_id",
        "category",
        "components_text",
        "approval_status",
        "synced_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    components_text = json_column("components", "components")


@admin.register(MediaFile)
class MediaFileAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Uploaded media: what and how big, never a link to the file (it is the customer's content)."""

    list_display = ["created_at", "filename", "organization", "kind", "content_type", "size"]
    list_select_related = ["organization"]
    list_filter = ["kind"]
    search_fields = ["=sha256", "organization__name"]
    fields = ["public_id", "organization", "filename", "kind", "content_type", "size", "sha256", "created_at"]
    readonly_fields = fields


@admin.register(OptOut)
class OptOutAdmin(PhoneSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["phone", "channel", "organization", "source", "created_at"]
    list_select_related = ["organization"]
    list_filter = ["channel", "source"]
    search_fields = ["=phone", "organization__name"]
    search_help_text = "A phone number (exact) or an organization's name."
    fields = ["organization", "channel", "phone", "source", "created_at"]
    readonly_fields = fields


@admin.register(ConversationWindow)
class ConversationWindowAdmin(PhoneSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["phone", "organization", "last_inbound_at"]
    list_select_related = ["organization"]
    search_fields = ["=phone"]
    fields = ["organization", "phone", "last_inbound_at"]
    readonly_fields = fields


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyMixin, ContentMixin, BigTableMixin, admin.ModelAdmin):
    list_display = ["created_at", "from_number", "organization", "channel", "provider_account", "body_preview"]
    list_select_related = ["organization", "provider_account"]
    list_filter = ["channel", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=from_number"]
    search_help_text = "Exact: a phone number, a provider message id or an inbound message id."
    sortable_by = ["created_at"]
    fields = [
        "public_id",
        "organization",
        "provider_account",
        "channel",
        "from_number",
        "to_number",
        "profile_name",
        "body_text",
        "media_text",
        "provider_message_id",
        "received_at",
        "created_at",
    ]
    content = {"body_text": "body_hidden", "body_preview": "body_hidden", "media_text": "media_hidden"}

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        condition = Q(provider_message_id=term)
        if (public_id := as_uuid(term)) is not None:
            condition |= Q(public_id=public_id)
        if (phone := searched_number(term)) is not None:
            condition |= Q(from_number=phone)
        return queryset.filter(condition), False

    body_preview, body_text = body_columns("text")
    media_text = json_column("media", "media")

    body_hidden = hidden_display("text")
    media_hidden = hidden_display("media")


@admin.register(PendingStatusUpdate)
class PendingStatusUpdateAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Status reports that arrived before their message was written; matched by the sweeper."""

    list_display = ["received_at", "provider", "provider_message_id", "organization", "webhook_event_id"]
    list_select_related = ["organization"]
    list_filter = [ProviderFilter]
    search_fields = ["=provider_message_id"]
    fields = ["organization", "provider", "provider_message_id", "payload_text", "webhook_event_id", "received_at"]
    readonly_fields = fields

    payload_text = json_column("payload", "payload")


@admin.register(DailyStats)
class DailyStatsAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "day",
        "organization",
        "channel",
        "provider",
        "country",
        "status",
        "error_code",
        "count",
        "segments",
        "price",
        "price_currency",
    ]
    list_select_related = ["organization"]
    list_filter = ["channel", ProviderFilter, MessageStatusFilter, ("day", admin.DateFieldListFilter)]
    search_fields = ["organization__name"]
    date_hierarchy = "day"
    fields = [
        "organization",
        "day",
        "channel",
        "provider",
        "provider_account",
        "country",
        "status",
        "error_code",
        "count",
        "segments",
        "price",
        "price_currency",
        "priced",
        "delivery_seconds",
    ]
    readonly_fields = fields


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyMixin, ContentMixin, admin.ModelAdmin):
    list_display = ["created_at", "key", "organization", "endpoint", "response_status"]
    list_select_related = ["organization"]
    list_filter = ["endpoint", "response_status"]
    search_fields = ["=key"]
    fields = ["organization", "key", "endpoint", "request_hash", "response_status", "response_text", "created_at"]
    content = {"response_text": "response_hidden"}

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    response_text = json_column("response_body", "response body")

    response_hidden = hidden_display("response body")


class ProviderAccountAdmin(providers_admin.ProviderAccountAdmin):
    """The provider account page, plus the WhatsApp template sync (which lives in messaging)."""

    actions = [*providers_admin.ProviderAccountAdmin.actions, "sync_templates"]

    @admin.action(description="Sync WhatsApp templates from Meta", permissions=["operate"])
    def sync_templates(self, request, queryset) -> None:
        from messaging.template_sync import sync_templates

        accounts = list(
            queryset.filter(provider=Provider.WHATSAPP).select_related("organization")[: providers_admin.CHECK_LIMIT]
        )
        if not accounts:
            self.message_user(request, "Template sync is for WhatsApp Cloud API accounts only.", messages.WARNING)
            return
        for account in accounts:
            try:
                counts = sync_templates(account)
            except Exception as exc:  # Meta down or refusing: say so, sync the others
                self.message_user(request, f"{account}: the sync failed — {exc}", messages.ERROR)
                continue
            summary = ", ".join(f"{n} {what}" for what, n in counts.items())
            self.log_change(request, account, f"Synced WhatsApp templates: {summary}.")
            self.message_user(request, f"{account}: templates synced ({summary}).", messages.SUCCESS)


admin.site.unregister(ProviderAccount)
admin.site.register(ProviderAccount, ProviderAccountAdmin)
