"""Activate the time zone of the person asking: theirs, else their organization's (per request)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from accounts.models import Membership
from jood.portal import SESSION_KEY


def zone_name_for(request) -> str:
    """The user's own zone, else the zone of the organization the session works in; "" for none."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    if user.time_zone:
        return user.time_zone
    memberships = Membership.objects.filter(user=user, organization__is_active=True)
    wanted = request.session.get(SESSION_KEY)
    row = None
    if wanted is not None:
        row = memberships.filter(organization_id=wanted).values_list("organization__time_zone", flat=True).first()
    if row is None:  # no choice yet: the first membership, as the portal picks it
        row = memberships.order_by("created_at", "id").values_list("organization__time_zone", flat=True).first()
    return row or ""


class TimeZoneMiddleware:
    """Portal pages show and forms take times in the activated zone; the API (no session) stays in TIME_ZONE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = zone_name_for(request)
        try:
            zone = ZoneInfo(name) if name else None
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
