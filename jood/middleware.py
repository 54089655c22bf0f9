"""Answer 503 (with Retry-After) instead of a 500 when a dependency is down.

When PostgreSQL, Redis or the broker cannot be reached, a view raises a
connection error that is nobody's bug: the client should try again shortly.
API and webhook paths get the JSON error shape, other pages a short text.
Views that can do without a dependency (the throttle, publishing a send)
degrade on their own and never get here.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/metrics")


def _unavailable_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:
        import redis.exceptions

        types += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a requirement
        pass
    try:
        import kombu.exceptions

        types.append(kombu.exceptions.OperationalError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


UNAVAILABLE = _unavailable_types()


def dependency_name(exc: BaseException) -> str:
    return "database" if isinstance(exc, (OperationalError, InterfaceError)) else "cache or broker"


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, UNAVAILABLE):
            return None
        what = dependency_name(exception)
        log.error("503 on %s %s: the %s is unavailable: %s", request.method, request.path, what, exception)
        message = f"The service is temporarily unavailable (the {what} cannot be reached). Try again shortly."
        if request.path.startswith(JSON_PREFIXES):
            response = JsonResponse(
                {"error": {"code": "service_unavailable", "message": message, "details": {"dependency": what}}},
                status=503,
            )
        else:
            response = HttpResponse(message + "\n", status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
