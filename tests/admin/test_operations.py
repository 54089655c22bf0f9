"""The operations page: sending health at a glance, for Support and Operators alike."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from messaging.models import DeliveryAttempt, Message, Status
from operations import admin as operations_page
from tests.factories import make_message

URL = "/admin/messaging/message/operations/"


def test_the_page_is_linked_from_the_admin_index(root_client):
    assert reverse("admin:operations") == URL
    assert URL in root_client.get("/admin/").content.decode()


@pytest.mark.parametrize("who", ["root_client", "support_client", "operator_client"])
def test_the_page_renders_with_numbers(request, who, world):
    client = request.getfixturevalue(who)
    queued = Message.objects.get(status=Status.QUEUED)
    Message.objects.filter(pk=queued.pk).update(queued_at=timezone.now() - timedelta(minutes=5))

    response = client.get(URL)
    assert response.status_code == 200
    context = response.context
    sandbox_row = next(row for row in context["providers"] if row.provider == "sandbox")
    assert sandbox_row.day[Status.DELIVERED] == 1 and sandbox_row.day[Status.FAILED] == 1
    assert sandbox_row.hour[Status.FAILED] == 1
    account_row = next(row for row in context["accounts"] if row["provider_account__provider"] == "sandbox")
    assert account_row["total"] == 4 and account_row["failed"] == 1 and account_row["rate"] == 25.0
    assert context["waiting"]["queued"] == 1
    assert context["waiting"]["oldest_age"] >= timedelta(minutes=5)
    assert context["webhooks"]["failed"] == 1
    assert context["purge_run"] is not None and context["purge_run"].total_deleted == 42
    assert context["callbacks"]["failed_day"] == 1
    html = response.content.decode()
    oldest = re.search(r'id="ops-oldest-queued">.*?class="value">(\d+) s<', html, re.S)
    assert oldest and int(oldest.group(1)) >= 300
    assert "Sandbox" in html


def test_the_celery_queue_depth(settings, monkeypatch):
    settings.REDIS_URL = ""
    assert operations_page.celery_queue_depth() == "embedded"

    class FakeRedis:
        def llen(self, name):
            assert name == "celery"
            return 7

        def close(self):
            pass

    import redis

    monkeypatch.setattr(redis.Redis, "from_url", classmethod(lambda cls, url, **kw: FakeRedis()))
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert operations_page.celery_queue_depth() == 7


def test_an_unreachable_redis_does_not_break_the_page(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert operations_page.celery_queue_depth() == "unreachable"


def test_each_figure_is_one_query(root_client, world, sandbox):
    now = timezone.now()
    for _ in range(3):
        message = make_message(sandbox, status=Status.FAILED)
        DeliveryAttempt.objects.create(message=message, provider_account=sandbox, outcome="permanent")
    for figure in (
        operations_page.messages_by_provider,
        operations_page.failure_by_account,
        operations_page.attempt_errors_by_account,
        operations_page.waiting_messages,
        operations_page.webhook_backlog,
        operations_page.callback_backlog,
    ):
        with CaptureQueriesContext(connection) as queries:
            figure(now)
        assert len(queries) == 1, figure.__name__


def test_the_page_shows_the_readiness_figures(root_client, world, settings):
    from jood import heartbeat

    heartbeat.record(heartbeat.BEAT, at=timezone.now() - timedelta(seconds=600))
    settings.READY_BEAT_MAX_AGE_SECONDS = 60
    response = root_client.get(URL)
    assert response.status_code == 200
    checks = {check.name: check for check in response.context["health_checks"]}
    ready = root_client.get("/healthz/ready").json()["checks"]
    assert set(checks) == set(ready)
    for name, check in checks.items():
        assert check.ok == ready[name]["ok"], name
    assert not checks["beat"].ok and checks["beat"].value >= 600
    html = response.content.decode()
    row = re.search(r'id="ops-health-beat">(.*?)</tr>', html, re.S)
    assert row and "over threshold" in row.group(1)
