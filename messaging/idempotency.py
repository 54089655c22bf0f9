"""Idempotency-Key on the send endpoints, as Stripe does it.

Same key and same body within 24 hours: the first answer and status code,
and nothing new is created. Same key while the first request still runs:
409. Same key with another body: 422. Server errors are not remembered, so
the client can retry them with the same key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from jood.api import ApiError
from messaging.models import IdempotencyRecord

TTL = timedelta(hours=24)


def _fingerprint(endpoint: str, data) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{endpoint}\n{raw}".encode()).hexdigest()


def idempotent(request, endpoint: str, handler) -> Response:
    """Run handler() once per Idempotency-Key; replay its answer after that."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return handler()
    if len(key) > 255:
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key is limited to 255 characters.")
    organization = request.auth.organization
    fingerprint = _fingerprint(endpoint, request.data)
    now = timezone.now()
    IdempotencyRecord.objects.filter(organization=organization, key=key, created_at__lt=now - TTL).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                organization=organization, key=key, endpoint=endpoint, request_hash=fingerprint
            )
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(organization=organization, key=key).first()
        if existing is None:
            # The first request failed and forgot its key between our insert and this read.
            raise ApiError(
                409, "idempotency_key_in_use", "A request with this Idempotency-Key was just being processed; retry."
            ) from None
        if existing.request_hash != fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request body.",
            ) from None
        if existing.response_status is None:
            raise ApiError(
                409, "idempotency_key_in_use", "A request with this Idempotency-Key is still being processed."
            ) from None
        response = Response(existing.response_body, status=existing.response_status)
        response["Idempotent-Replayed"] = "true"
        return response
    try:
        response = handler()
    except ApiError as exc:
        # A refusal is an answer too: the same request gets the same refusal.
        from jood.api import error_body

        body = error_body(exc.error_code, exc.message, exc.details)
        IdempotencyRecord.objects.filter(pk=record.pk).update(response_status=exc.status_code, response_body=body)
        raise
    except Exception:
        record.delete()
        raise
    if response.status_code >= 500:
        record.delete()
    else:
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            response_status=response.status_code, response_body=json.loads(JSONRenderer().render(response.data))
        )
    return response
