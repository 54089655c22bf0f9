"""/healthz: 200 when the database (and the broker, if any) answer; 503 naming what does not."""

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


@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_healthz_is_503_naming_the_broker_when_it_is_down(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "broker": "unreachable"}


def test_healthz_needs_no_api_key_and_is_never_cached(client, db):
    response = client.get("/healthz")
    assert "no-cache" in response["Cache-Control"]
