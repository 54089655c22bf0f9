"""The staff console for accounts: users, organizations, memberships, API keys and the access log.

The organization page is extended in retention/admin.py (legal holds,
pausing, the purge, and counts from providers and messaging), since
accounts must not reach into the apps above it.
"""

from __future__ import annotations

import ipaddress

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts import services
from accounts.models import AccessLog, ApiKey, ApiKeyUse, Membership, Organization, User
from jood.admin_utils import (
    BigTableMixin,
    OperateMixin,
    PublicIdSearchMixin,
    ReadOnlyMixin,
    as_uuid,
    log_changes,
    plural,
    pretty_json,
    yes_no_filter,
)


def _clean_email(form: forms.ModelForm) -> str:
    """Lower-case the address and refuse one that differs from another only in case."""
    email = form.cleaned_data["email"].strip().lower()
    others = User.objects.filter(email__iexact=email).exclude(pk=form.instance.pk)
    if others.exists():
        raise forms.ValidationError("A user with this email address already exists.")
    return email


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)
        field_classes: dict = {}

    def clean_email(self) -> str:
        return _clean_email(self)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
        field_classes: dict = {}

    def clean_email(self) -> str:
        return _clean_email(self)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user", "organization"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "organization")


# Fields only a superuser may change: granting staff access or permissions.
PRIVILEGE_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "phone")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Consent", {"fields": ("privacy_policy_version", "privacy_accepted_at", "confirmed_adult_at")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)
    list_display = ["email", "name", "is_staff", "is_superuser", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "name"]
    ordering = ["email"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += [name for name in PRIVILEGE_FIELDS if name not in readonly]
        return readonly


PausedFilter = yes_no_filter("paused", "paused", Q(paused_at__isnull=False), yes="Paused", no="Sending")
LegalHoldFilter = yes_no_filter(
    "legal hold",
    "legal_hold",
    lambda: Q(legal_hold_until__gte=timezone.localdate()),
    yes="Under a legal hold",
    no="No hold",
)


class OrganizationAdmin(PublicIdSearchMixin, OperateMixin, admin.ModelAdmin):
    """Organizations: what accounts knows. retention/admin.py registers the full console page."""

    list_display = ["name", "is_active", "members", "retention_days", "legal_hold", "paused", "created_at"]
    list_filter = ["is_active", PausedFilter, LegalHoldFilter, ("deletion_requested_at", admin.EmptyFieldListFilter)]
    search_fields = ["name"]
    search_help_text = "An organization's name, or its id (exact)."
    readonly_fields = [
        "public_id",
        "created_at",
        "legal_hold_until",
        "legal_hold_reason",
        "paused_at",
        "deletion_requested_at",
        "deletion_scheduled_for",
    ]
    fieldsets = [
        (None, {"fields": ["name", "public_id", "is_active", "country", "created_at"]}),
        ("Retention", {"fields": ["retention_days", "legal_hold_until", "legal_hold_reason"]}),
        ("Restriction and deletion", {"fields": ["paused_at", "deletion_requested_at", "deletion_scheduled_for"]}),
    ]
    inlines = [MembershipInline]

    def has_delete_permission(self, request, obj=None) -> bool:
        # An organization is deleted through its owners' deletion request (grace period, credentials
        # erased at once, access-logged), never by a cascade from the console.
        return False

    def get_queryset(self, request):
        members = (
            Membership.objects.filter(organization=OuterRef("pk"))
            .order_by()
            .values("organization")
            .annotate(n=Count("id"))
        )
        return super().get_queryset(request).annotate(member_count=Coalesce(Subquery(members.values("n")), 0))

    @admin.display(description="members", ordering="member_count")
    def members(self, organization: Organization) -> int:
        return getattr(organization, "member_count", 0)

    @admin.display(description="legal hold until", ordering="legal_hold_until")
    def legal_hold(self, organization: Organization) -> str:
        return organization.legal_hold_until.isoformat() if organization.legal_hold_until else "-"

    @admin.display(description="paused", boolean=True, ordering="paused_at")
    def paused(self, organization: Organization) -> bool:
        return organization.paused_at is not None


admin.site.register(Organization, OrganizationAdmin)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__email", "organization__name"]
    raw_id_fields = ["user", "organization"]


@admin.register(ApiKey)
class ApiKeyAdmin(OperateMixin, admin.ModelAdmin):
    """Keys are created by their organization (API or portal); staff can only look and revoke."""

    list_display = ["prefix", "name", "organization", "role", "created_at", "last_used_at", "active"]
    list_filter = ["role", ("revoked_at", admin.EmptyFieldListFilter), ("last_used_at", admin.DateFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["prefix", "name", "organization__name"]
    # hashed_key is left out on purpose: it is never shown, not even to staff.
    fields = [
        "public_id",
        "organization",
        "name",
        "prefix",
        "role",
        "created_by",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
    ]
    exclude = ["hashed_key"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # A key is revoked, never deleted: the access log points at it.
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization", "created_by")

    @admin.display(description="active", boolean=True, ordering="revoked_at")
    def active(self, key: ApiKey) -> bool:
        return key.revoked_at is None

    @admin.action(description="Revoke the selected API keys", permissions=["operate"])
    def revoke(self, request, queryset) -> None:
        actor = services.Actor.from_request(request)
        revoked = [key for key in queryset.select_related("organization") if services.revoke_api_key(key, actor=actor)]
        log_changes(self, request, revoked, "Revoked from the console.")
        self.message_user(request, f"Revoked {plural(len(revoked), 'API key')}.", messages.SUCCESS)


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyMixin, BigTableMixin, admin.ModelAdmin):
    list_display = ["at", "action", "actor_label", "organization", "ip"]
    list_filter = ["action", ("at", admin.DateFieldListFilter)]
    list_select_related = ["organization"]
    search_fields = ["actor_label"]
    search_help_text = "Exact: an email address, an IP address, a key prefix (jood_…) or an organization id."
    sortable_by = ["at"]
    fields = ["at", "action", "organization", "user", "api_key", "actor_label", "ip", "user_agent", "detail_text"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organization", "user", "api_key")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if (public_id := as_uuid(term)) is not None:
            return queryset.filter(organization__public_id=public_id), False
        try:
            return queryset.filter(ip=str(ipaddress.ip_address(term))), False
        except ValueError:
            pass
        if term.startswith("jood_"):
            return queryset.filter(actor_label=f"key {term[:12]}"), False
        return queryset.filter(actor_label__iexact=term), False

    @admin.display(description="detail")
    def detail_text(self, entry: AccessLog) -> str:
        return pretty_json(entry.detail)


@admin.register(ApiKeyUse)
class ApiKeyUseAdmin(ReadOnlyMixin, BigTableMixin, admin.ModelAdmin):
    """API key use for the access log: one row per key, address and user agent per hour."""

    list_display = ["hour", "api_key", "organization", "ip", "count", "first_seen", "last_seen"]
    list_filter = [("hour", admin.DateFieldListFilter)]
    list_select_related = ["organization", "api_key"]
    search_fields = ["=ip", "=api_key__prefix"]
    sortable_by = ["hour"]
    fields = ["hour", "api_key", "organization", "ip", "user_agent", "first_seen", "last_seen", "count"]
    readonly_fields = fields
