"""Project-level views: the liveness probe and the error pages (JSON under /api/, the portal's pages elsewhere)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from jood.health import broker_state, database_ok

log = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """The load balancer's probe, cheap: 200 while this process can reach the database.

    A broker outage is reported but keeps 200: the API still accepts sends
    without it (the row is the truth, the sweeper publishes later), so taking
    every web server out of rotation would turn a degraded service into an outage.
    """
    db_ok = database_ok()
    checks = {"database": "ok" if db_ok else "unreachable", "broker": broker_state()}
    status = "unavailable" if not db_ok else ("degraded" if checks["broker"] == "unreachable" else "ok")
    return JsonResponse({"status": status, "checks": checks}, status=200 if db_ok else 503)


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
