"""The coordination store: one Redis client per process for REDIS_URL's Redis.

The dispatch lanes (their id sets, wake-ups, drain slots, pauses), the
webhook drain's wake-up, the due-retry lock and the provider rate limits live
in REDIS_URL's Redis, never in the broker: the broker (CELERY_BROKER_URL) may
be RabbitMQ or another Redis. Every call is bounded by REDIS_SOCKET_TIMEOUT,
so a down or frozen Redis costs a publish at most that, never a hang.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings

_clients: dict[tuple[int, str, float], object] = {}
_lock = threading.Lock()


def configured() -> bool:
    """True when REDIS_URL names a coordination store (else embedded or broker-only fallbacks apply)."""
    return bool(settings.REDIS_URL)


def client():
    """The Redis client for REDIS_URL in this process (made once per process, URL and timeout)."""
    timeout = float(settings.REDIS_SOCKET_TIMEOUT)
    key = (os.getpid(), settings.REDIS_URL, timeout)
    found = _clients.get(key)
    if found is None:
        import redis

        with _lock:
            found = _clients.get(key)
            if found is None:
                found = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
                _clients[key] = found
    return found
