"""Request guards every view shares (issue 13): refuse unreadable input before a view sees it.

- A body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (multipart uploads excepted: files
  have their own limits) is a 413, from the declared length, before it is read.
- A query string carrying NUL bytes or text that is not UTF-8 is a 400: the
  database refuses NUL in text, so a filter would otherwise end in a 500.

API requests get the JSON error shape, portal requests the portal's page.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.conf import settings

from jood import views


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
