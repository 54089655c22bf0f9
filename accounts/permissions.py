"""Permission classes by role. Reads need viewer; writes need member, or more."""

from __future__ import annotations

from rest_framework import permissions

from accounts.models import ROLE_RANK, ApiKey, Organization, Role


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
