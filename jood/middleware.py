"""Middleware every view shares.

`RequestGuardMiddleware` (issue 13) refuses unreadable input before a view sees it:

- A body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (multipart uploads excepted: files
  have their own limits) is a 413, from the declared length, before it is read.
- A query string carrying NUL bytes or text that is not UTF-8 is a 400: the
  database refuses NUL in text, so a filter would otherwise end in a 500.

API requests get the JSON error shape, portal requests the portal's page.

`ServiceUnavailableMiddleware` (issue 14) answers 503 (with Retry-After) instead of a 500 when a
dependency is down.

When PostgreSQL, Redis or the broker cannot be reached, a view raises a
connection error that is nobody's bug: the client should try again shortly.
API and webhook paths get the JSON error shape, other pages a short text.
Views that can do without a dependency (the throttle, publishing a send)
degrade on their own and never get here.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

from jood import views

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


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _bad_query(query: str) -> bool:
    raw = unquote_to_bytes(query.replace("+", " "))
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        content_type = request.META.get("CONTENT_TYPE", "")
        if limit is not None and not content_type.startswith("multipart/") and _content_length(request) > limit:
            message = f"The request body is over {limit:,} bytes."
            if views.is_api_request(request):
                return views.json_error(413, "payload_too_large", message)
            return views.bad_request(request, _too_big())
        query = request.META.get("QUERY_STRING", "")
        if query and _bad_query(query):
            if views.is_api_request(request):
                return views.json_error(
                    400, "invalid_query", "The query string has NUL bytes or is not UTF-8 text.", {}
                )
            return views.bad_request(request)
        return self.get_response(request)


def _too_big():
    from django.core.exceptions import RequestDataTooBig

    return RequestDataTooBig()
