"""Login throttling by account and by client address (issue 13, hole 7).

Failed logins are counted in the cache in a fixed window of
LOGIN_THROTTLE_SECONDS: per account (the email tried, whatever the address)
and per client address (whatever the email). Past LOGIN_FAILURES_PER_ACCOUNT
or LOGIN_FAILURES_PER_IP, every login for that account or from that address
is refused until the window ends, the right password included.

`ThrottledModelBackend` comes first in AUTHENTICATION_BACKENDS: it refuses
(PermissionDenied) a throttled attempt before the password is hashed, for the
portal's login and the admin's alike. The counting is done
by the `user_login_failed` receiver in accounts/signals.py.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

THROTTLED_ATTRIBUTE = "login_throttled_for"


def _window() -> tuple[int, int]:
    seconds = max(1, settings.LOGIN_THROTTLE_SECONDS)
    window = int(time.time() // seconds)
    return window, seconds


def _keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    window, _ = _window()
    keys = []
    if email:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        keys.append((f"login-fail:account:{digest}:{window}", settings.LOGIN_FAILURES_PER_ACCOUNT))
    if ip:
        keys.append((f"login-fail:ip:{ip}:{window}", settings.LOGIN_FAILURES_PER_IP))
    return keys


def seconds_left() -> int:
    window, seconds = _window()
    return max(1, int((window + 1) * seconds - time.time()))


def is_throttled(email: str, ip: str | None) -> bool:
    """Whether the account or the address has had too many failures in this window."""
    keys = _keys(email, ip)
    counts = cache.get_many([key for key, _ in keys])
    return any(limit and counts.get(key, 0) >= limit for key, limit in keys)


def record_failure(email: str, ip: str | None) -> None:
    """Count one failed login for the account and for the address."""
    _, seconds = _window()
    for key, _ in _keys(email, ip):
        cache.add(key, 0, timeout=seconds + 1)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=seconds + 1)


def clear_account(email: str) -> None:
    """Forget the account's failures after a successful login (the address's stay counted)."""
    keys = _keys(email, None)
    cache.delete_many([key for key, _ in keys])


class ThrottledModelBackend(ModelBackend):
    """Django's ModelBackend that refuses a throttled login before it hashes the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        from accounts.services import client_ip

        email = username or kwargs.get(self.get_user_model_field(), "") or ""
        ip = client_ip(request) if request is not None else None
        if is_throttled(email, ip):
            if request is not None:
                setattr(request, THROTTLED_ATTRIBUTE, seconds_left())
            raise PermissionDenied("Too many failed log-in attempts.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            # Stop here: the plain ModelBackend listed after this one (for sessions
            # started before it) would check the same password a second time.
            raise PermissionDenied("Wrong email or password.")
        return user

    @staticmethod
    def get_user_model_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
