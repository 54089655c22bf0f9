"""Access-log receivers for Django's login signals (connected in AccountsConfig.ready).

A login, a failed login and a throttled one are written once per organization
the user belongs to, so each organization's access log shows who signed in
(and who tried); an address that is nobody's gets one row of no organization.
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from accounts import login_throttle, services
from accounts.models import AccessLog, Membership, User


def _actor(request, user: User | None = None) -> services.Actor:
    if request is None:  # authenticate() called outside a request (shell, tests)
        return services.Actor(user=user)
    return services.Actor(
        user=user,
        ip=services.client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
    )


def _organizations(user_id: int | None) -> list:
    if user_id is None:
        return [None]
    rows = list(Membership.objects.filter(user_id=user_id).select_related("organization"))
    return [m.organization for m in rows] or [None]


def _record(action: str, actor: services.Actor, user_id: int | None, label: str = "") -> None:
    for organization in _organizations(user_id):
        services.record_access(action, actor, organization=organization, label=label)


@receiver(user_logged_in, dispatch_uid="accounts.access_log.login")
def record_login(sender, request, user, **kwargs) -> None:
    if isinstance(user, User):
        _record(AccessLog.Action.LOGIN, _actor(request, user), user.pk)
        login_throttle.clear_account(user.email)


@receiver(user_login_failed, dispatch_uid="accounts.access_log.login_failed")
def record_login_failed(sender, credentials: dict, request=None, **kwargs) -> None:
    # Only the address that was tried is kept; the password (which Django
    # already masks in `credentials`) is never read.
    tried = str(credentials.get("username") or credentials.get("email") or "")
    actor = _actor(request)
    user_id = User.objects.filter(email__iexact=tried.strip()).values_list("pk", flat=True).first() if tried else None
    if request is not None and getattr(request, login_throttle.THROTTLED_ATTRIBUTE, None):
        _record(AccessLog.Action.LOGIN_THROTTLED, actor, user_id, label=tried)
        return
    login_throttle.record_failure(tried, actor.ip)
    _record(AccessLog.Action.LOGIN_FAILED, actor, user_id, label=tried)
