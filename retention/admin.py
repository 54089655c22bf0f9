"""The staff console for retention: organizations (holds, pausing, the purge), purge runs, deletions, exports.

The organization page is accounts' (accounts/admin.py), extended here
through its hook with what only retention may reach: counts from providers
and messaging, legal holds, pausing and the purge. Every action calls a service of
retention/services.py or retention/purge.py and leaves an admin LogEntry.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts import admin as accounts_admin
from accounts.models import Organization
from accounts.services import Actor
from jood.admin_utils import (
    OperateMixin,
    PublicIdSearchMixin,
    ReadOnlyMixin,
    can_operate,
    log_changes,
    plural,
    pretty_json,
)
from messaging.models import Message
from providers.models import ProviderAccount
from retention import purge, services
from retention.models import DataExport, LegalHold, PurgeRun, ScheduledDeletion

# A purge started from the console runs inside the request: it stops at this budget and the nightly run resumes.
CONSOLE_PURGE_BUDGET_SECONDS = 20.0
# Organizations one console purge goes through (each its own run).
PURGE_ORGANIZATION_LIMIT = 20
USAGE_DAYS = 30


def _actor(request) -> Actor:
    return Actor.from_request(request)


# --- organizations ------------------------------------------------------------------------


class LegalHoldActionForm(forms.Form):
    until = forms.DateField(
        label="Hold until (inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Nothing of the organization is purged until this day has passed.",
    )
    reason = forms.CharField(
        max_length=300, help_text="The case or request reference, e.g. 'Subpoena 2026-17'.", widget=forms.TextInput
    )

    def clean_until(self):
        until = self.cleaned_data["until"]
        if until < timezone.localdate():
            raise forms.ValidationError("A legal hold must end today or later.")
        return until

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give the reason for the hold.")
        return reason


def _selected(request, queryset) -> list[str]:
    """The primary keys to post back from an intermediate page."""
    return [str(pk) for pk in queryset.values_list("pk", flat=True)]


def purge_table_rows(runs: list[PurgeRun]) -> list[dict]:
    """Rows of the per-table summary of one or more runs: the tables with something in them."""
    tables: dict[str, int] = {}
    for run in runs:
        for table, n in (run.deleted or {}).items():
            tables[table] = tables.get(table, 0) + int(n)
    return [{"table": table, "rows": n} for table, n in tables.items() if n]


def run_purge_step(request, *, organizations: list[Organization | None], dry_run: bool) -> tuple[list[PurgeRun], str]:
    """Run the purge (or its dry run) once per organization (None: all); return the runs and an error, if any."""
    runs: list[PurgeRun] = []
    for organization in organizations:
        try:
            runs.append(
                purge.run(
                    dry_run=dry_run,
                    organization=organization,
                    trigger="admin",
                    budget=min(purge.budget_seconds(), CONSOLE_PURGE_BUDGET_SECONDS),
                )
            )
        except Exception as exc:  # the run records its error; the page says so
            return runs, f"The purge failed: {exc.__class__.__name__}: {exc}"
    return runs, ""


class RetentionOrganizations(accounts_admin.OrganizationAdminExtension):
    """Organizations: provider accounts, usage and the deletion date; legal hold, pause and purge actions."""

    def list_display(self, request, columns: list) -> list:
        at = columns.index("members") + 1
        columns = [*columns[:at], self.provider_accounts, self.usage, *columns[at:]]
        at = columns.index("created_at")
        return [*columns[:at], self.deletion, *columns[at:]]

    def queryset(self, request, queryset):
        accounts = (
            ProviderAccount.objects.filter(organization=OuterRef("pk"))
            .order_by()
            .values("organization")
            .annotate(n=Count("id"))
            .values("n")
        )
        return queryset.annotate(provider_account_count=Coalesce(Subquery(accounts), 0))

    def annotate_page(self, request, rows: list[Organization]) -> None:
        """Messages and segments of the last 30 days of every organization on the page, in one query."""
        since = timezone.now() - timedelta(days=USAGE_DAYS)
        usage = {
            row["organization_id"]: row
            for row in Message.objects.filter(organization_id__in=[o.pk for o in rows], created_at__gte=since)
            .values("organization_id")
            .annotate(messages=Count("id"), segments=Sum("segments"))
            .order_by()
        }
        for organization in rows:
            organization.usage_30d = usage.get(organization.pk, {"messages": 0, "segments": 0})

    @admin.display(description="provider accounts", ordering="provider_account_count")
    def provider_accounts(self, organization: Organization) -> int:
        return getattr(organization, "provider_account_count", 0)

    @admin.display(description=f"messages ({USAGE_DAYS} days)")
    def usage(self, organization: Organization) -> str:
        usage = getattr(organization, "usage_30d", None)
        if usage is None:
            since = timezone.now() - timedelta(days=USAGE_DAYS)
            usage = Message.objects.filter(organization=organization, created_at__gte=since).aggregate(
                messages=Count("id"), segments=Sum("segments")
            )
        return f"{usage['messages']} ({usage['segments'] or 0} segments)"

    @admin.display(description="deletion scheduled", ordering="deletion_scheduled_for")
    def deletion(self, organization: Organization) -> str:
        when = organization.deletion_scheduled_for
        return timezone.localtime(when).strftime("%Y-%m-%d %H:%M") if when else "-"

    def fieldsets(self, request, obj, fieldsets: list) -> list:
        if obj is None:
            return fieldsets
        return [*fieldsets[:1], ("Usage", {"fields": [self.provider_accounts, self.usage]}), *fieldsets[1:]]

    def readonly_fields(self, request, obj, fields: list) -> list:
        return [*fields, self.provider_accounts, self.usage]

    @property
    def actions(self) -> tuple:
        return (self.set_legal_hold, self.lift_legal_hold, self.pause, self.resume, self.run_purge)

    # --- actions: `modeladmin` is accounts' OrganizationAdmin ----------------------------
    @admin.action(description="Set a legal hold…", permissions=["operate"])
    def set_legal_hold(self, modeladmin, request, queryset):
        if "apply" in request.POST:
            form = LegalHoldActionForm(request.POST)
            if form.is_valid():
                until, reason = form.cleaned_data["until"], form.cleaned_data["reason"]
                held = []
                for organization in queryset:
                    services.set_legal_hold(organization, until, reason, _actor(request))
                    held.append(organization)
                log_changes(modeladmin, request, held, f"Legal hold set until {until.isoformat()}: {reason}")
                modeladmin.message_user(
                    request,
                    f"Legal hold set until {until.isoformat()} on {plural(len(held), 'organization')}.",
                    messages.SUCCESS,
                )
                return None
        else:
            form = LegalHoldActionForm()
        return TemplateResponse(
            request,
            "admin/retention/legal_hold.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Set a legal hold",
                "opts": modeladmin.model._meta,
                "form": form,
                "organizations": list(queryset),
                "selected": _selected(request, queryset),
                "action": "set_legal_hold",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Lift the legal hold", permissions=["operate"])
    def lift_legal_hold(self, modeladmin, request, queryset) -> None:
        lifted = [org for org in queryset if services.lift_legal_hold(org, _actor(request)) is not None]
        log_changes(modeladmin, request, lifted, "Legal hold lifted.")
        modeladmin.message_user(
            request, f"Lifted the legal hold of {plural(len(lifted), 'organization')}.", messages.SUCCESS
        )

    @admin.action(description="Pause sending", permissions=["operate"])
    def pause(self, modeladmin, request, queryset) -> None:
        paused = [org for org in queryset if services.pause_organization(org, _actor(request))]
        log_changes(modeladmin, request, paused, "Paused: new sends are rejected, waiting messages wait.")
        modeladmin.message_user(
            request,
            f"Paused {plural(len(paused), 'organization')}; their waiting messages wait and go on resume.",
            messages.SUCCESS,
        )

    @admin.action(description="Resume sending", permissions=["operate"])
    def resume(self, modeladmin, request, queryset) -> None:
        resumed = []
        for organization in queryset:
            try:
                if services.resume_organization(organization, _actor(request)):
                    resumed.append(organization)
            except services.PrivacyError as exc:
                modeladmin.message_user(request, f"{organization}: {exc.message}", messages.WARNING)
        log_changes(modeladmin, request, resumed, "Resumed: sends are accepted again.")
        modeladmin.message_user(request, f"Resumed {plural(len(resumed), 'organization')}.", messages.SUCCESS)

    @admin.action(description="Run the purge now (dry run first)…", permissions=["operate"])
    def run_purge(self, modeladmin, request, queryset):
        organizations = list(queryset[:PURGE_ORGANIZATION_LIMIT])
        if request.POST.get("purge") == "now":
            runs, error = run_purge_step(request, organizations=organizations, dry_run=False)
            for organization, run in zip(organizations, runs, strict=False):
                modeladmin.log_change(
                    request, organization, f"Purged from the console: {run.total_deleted} rows (purge run {run.pk})."
                )
            total = sum(run.total_deleted for run in runs)
            incomplete = sum(1 for run in runs if not run.completed)
            text = f"Purged {plural(total, 'row')} of {plural(len(runs), 'organization')}."
            if incomplete:
                text += " The time budget ran out; the nightly run goes on where this one stopped."
            modeladmin.message_user(request, text, messages.SUCCESS if not error else messages.WARNING)
            if error:
                modeladmin.message_user(request, error, messages.ERROR)
            return None
        runs, error = run_purge_step(request, organizations=organizations, dry_run=True)
        return TemplateResponse(
            request,
            "admin/retention/purge_confirm.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": "Run the purge now",
                "opts": modeladmin.model._meta,
                "runs": runs,
                "rows": purge_table_rows(runs),
                "total": sum(run.total_deleted for run in runs),
                "error": error,
                "organizations": organizations,
                "selected": [str(o.pk) for o in organizations],
                "action": "run_purge",
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )


accounts_admin.OrganizationAdmin.extend(RetentionOrganizations())


# --- purge runs ----------------------------------------------------------------------------------


@admin.register(PurgeRun)
class PurgeRunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "started_at",
        "kind",
        "dry_run",
        "completed",
        "organization",
        "total",
        "duration_seconds",
        "trigger",
        "failed",
    ]
    list_filter = ["kind", "dry_run", "completed", "trigger"]
    list_select_related = ["organization"]
    date_hierarchy = "started_at"
    fields = [
        "kind",
        "started_at",
        "finished_at",
        "duration_seconds",
        "dry_run",
        "completed",
        "trigger",
        "organization",
        "cutoff",
        "cutoffs_text",
        "rolled_up_days",
        "deleted_text",
        "error",
    ]
    readonly_fields = fields

    @admin.display(description="rows")
    def total(self, run: PurgeRun) -> int:
        return run.total_deleted

    @admin.display(description="failed", boolean=True)
    def failed(self, run: PurgeRun) -> bool:
        return bool(run.error)

    @admin.display(description="rows per table")
    def deleted_text(self, run: PurgeRun) -> str:
        return pretty_json({table: n for table, n in (run.deleted or {}).items() if n})

    @admin.display(description="cut-offs")
    def cutoffs_text(self, run: PurgeRun) -> str:
        return pretty_json(run.cutoffs)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run_purge": can_operate(request.user)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="retention_purgerun_run"),
            *super().get_urls(),
        ]

    def run_view(self, request):
        """Every organization: a dry run shows what would go, then "Purge now" runs it."""
        if not can_operate(request.user) or not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Run the purge now",
            "opts": self.model._meta,
            "organizations": None,
        }
        step = request.POST.get("step") if request.method == "POST" else ""
        if step == "now":
            runs, error = run_purge_step(request, organizations=[None], dry_run=False)
            for run in runs:
                self.log_addition(request, run, f"Ran the purge from the console: {run.total_deleted} rows.")
                self.message_user(
                    request,
                    f"Purged {plural(run.total_deleted, 'row')}."
                    + ("" if run.completed else " The time budget ran out; the nightly run goes on."),
                    messages.SUCCESS,
                )
            if error:
                self.message_user(request, error, messages.ERROR)
            target = (
                reverse("admin:retention_purgerun_change", args=[runs[0].pk])
                if runs
                else reverse("admin:retention_purgerun_changelist")
            )
            return HttpResponseRedirect(target)
        if step == "dry":
            runs, error = run_purge_step(request, organizations=[None], dry_run=True)
            context.update(
                runs=runs, rows=purge_table_rows(runs), total=sum(r.total_deleted for r in runs), error=error
            )
        return TemplateResponse(request, "admin/retention/purge_confirm.html", context)


# --- legal holds, deletions, exports ------------------------------------------------------------


class LegalHoldForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ["organization", "until", "reason"]

    def clean(self):
        data = super().clean()
        if not data.get("until"):
            self.add_error("until", "Give the last day of the hold.")
        elif data["until"] < timezone.localdate():
            self.add_error("until", "A legal hold must end today or later.")
        if not (data.get("reason") or "").strip():
            self.add_error("reason", "Give the reason for the hold (a case or request reference).")
        return data


@admin.register(LegalHold)
class LegalHoldAdmin(OperateMixin, admin.ModelAdmin):
    """History of holds. Adding a row sets the hold (through the service); the action lifts it."""

    form = LegalHoldForm

    list_display = ["organization", "change", "until", "reason", "by_label", "at"]
    list_filter = ["change"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "reason"]
    raw_id_fields = ["organization"]
    fields = ["organization", "until", "reason"]
    actions = ["lift"]

    def has_add_permission(self, request) -> bool:
        return can_operate(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        if obj is not None:
            return ["organization", "change", "until", "reason", "by_label", "at"]
        return self.fields

    def save_model(self, request, obj: LegalHold, form, change) -> None:
        # The form checked what the service refuses.
        hold = services.set_legal_hold(obj.organization, obj.until, obj.reason, _actor(request))
        obj.pk, obj.by, obj.by_label, obj.at = hold.pk, hold.by, hold.by_label, hold.at

    @admin.action(description="Lift the hold on these organizations", permissions=["operate"])
    def lift(self, request, queryset) -> None:
        lifted = []
        for organization in {hold.organization for hold in queryset.select_related("organization")}:
            hold = services.lift_legal_hold(organization, _actor(request))
            if hold is not None:
                lifted.append(hold)
        log_changes(self, request, lifted, "Legal hold lifted.")
        self.message_user(request, f"Lifted {plural(len(lifted), 'legal hold')}.", messages.SUCCESS)


@admin.register(ScheduledDeletion)
class ScheduledDeletionAdmin(PublicIdSearchMixin, OperateMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "public_id", "deletion_requested_at", "deletion_scheduled_for", "legal_hold_until"]
    search_fields = ["name"]
    readonly_fields = [
        "name",
        "public_id",
        "paused_at",
        "deletion_requested_at",
        "deletion_scheduled_for",
        "legal_hold_until",
        "legal_hold_reason",
    ]
    fields = readonly_fields
    actions = ["cancel_deletion"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deletion_requested_at__isnull=False)

    @admin.action(description="Cancel the deletion (and resume sending)", permissions=["operate"])
    def cancel_deletion(self, request, queryset) -> None:
        canceled = [org for org in queryset if services.cancel_organization_deletion(org, _actor(request))]
        log_changes(self, request, canceled, "Deletion canceled from the console.")
        self.message_user(
            request,
            f"Canceled {plural(len(canceled), 'deletion')}. Erased credentials and revoked keys are not restored.",
            messages.SUCCESS,
        )


@admin.register(DataExport)
class DataExportAdmin(PublicIdSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "organization", "state", "requested_by_label", "ready_at", "expires_at", "size"]
    list_filter = ["state"]
    list_select_related = ["organization"]
    search_fields = ["organization__name"]
    # Staff see that an export happened, never its file or download token.
    exclude = ["file", "token"]
    fields = [
        "public_id",
        "organization",
        "requested_by",
        "requested_by_label",
        "state",
        "size",
        "created_at",
        "started_at",
        "ready_at",
        "expires_at",
        "downloaded_at",
        "error",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization", "requested_by")
