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


# --- error pages: JSON under /api/, the portal's own pages elsewhere (issue 13) -------------------
API_PREFIX = "/api/"


def is_api_request(request) -> bool:
    """Whether the request is for the API (answered with the JSON error shape)."""
    return request.path_info.startswith(API_PREFIX) or request.path_info == API_PREFIX.rstrip("/")


def json_error(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    """The API's error shape as a plain Django response (for errors raised outside DRF)."""
    from jood.api import error_body

    return JsonResponse(error_body(code, message, details), status=status)


def _page(request, template: str, status: int, context: dict | None = None):
    from django.shortcuts import render

    try:
        return render(request, template, context or {}, status=status)
    except Exception:
        # The page itself failed (the database is down, say): plain text, never a traceback.
        log.exception("could not render the %s error page", status)
        from django.http import HttpResponse

        return HttpResponse(f"Error {status}", status=status, content_type="text/plain")


def bad_request(request, exception=None, template_name=None):
    from django.core.exceptions import RequestDataTooBig

    if isinstance(exception, RequestDataTooBig):
        message = f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes."
        if is_api_request(request):
            return json_error(413, "payload_too_large", message)
        return _page(request, "jood/400.html", 413, {"message": message})
    if is_api_request(request):
        return json_error(400, "invalid_request", "The request could not be read.")
    return _page(request, "jood/400.html", 400)


def permission_denied(request, exception=None, template_name=None):
    if is_api_request(request):
        return json_error(403, "permission_denied", "You do not have permission to perform this action.")
    return _page(request, "jood/403.html", 403)


def page_not_found(request, exception=None, template_name=None):
    if is_api_request(request):
        return json_error(404, "not_found", f"No API endpoint or object at {request.path_info}.")
    return _page(request, "jood/404.html", 404)


def server_error(request, template_name=None):
    if is_api_request(request):
        return json_error(500, "server_error", "Something went wrong on our side; it has been logged.")
    # No request context: the page must not need the database that may be what failed.
    from django.http import HttpResponseServerError
    from django.template import loader

    try:
        return HttpResponseServerError(loader.get_template("jood/500.html").render())
    except Exception:
        log.exception("could not render the 500 page")
        return HttpResponseServerError("Error 500", content_type="text/plain")


def csrf_failure(request, reason=""):
    """A form posted without its CSRF token (an expired page, usually): the portal's 403 page, saying so."""
    if is_api_request(request):
        return json_error(403, "csrf_failed", "CSRF verification failed.")
    message = "The form expired or was sent from another site. Go back, reload the page and try again."
    return _page(request, "jood/403.html", 403, {"exception": message})
