"""Access-log receivers for Django's login signals (connected in AccountsConfig.ready)."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts import services
from accounts.models import AccessLog, User


def _actor(request, user: User | None = None) -> services.Actor:
    if request is None:  # authenticate() called outside a request (shell, tests)
        return services.Actor(user=user)
    return services.Actor(
        user=user,
        ip=services.client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
    )


@receiver(user_logged_in, dispatch_uid="accounts.access_log.login")
def record_login(sender, request, user, **kwargs) -> None:
    if isinstance(user, User):
        services.record_access(AccessLog.Action.LOGIN, _actor(request, user))


@receiver(user_login_failed, dispatch_uid="accounts.access_log.login_failed")
def record_login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    # Only the address that was tried is kept; the password (which Django
    # already masks in `credentials`) is never read.
    tried = credentials.get("username") or credentials.get("email") or ""
    services.record_access(AccessLog.Action.LOGIN_FAILED, _actor(request), label=str(tried))
