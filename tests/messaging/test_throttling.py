"""Throttling of the send endpoint (the 429 shape itself is tested in tests/accounts/test_authentication.py)."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest
from django.core.cache import cache

from accounts.throttling import ApiKeyRateThrottle
from messaging.models import Message
from tests.messaging.conftest import assert_error


@pytest.fixture
def two_requests_a_minute(acme_api):
    # DRF reads the rates when it loads, so the class attribute is what to change.
    # With REDIS_URL the cache is shared with any other test run on the machine,
    # whose keys may have the same primary key: this test's history gets its own name.
    cache_format = f"throttle_{uuid.uuid4().hex}_%(scope)s_%(ident)s"
    history = cache_format % {"scope": "api_key", "ident": acme_api.key.pk}
    with (
        mock.patch.object(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"}),
        mock.patch.object(ApiKeyRateThrottle, "cache_format", cache_format),
    ):
        yield acme_api
    cache.delete(history)


def test_a_throttled_send_is_a_429_that_creates_nothing(two_requests_a_minute, sandbox):
    api = two_requests_a_minute
    body = {"to": "+966501234567", "body": "Hi"}
    assert api.post("/api/v1/messages", body, format="json").status_code == 202
    assert api.get("/api/v1/messages").status_code == 200
    response = api.post("/api/v1/messages", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    error = assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert error["details"]["retry_after"] > 0
    assert Message.objects.count() == 1
