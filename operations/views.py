"""The operator's endpoints that count every app's rows: readiness (/healthz/ready) and Prometheus (/metrics)."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from operations.metrics import registry
from operations.readiness import health_checks

log = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz_ready(request):
    """Everything an operator alerts on (operations.readiness.health_checks): 503 when one is over its threshold."""
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
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
