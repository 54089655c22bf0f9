"""API plumbing shared by every app: the error shape and pagination."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, pagination
from rest_framework.renderers import JSONRenderer
from rest_framework.views import exception_handler as drf_exception_handler


class ApiError(exceptions.APIException):
    """An error with our own code: `raise ApiError(400, "opted_out", "...", details)`."""

    def __init__(self, status_code: int, code: str, message: str, details: dict | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.details = details or {}


def named_or_refused(queryset, public_id, error: ApiError):
    """Return the row of `queryset` with the public id a request names (None if none named), or raise `error`."""
    if not public_id:
        return None
    row = queryset.filter(public_id=public_id).first()
    if row is None:
        raise error
    return row


_DEFAULT_CODES = {
    400: "invalid_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "throttled",
}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc, context):
    """Return every API error as {"error": {"code", "message", "details"}}."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django answer 500 and log it
    _answer_in_json(context.get("request"))
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, exc.message, exc.details)
        return response
    status = response.status_code
    code = _DEFAULT_CODES.get(status, "error")
    if isinstance(exc, exceptions.ValidationError):
        code = "validation_error"
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = _first_message(details) or "The request is not valid."
        response.data = error_body(code, message, details)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        if isinstance(exc, exceptions.Throttled):
            details = {"retry_after": exc.wait}
        else:
            details = {}
        if isinstance(exc, exceptions.APIException) and getattr(detail, "code", None) not in (None, "error"):
            specific = str(detail.code)
            if specific not in ("invalid", "not_found", "permission_denied", "not_authenticated", "throttled"):
                code = specific
        response.data = error_body(code, str(detail), details)
    return response


def _answer_in_json(request) -> None:
    """An error is JSON even where the client asked for another format (`?format=csv` on an export)."""
    renderer = getattr(request, "accepted_renderer", None)
    if request is not None and not isinstance(renderer, JSONRenderer):
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def _first_message(details) -> str:
    if isinstance(details, dict):
        for key, value in details.items():
            inner = _first_message(value)
            if inner:
                return inner if key == "non_field_errors" else f"{key}: {inner}"
    elif isinstance(details, list):
        for value in details:
            inner = _first_message(value)
            if inner:
                return inner
    elif details:
        return str(details)
    return ""


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination, newest first; `?page_size=` up to 200.

    A cursor is the client's to tamper with: its position is checked against
    the ordering field (and a date-time brought to UTC) before it reaches a
    query, so a forged one is a 404 "Invalid cursor", never a database error.
    """

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        # paginate_queryset has set self.ordering (a tuple) before it decodes the cursor.
        name = self.ordering[0].lstrip("-")
        try:
            field = self._model._meta.get_field(name)
            if "\x00" in cursor.position:
                raise ValueError("NUL")
            value = field.to_python(cursor.position)
            if isinstance(value, datetime):
                # In UTC: the database refuses offsets past ±15:59, and a naive one is read as UTC.
                value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            position = value.isoformat() if hasattr(value, "isoformat") else str(value)
        except (DjangoValidationError, ValueError, TypeError, OverflowError, AttributeError, LookupError):
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        return pagination.Cursor(offset=cursor.offset, reverse=cursor.reverse, position=position)
