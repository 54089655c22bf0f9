"""The staff console for provider accounts.

Credentials are write-only everywhere: the `credentials` and
`webhook_secret` columns are in no form and no page; only the masked hints
are shown (and not to Support). The callback URL is not shown either: for
Infobip and Unifonic it carries the webhook secret.

messaging/admin.py registers a subclass with the WhatsApp template sync
action (an app above extends the page of an app below, never the reverse).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import admin, messages
from django.db import models

from accounts.services import Actor
from jood.admin_utils import (
    ContentMixin,
    OperateMixin,
    PublicIdSearchMixin,
    content_fields,
    hidden_display,
    log_changes,
    plural,
)
from providers import services
from providers.models import OPTION_FIELDS, SENDING_FIELDS, ProviderAccount

log = logging.getLogger(__name__)

# Each check calls the provider: keep one request's worth bounded.
CHECK_LIMIT = 25
# Fields an Operator may change in the form (through providers.services.update_account).
EDITABLE = ["label", *SENDING_FIELDS, *OPTION_FIELDS]


class HealthFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("ok", "OK"), ("problem", "Problem"), ("never", "Never checked")]

    def queryset(self, request, queryset):
        if self.value() == "ok":
            return queryset.filter(health_status="ok")
        if self.value() == "problem":
            return queryset.exclude(health_status__in=["ok", ""])
        if self.value() == "never":
            return queryset.filter(health_checked_at__isnull=True)
        return queryset


@admin.register(ProviderAccount)
class ProviderAccountAdmin(PublicIdSearchMixin, OperateMixin, ContentMixin, admin.ModelAdmin):
    list_display = [
        "label",
        "organization",
        "provider",
        "channel",
        "is_active",
        "priority",
        "health_status",
        "health_checked_at",
        "created_at",
    ]
    list_select_related = ["organization"]
    list_filter = ["provider", "channel", "is_active", HealthFilter]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    search_fields = ["label", "organization__name", "default_sender"]
    search_help_text = "A label, an organization's name, a sender, or an account id (exact)."
    # Never in any form, whatever the fieldsets say.
    exclude = ["credentials", "webhook_secret", "previous_webhook_secret"]
    fieldsets = [
        (None, {"fields": ["label", "public_id", "organization", "provider", "channel", "is_active"]}),
        ("Credentials", {"fields": ["credentials_display"], "description": "Write-only: only masked hints exist."}),
        ("Health", {"fields": ["health_status", "health_detail", "health_checked_at"]}),
        ("Webhook token", {"fields": ["webhook_secret_rotated_at"]}),
        ("Sending", {"fields": list(SENDING_FIELDS)}),
        ("Provider options", {"fields": list(OPTION_FIELDS)}),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [
        "public_id",
        "organization",
        "provider",
        "channel",
        "is_active",
        "credentials_display",
        "health_status",
        "health_detail",
        "health_checked_at",
        "webhook_secret_rotated_at",
        "created_at",
        "updated_at",
    ]
    # messaging/admin.py adds "sync_templates" (the template sync lives in messaging, above providers).
    actions = ["test_credentials", "disable", "enable", "rotate_webhook_token"]
    content = {"credentials_display": "credentials_hidden"}

    def has_add_permission(self, request) -> bool:
        # Accounts are connected by their organization (portal or API), who holds the credentials.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Staff disable an account (an action); deleting it is its organization's call.
        return False

    def get_readonly_fields(self, request, obj=None):
        return content_fields(request, super().get_readonly_fields(request, obj), self.content)

    def save_model(self, request, obj: ProviderAccount, form, change) -> None:
        """Changes go through the service (no credentials here: they are write-only and not in the form)."""
        changed = {name: getattr(obj, name) for name in form.changed_data if name in EDITABLE}
        if change and changed:
            services.update_account(obj, actor=Actor.from_request(request), **changed)
        elif not change:  # pragma: no cover - adding is not offered
            super().save_model(request, obj, form, change)

    @admin.display(description="credentials")
    def credentials_display(self, account: ProviderAccount) -> str:
        hints = account.credentials_hint or {}
        if not hints:
            return "none stored" if not account.credentials else "stored (no hint)"
        return ", ".join(f"{name}: {hint}" for name, hint in sorted(hints.items()))

    credentials_hidden = hidden_display("credentials")

    # --- actions -------------------------------------------------------------------------
    @admin.action(description="Test the credentials (calls the provider)", permissions=["view"])
    def test_credentials(self, request, queryset) -> None:
        """A read-only call to the provider; also open to Support, since it changes nothing but the health."""
        results = {"ok": 0, "problem": 0}
        for account in queryset.select_related("organization")[:CHECK_LIMIT]:
            try:
                result = services.check_account(account)
                status, detail = result.status, result.detail
            except Exception as exc:  # a provider that answers nonsense must not break the page
                log.exception("credentials check of provider account %s failed", account.pk)
                status, detail = "error", f"{exc.__class__.__name__}: {exc}"
            results["ok" if status == "ok" else "problem"] += 1
            self.log_change(request, account, f"Tested the credentials: {status} ({detail[:200]}).")
            if status != "ok":
                self.message_user(request, f"{account}: {status} — {detail}", messages.WARNING)
        tested = plural(sum(results.values()), "account")
        self.message_user(
            request,
            f"Tested {tested}: {results['ok']} OK, {results['problem']} with a problem.",
            messages.SUCCESS if not results["problem"] else messages.WARNING,
        )

    def _set_active(self, request, queryset, active: bool) -> None:
        actor = Actor.from_request(request)
        changed = []
        for account in queryset.select_related("organization").filter(is_active=not active):
            services.set_active(account, active, actor=actor)
            changed.append(account)
        log_changes(self, request, changed, "Enabled from the console." if active else "Disabled from the console.")
        self.message_user(
            request,
            f"{'Enabled' if active else 'Disabled'} {plural(len(changed), 'provider account')}.",
            messages.SUCCESS,
        )

    @admin.action(description="Disable the selected accounts (no more sends through them)", permissions=["operate"])
    def disable(self, request, queryset) -> None:
        self._set_active(request, queryset, False)

    @admin.action(description="Enable the selected accounts", permissions=["operate"])
    def enable(self, request, queryset) -> None:
        self._set_active(request, queryset, True)

    @admin.action(
        description="Rotate the webhook token (the old one works for SECRET_ROTATION_GRACE_HOURS)",
        permissions=["operate"],
    )
    def rotate_webhook_token(self, request, queryset) -> None:
        actor = Actor.from_request(request)
        rotated = []
        for account in queryset.select_related("organization"):
            services.rotate_webhook_secret(account, actor=actor)
            rotated.append(account)
        log_changes(self, request, rotated, "Rotated the webhook token from the console.")
        hours = settings.SECRET_ROTATION_GRACE_HOURS
        self.message_user(
            request,
            f"Rotated the webhook token of {plural(len(rotated), 'provider account')}; the old token is accepted "
            f"for {hours} hours. Where the customer pasted the callback URL in the provider's console, they paste "
            "the new one.",
            messages.SUCCESS,
        )
