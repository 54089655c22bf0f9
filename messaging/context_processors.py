"""Template context of the messaging app on every portal page: the inbox's unread count for the navigation."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject


def inbox(request) -> dict:
    organization = getattr(request, "organization", None)
    if organization is None:
        return {}
    from messaging.inbox import unread_count

    # Counted only if the page shows it (one COUNT on a partial index).
    return {"inbox_unread": SimpleLazyObject(lambda: unread_count(organization))}
