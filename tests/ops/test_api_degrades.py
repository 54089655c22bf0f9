"""The web app under gunicorn while Redis or PostgreSQL goes away: degrade, never an HTML 500.

Process tests (transaction=True: the app runs in another process and must see
the committed rows). Redis is a private redis-server killed or frozen with
SIGSTOP; PostgreSQL is reached through a TCP proxy that the test cuts, or its
connection is killed with pg_terminate_backend.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from django.db import connection

from messaging.models import Message, Status
from providers import services
from tests.ops.processes import PrivateRedis, TcpProxy, WebApp, database_url_via

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL): persistent connections"
)


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:500]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def redis_server():
    server = PrivateRedis()
    yield server
    server.stop()


@pytest.fixture
def sandbox_account(acme):
    return services.connect_account(
        acme, provider="sandbox", channel="sms", label="Sandbox", credentials={}, messages_per_second=0
    )


def send(web: WebApp, secret: str, to: str = "+966501234567", timeout: float = 10):
    return requests.post(
        web.url + "/api/v1/messages",
        json={"to": to, "body": "Hello"},
        headers={"Authorization": f"Token {secret}"},
        timeout=timeout,
    )


def test_with_redis_gone_sends_are_accepted_and_throttled_per_process(acme_api, sandbox_account, redis_server):
    web = WebApp(REDIS_URL=redis_server.url, CELERY_BROKER_URL=redis_server.url, API_THROTTLE_RATE="3/min")
    try:
        assert send(web, acme_api.secret).status_code == 202  # Redis up: the shared counter (1 of 3)
        redis_server.stop()
        answers = [send(web, acme_api.secret, to=f"+96650123456{i}") for i in range(4)]
    finally:
        web.stop()
    # The throttle fell back to this process's count: three more pass, the fourth is throttled.
    assert [r.status_code for r in answers[:3]] == [202, 202, 202], [r.text[:300] for r in answers]
    error = assert_json_error(answers[3], 429, "throttled")
    assert error["details"]["retry_after"] > 0
    assert "Retry-After" in answers[3].headers
    # Each accepted send is a committed queued row: the sweeper publishes it when Redis is back.
    ids = [r.json()["id"] for r in answers[:3]]
    assert set(Message.objects.filter(public_id__in=ids).values_list("status", flat=True)) == {Status.QUEUED}


def test_with_redis_frozen_a_send_answers_within_seconds(acme_api, sandbox_account, redis_server):
    web = WebApp(REDIS_URL=redis_server.url, CELERY_BROKER_URL=redis_server.url)
    try:
        assert send(web, acme_api.secret).status_code == 202
        redis_server.freeze()  # accepts connections (the kernel does), never answers
        started = time.monotonic()
        try:
            response = send(web, acme_api.secret, to="+966501234568", timeout=20)
        finally:
            took = time.monotonic() - started
            redis_server.thaw()
    finally:
        web.stop()
    assert response.status_code == 202, response.text[:500]
    print(f"a send with Redis frozen took {took:.2f}s")
    assert took < 10, f"a send took {took:.1f}s with Redis frozen"
    message = Message.objects.get(public_id=response.json()["id"])
    assert message.status == Status.QUEUED


@needs_postgres
def test_a_killed_database_connection_is_replaced_before_the_next_request(acme_api, db):
    name = f"jood_ops_{uuid.uuid4().hex[:12]}"
    web = WebApp(DATABASE_URL=database_url_via(connection.settings_dict["PORT"] or 5432, application_name=name))
    headers = {"Authorization": f"Token {acme_api.secret}"}
    try:
        assert requests.get(web.url + "/api/v1/messages", headers=headers, timeout=10).status_code == 200
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", [name])
            assert cursor.fetchall(), "the web app kept no connection open: nothing was tested"
        responses = [requests.get(web.url + "/api/v1/messages", headers=headers, timeout=10) for _ in range(3)]
    finally:
        web.stop()
    assert [r.status_code for r in responses] == [200, 200, 200], responses[0].text[:500]


@needs_postgres
def test_with_the_database_unreachable_the_api_answers_503_json_then_recovers(acme_api, db):
    proxy = TcpProxy(int(connection.settings_dict["PORT"] or 5432))
    web = WebApp(DATABASE_URL=database_url_via(proxy.port), DATABASE_CONNECT_TIMEOUT=2)
    headers = {"Authorization": f"Token {acme_api.secret}"}
    try:
        assert requests.get(web.url + "/api/v1/messages", headers=headers, timeout=10).status_code == 200
        proxy.cut()
        down = requests.get(web.url + "/api/v1/messages", headers=headers, timeout=20)
        health = requests.get(web.url + "/healthz", timeout=20)
        proxy.restore()
        up = requests.get(web.url + "/api/v1/messages", headers=headers, timeout=10)
    finally:
        web.stop()
        proxy.close()
    error = assert_json_error(down, 503, "service_unavailable")
    assert error["details"] == {"dependency": "database"}
    assert int(down.headers["Retry-After"]) > 0
    assert health.status_code == 503
    assert health.json()["checks"]["database"] == "unreachable"
    assert up.status_code == 200, up.text[:500]
