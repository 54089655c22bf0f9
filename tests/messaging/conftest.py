from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.models import Message, Status
from providers.models import Channel, ProviderAccount
from tests.factories import make_account


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Assert the API's error shape ({"error": {"code", "message", "details"}}) and return the inner object."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def sandbox(acme) -> ProviderAccount:
    return make_account(acme, default_sender="Acme", messages_per_second=0)


@pytest.fixture
def globex_sandbox(globex) -> ProviderAccount:
    return make_account(globex, messages_per_second=0)


@pytest.fixture
def whatsapp_sandbox(acme) -> ProviderAccount:
    return make_account(acme, channel=Channel.WHATSAPP, default_sender="+966500000001", messages_per_second=0)


def queued_rows(organization, n: int) -> list[int]:
    """Queue n SMS messages in the database without publishing a task for them."""
    now = timezone.now()
    rows = Message.objects.bulk_create(
        Message(
            organization=organization,
            channel="sms",
            to=f"+1415555{i:04d}",
            body=f"Message {i}",
            status=Status.QUEUED,
            created_at=now,
            queued_at=now,
            encoding="GSM-7",
            segments=1,
        )
        for i in range(1, n + 1)
    )
    return [m.pk for m in rows]


@pytest.fixture
def broker_lock():
    """Process tests share the Redis db of REDIS_URL across xdist workers: one such test at a time."""
    import fcntl
    import hashlib
    import tempfile
    from pathlib import Path

    from django.conf import settings

    digest = hashlib.sha256((settings.REDIS_URL or "none").encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"jood-process-tests-{digest}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
