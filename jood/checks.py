"""System checks of the ground floor: settings that must not reach production."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def check_outbound_allow_private(app_configs, **kwargs) -> list[Warning]:
    """OUTBOUND_ALLOW_PRIVATE lets provider calls and callbacks reach internal addresses: never in production."""
    if settings.DEBUG:
        return []
    names = [n for n in ("OUTBOUND_ALLOW_PRIVATE", "CALLBACKS_ALLOW_PRIVATE") if getattr(settings, n)]
    if not names:
        return []
    return [
        Warning(
            f"{' and '.join(names)} is on with DEBUG off: provider API calls and customer callbacks may reach "
            "loopback, private and cloud metadata addresses.",
            hint="Unset OUTBOUND_ALLOW_PRIVATE and CALLBACKS_ALLOW_PRIVATE in production (tests and the bench only).",
            id="jood.W001",
        )
    ]
