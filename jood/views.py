"""Project-level views: the health checks and the Prometheus metrics."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """The load balancer's probe, cheap: 200 while this process can reach the database.

    A broker outage is reported but keeps 200: the API still accepts sends
    without it (the row is the truth, the sweeper publishes later), so taking
    every web server out of rotation would turn a degraded service into an outage.
    """
    from jood.admin_ops import broker_state, database_ok

    db_ok = database_ok()
    checks = {"database": "ok" if db_ok else "unreachable", "broker": broker_state()}
    status = "unavailable" if not db_ok else ("degraded" if checks["broker"] == "unreachable" else "ok")
    return JsonResponse({"status": status, "checks": checks}, status=200 if db_ok else 503)


@never_cache
@require_GET
def healthz_ready(request):
    """Everything an operator alerts on (jood.admin_ops.health_checks): 503 when one figure is over its threshold."""
    from jood.admin_ops import health_checks

    checks = health_checks()
    healthy = all(check.ok for check in checks)
    failing = [check.name for check in checks if not check.ok]
    if failing:
        log.warning("readiness: over threshold: %s", ", ".join(failing))
    response = JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "failing": failing,
            "checks": {check.name: check.as_dict() for check in checks},
        },
        status=200 if healthy else 503,
    )
    if not healthy:
        response["Retry-After"] = "30"
    return response


@never_cache
@require_GET
def metrics(request):
    """Prometheus metrics, computed at scrape time. Off (404) unless METRICS_TOKEN is set; then a bearer token."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from jood.metrics import registry

    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
