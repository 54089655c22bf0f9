"""The portal's memberships and roles, for the base view (jood.portal.portal_view, settings.PORTAL_ACCESS).

Which organization a request works in: `request.session[SESSION_KEY]`, by
default the user's first membership of an active organization.
"""

from __future__ import annotations

from accounts.models import ROLE_RANK, Membership, Role
from jood.portal import SESSION_KEY, Can

LOWEST = Role.VIEWER  # every page, no changes; also what a person who withdrew consent gets
WRITER = Role.MEMBER  # what a change needs unless a view says more


def can(role: str) -> Can:
    """What the role allows, for templates."""
    rank = ROLE_RANK[Role(role)]
    return Can(
        send=rank >= ROLE_RANK[Role.MEMBER],
        manage=rank >= ROLE_RANK[Role.ADMIN],
        own=rank >= ROLE_RANK[Role.OWNER],
    )


def higher(a: str, b: str) -> str:
    return a if ROLE_RANK[Role(a)] >= ROLE_RANK[Role(b)] else b


def label(role: str) -> str:
    return Role(role).label


def memberships_of(user) -> list[Membership]:
    """Return the user's memberships of active organizations, the oldest first."""
    return list(
        Membership.objects.filter(user=user, organization__is_active=True)
        .select_related("organization")
        .order_by("created_at", "id")
    )


def current_membership(request) -> Membership | None:
    """Return the membership of the organization the session works in (and fix up the session)."""
    memberships = memberships_of(request.user)
    request.memberships = sorted(memberships, key=lambda m: m.organization.name.lower())
    if not memberships:
        return None
    wanted = request.session.get(SESSION_KEY)
    for membership in memberships:
        if membership.organization_id == wanted:
            return membership
    # No choice yet, or the chosen organization is gone: the first membership.
    membership = memberships[0]
    request.session[SESSION_KEY] = membership.organization_id
    return membership
