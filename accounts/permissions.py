"""Permission classes by role. Reads need viewer; writes need member, or more."""

from __future__ import annotations

from rest_framework import exceptions, permissions

from accounts.models import ROLE_RANK, SCOPE_PRIVACY, ApiKey, Membership, Organization, Role


def organization_of(request) -> Organization:
    """Return the organization the request acts for (the key's)."""
    return request.auth.organization


class _RolePermission(permissions.BasePermission):
    read_role = Role.VIEWER
    write_role = Role.MEMBER
    message = "Your API key's role does not allow this."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        needed = self.read_role if request.method in permissions.SAFE_METHODS else self.write_role
        return ROLE_RANK[Role(key.role)] >= ROLE_RANK[Role(needed)]


class IsOrganizationMember(_RolePermission):
    """Viewers read; members and admins also send and change messages."""


class IsOrganizationAdmin(_RolePermission):
    """Viewers read; only admins change settings (keys, provider accounts, endpoints)."""

    write_role = Role.ADMIN


class OwnerAction(permissions.BasePermission):
    """Owner-only actions (every privacy endpoint): the one rule, for every method.

    An API key is not a person, so by default no key reaches these: only an
    admin key that an owner created with the `privacy` scope (in the portal),
    and only while that owner is still an owner of the organization. Any other
    key, admin or not, gets 403 `owner_scope_required`.
    """

    message = (
        "Owner-only action: it needs an admin API key that an owner of the organization created with the "
        "'privacy' scope in the portal."
    )
    code = "owner_scope_required"

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        allowed = (
            SCOPE_PRIVACY in (key.scopes or [])
            and key.role == Role.ADMIN
            and key.created_by_id is not None
            and Membership.objects.filter(
                user_id=key.created_by_id, organization_id=key.organization_id, role=Role.OWNER
            ).exists()
        )
        if not allowed:
            raise exceptions.PermissionDenied(self.message, code=self.code)
        return True
