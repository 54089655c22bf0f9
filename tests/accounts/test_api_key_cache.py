"""The API key cache (no query per request) and the access log of key use (a row per key, address, agent and hour)."""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import key_usage, services
from accounts.models import ApiKey, ApiKeyUse
from retention.services import pause_organization
from tests.factories import login, make_account


def _queries_of(client, path="/api/v1/organization", **extra) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path, **extra).status_code == 200
    return [q["sql"] for q in queries]


def test_the_key_is_looked_up_once_not_on_every_request(acme_api):
    first = _queries_of(acme_api)
    again = _queries_of(acme_api)
    assert any("accounts_apikey" in sql for sql in first)
    assert not any("accounts_apikey" in sql for sql in again)


def test_a_revocation_elsewhere_takes_effect_within_the_cache_lifetime(acme_api, settings):
    """Another web process revokes the key: this one refuses it once its cached copy expires."""
    settings.API_KEY_CACHE_SECONDS = 0.5
    assert acme_api.get("/api/v1/organization").status_code == 200
    ApiKey.objects.filter(pk=acme_api.key.pk).update(revoked_at=timezone.now())  # no signal, as in another process
    time.sleep(0.6)
    response = acme_api.get("/api/v1/organization")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_a_revocation_in_this_process_takes_effect_at_once(acme_api, settings):
    settings.API_KEY_CACHE_SECONDS = 3600
    assert acme_api.get("/api/v1/organization").status_code == 200
    services.revoke_api_key(acme_api.key)
    assert acme_api.get("/api/v1/organization").status_code == 401


def test_the_default_cache_lifetime_is_seconds(settings):
    assert 0 < settings.API_KEY_CACHE_SECONDS <= 10


def test_a_paused_organization_is_seen_at_once_by_a_cached_key(acme, acme_api, settings):
    settings.API_KEY_CACHE_SECONDS = 3600
    make_account(acme)
    assert acme_api.get("/api/v1/organization").status_code == 200
    pause_organization(acme)
    response = acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "hi"}, format="json")
    assert response.status_code == 202
    assert response.json()["status"] == "rejected"


# --- key use in the access log -------------------------------------------------------------------
def test_key_use_is_counted_without_a_query_and_written_in_one_upsert(acme_api, settings):
    settings.API_KEY_USAGE_FLUSH_SECONDS = 3600
    _queries_of(acme_api)  # the key is cached now
    queries = []
    for _ in range(5):
        queries += _queries_of(acme_api, REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="curl/8.5")
    assert not any("apikeyuse" in sql.lower() for sql in queries)
    assert not ApiKeyUse.objects.exists()

    with CaptureQueriesContext(connection) as flush:
        assert key_usage.flush_key_usage() == 2  # the first request had another address and agent
    assert sum("INSERT" in q["sql"] for q in flush) == 1
    row = ApiKeyUse.objects.get(ip="203.0.113.7")
    assert (row.api_key, row.organization, row.user_agent, row.count) == (
        acme_api.key,
        acme_api.key.organization,
        "curl/8.5",
        5,
    )
    assert row.first_seen <= row.last_seen
    assert row.hour == row.first_seen.replace(minute=0, second=0, microsecond=0)


def test_later_flushes_add_to_the_hours_row(acme_api, settings):
    settings.API_KEY_USAGE_FLUSH_SECONDS = 3600
    start = timezone.now().replace(minute=10)
    with mock.patch("django.utils.timezone.now", return_value=start):
        acme_api.get("/api/v1/organization", REMOTE_ADDR="198.51.100.1")
    key_usage.flush_key_usage()
    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(minutes=5)):
        acme_api.get("/api/v1/organization", REMOTE_ADDR="198.51.100.1")
        acme_api.get("/api/v1/organization", REMOTE_ADDR="198.51.100.1")
    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(hours=1)):
        acme_api.get("/api/v1/organization", REMOTE_ADDR="198.51.100.1")
    key_usage.flush_key_usage()
    rows = list(ApiKeyUse.objects.order_by("hour").values_list("count", "first_seen", "last_seen"))
    assert rows == [
        (3, start, start + timedelta(minutes=5)),
        (1, start + timedelta(hours=1), start + timedelta(hours=1)),
    ]


def test_key_use_is_written_after_a_response_once_the_interval_has_passed(acme_api, settings):
    settings.API_KEY_USAGE_FLUSH_SECONDS = 0
    acme_api.get("/api/v1/organization", REMOTE_ADDR="192.0.2.9")
    assert key_usage.pending() == 0
    assert ApiKeyUse.objects.get(ip="192.0.2.9").count == 1


def test_the_access_log_page_shows_key_use_of_its_own_organization_only(acme_api, globex_api, owner, settings):
    settings.API_KEY_USAGE_FLUSH_SECONDS = 3600
    acme_api.get("/api/v1/organization", REMOTE_ADDR="203.0.113.50", HTTP_USER_AGENT="acme-sdk/1.0")
    globex_api.get("/api/v1/organization", REMOTE_ADDR="203.0.113.60", HTTP_USER_AGENT="globex-sdk/2.0")
    key_usage.flush_key_usage()
    page = login(owner).get("/portal/access-log/").content.decode()
    assert "203.0.113.50" in page and "acme-sdk/1.0" in page
    assert "203.0.113.60" not in page and "globex-sdk" not in page
