"""What every portal page shows about provider accounts: a banner while one is unhealthy (issue 17 item 7)."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject


def account_health(request) -> dict:
    """`unhealthy_accounts`: the current organization's enabled accounts that routing skips (queried when shown)."""

    def load():
        organization = getattr(request, "organization", None)
        if organization is None:
            return []
        from providers.services import unhealthy_accounts

        return list(unhealthy_accounts(organization).order_by("priority", "pk")[:5])

    return {"unhealthy_accounts": SimpleLazyObject(load)}
