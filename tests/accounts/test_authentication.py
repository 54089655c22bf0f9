"""API key authentication: the header forms, the 401s, last_used_at and throttling."""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.throttling import ApiKeyRateThrottle


def _assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def _client(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


def test_token_and_bearer_both_work(acme_api):
    assert _client(f"Token {acme_api.secret}").get("/api/v1/organization").status_code == 200
    assert _client(f"Bearer {acme_api.secret}").get("/api/v1/organization").status_code == 200
    assert _client(f"bearer {acme_api.secret}").get("/api/v1/organization").status_code == 200


def test_no_header_is_401_with_the_error_shape(db):
    response = APIClient().get("/api/v1/organization")
    _assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_revoked_key_is_401(acme_api):
    services.revoke_api_key(acme_api.key)
    _assert_error_shape(acme_api.get("/api/v1/organization"), 401, "revoked_api_key")


def test_an_unknown_key_is_401(db):
    error = _assert_error_shape(_client("Token jood_not-a-key").get("/api/v1/organization"), 401, "invalid_api_key")
    assert "not-a-key" not in error["message"]


@pytest.mark.parametrize("header", ["Token", "Basic dXNlcjpwdw==", "Token two parts", "jood_abc"])
def test_a_malformed_header_is_401(db, header):
    _assert_error_shape(_client(header).get("/api/v1/organization"), 401, "malformed_credentials")


def test_a_key_of_a_closed_organization_is_401(acme, acme_api):
    acme.is_active = False
    acme.save(update_fields=["is_active"])
    _assert_error_shape(acme_api.get("/api/v1/organization"), 401, "organization_inactive")


def _last_used_writes(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"])


def test_last_used_at_is_written_at_most_once_a_minute(acme_api):
    start = timezone.now()
    with mock.patch("django.utils.timezone.now", return_value=start):
        with CaptureQueriesContext(connection) as first_two:
            acme_api.get("/api/v1/organization", REMOTE_ADDR="203.0.113.7")
            acme_api.get("/api/v1/organization", REMOTE_ADDR="203.0.113.7")
    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(seconds=59)):
        with CaptureQueriesContext(connection) as within_the_minute:
            acme_api.get("/api/v1/organization")
    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(seconds=61)):
        with CaptureQueriesContext(connection) as after_a_minute:
            acme_api.get("/api/v1/organization")

    assert _last_used_writes(first_two) == 1
    assert _last_used_writes(within_the_minute) == 0
    assert _last_used_writes(after_a_minute) == 1
    acme_api.key.refresh_from_db()
    assert acme_api.key.last_used_at == start + timedelta(seconds=61)


def test_last_used_ip_is_the_clients(acme_api):
    acme_api.get("/api/v1/organization", REMOTE_ADDR="203.0.113.7")
    acme_api.key.refresh_from_db()
    assert acme_api.key.last_used_ip == "203.0.113.7"


@pytest.fixture
def two_requests_a_minute(acme_api):
    # The rate is read when DRF loads, so the class attribute is what to change;
    # the counters get names of their own so no earlier request counts.
    with (
        mock.patch.object(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "2/min"}),
        mock.patch.object(ApiKeyRateThrottle, "cache_format", f"throttle_{uuid.uuid4().hex}_%(scope)s_%(ident)s"),
    ):
        yield acme_api


def test_throttling_answers_429_with_retry_after(two_requests_a_minute):
    api = two_requests_a_minute
    assert api.get("/api/v1/organization").status_code == 200
    assert api.get("/api/v1/organization").status_code == 200
    response = api.get("/api/v1/organization")
    error = _assert_error_shape(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert error["details"]["retry_after"] > 0


def test_throttling_counts_each_key_apart(two_requests_a_minute, acme_viewer_api):
    api = two_requests_a_minute
    for _ in range(3):
        api.get("/api/v1/organization")
    assert acme_viewer_api.get("/api/v1/organization").status_code == 200
