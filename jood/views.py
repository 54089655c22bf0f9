"""Project-level views: the health check."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:
        log.exception("healthz: database unreachable")
        return False


def _broker_ok() -> bool | None:
    if not settings.REDIS_URL:
        return None  # embedded mode: no broker to reach
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        return bool(client.ping())
    except Exception:
        log.warning("healthz: broker unreachable")
        return False


@never_cache
@require_GET
def healthz(request):
    """200 when the database and the broker answer; 503 naming the one that does not."""
    checks = {"database": "ok" if _database_ok() else "unreachable"}
    broker = _broker_ok()
    checks["broker"] = "embedded" if broker is None else ("ok" if broker else "unreachable")
    healthy = "unreachable" not in checks.values()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )
