"""/healthz: the load balancer's cheap probe. 200 while the database answers; the broker is reported.

The broker down keeps 200 ("degraded"): the API still accepts sends without it.
The database down is 503: see tests/ops/test_api_degrades.py (a real outage).
"""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings


def test_healthz_is_200_with_the_database_and_broker(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == ("ok" if settings.REDIS_URL else "embedded")


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_healthz_stays_200_but_says_degraded_when_the_broker_is_down(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"database": "ok", "broker": "unreachable"}


def test_healthz_runs_no_backlog_query(client, db, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        assert client.get("/healthz").status_code == 200


def test_healthz_needs_no_api_key_and_is_never_cached(client, db):
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"]
