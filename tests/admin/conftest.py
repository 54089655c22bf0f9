"""Fixtures of the staff console tests: staff by role and a realistic object graph.

`acme`, `globex`, `owner`, the API clients and `dispatching` come from tests/conftest.py.

Content that Support must never see is made of the `SECRET_*` strings
below; tests/admin/test_support.py looks for them in every page.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AccessLog, ApiKeyUse, User
from jood.admin_utils import OPERATORS, SUPPORT
from messaging.models import (
    Batch,
    ConversationWindow,
    DailyStats,
    DeliveryAttempt,
    IdempotencyRecord,
    InboundMessage,
    MediaFile,
    MessageEvent,
    OptOut,
    PendingStatusUpdate,
    Status,
    Template,
)
from providers.models import ProviderAccount
from retention.models import DataExport, LegalHold, PurgeRun
from tests.factories import login, make_account, make_message
from webhooks.models import CallbackAttempt, CallbackDelivery, WebhookEvent

SECRET_BODY = "Your verification code is 915377"
SECRET_PARAM = "param-value-552143"
SECRET_INBOUND = "inbound text 882130 about my order"
SECRET_CREDENTIAL = "sandbox-api-key-77441122"
SECRETS = [SECRET_BODY, "915377", SECRET_PARAM, SECRET_INBOUND, "882130", SECRET_CREDENTIAL]

FAILED_TO = "+966501234567"


def make_staff(email: str, group: str | None = None, *, superuser: bool = False) -> User:
    if superuser:
        return User.objects.create_superuser(email)
    user = User.objects.create_user(email, is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def root(db) -> User:
    return make_staff("root@jood.test", superuser=True)


@pytest.fixture
def support(db) -> User:
    return make_staff("support@jood.test", SUPPORT)


@pytest.fixture
def operator(db) -> User:
    return make_staff("operator@jood.test", OPERATORS)


@pytest.fixture
def root_client(root, client):
    client.force_login(root)
    return client


@pytest.fixture
def support_client(support):
    return login(support)


@pytest.fixture
def operator_client(operator):
    return login(operator)


@pytest.fixture
def sandbox(acme) -> ProviderAccount:
    return make_account(acme, credentials={"api_key": SECRET_CREDENTIAL}, settings={"read_receipts": False})


@pytest.fixture
def world(acme, globex, owner, acme_api, sandbox, root):
    """One or more rows of every model the console shows, linked as they are in production."""
    now = timezone.now()
    whatsapp = make_account(
        acme,
        "whatsapp",
        "whatsapp",
        credentials={
            "access_token": "EAAG-secret-token-000111",
            "phone_number_id": "109876543210",
            "waba_id": "102030405060",
            "app_secret": "meta-app-secret-for-tests",
            "verify_token": "verify-me",
        },
    )
    template = Template.objects.create(
        organization=acme, channel="sms", name="otp", body="Your verification code is {{code}}"
    )
    Template.objects.create(
        organization=acme,
        kind=Template.Kind.WHATSAPP,
        channel="whatsapp",
        provider_account=whatsapp,
        name="order_shipped",
        language="en",
        approval_status="APPROVED",
        category="UTILITY",
        components=[{"type": "BODY", "text": "Your order {{1}} has shipped"}],
        synced_at=now,
    )
    batch = Batch.objects.create(organization=acme, name="November promo", channel="sms", total=3, accepted=3)
    delivered = make_message(
        sandbox,
        status=Status.DELIVERED,
        to="+966501110000",
        body=SECRET_BODY,
        provider_message_id="SBdelivered0001",
        sent_at=now,
        delivered_at=now,
        template=template,
        template_params={"code": SECRET_PARAM},
        batch=batch,
        metadata={"order": "A-1"},
    )
    MessageEvent.objects.create(message=delivered, status="queued", source="api", applied=True)
    MessageEvent.objects.create(message=delivered, status="sent", source="dispatch", applied=True)
    MessageEvent.objects.create(
        message=delivered, status="delivered", raw_status="delivered", source="webhook", applied=True
    )
    DeliveryAttempt.objects.create(message=delivered, provider_account=sandbox, outcome="accepted", latency_ms=40)
    failed = make_message(
        sandbox,
        status=Status.FAILED,
        to=FAILED_TO,
        body=SECRET_BODY,
        error_code="21211",
        error_message="sandbox: the 'To' number is not a valid phone number",
        failed_at=now,
        batch=batch,
    )
    DeliveryAttempt.objects.create(
        message=failed,
        provider_account=sandbox,
        outcome="permanent",
        http_status=400,
        error_code="21211",
        error_message="sandbox: the 'To' number is not a valid phone number",
    )
    make_message(sandbox, status=Status.QUEUED, to="+966501110002", body=SECRET_BODY, batch=batch)
    make_message(
        sandbox, status=Status.SCHEDULED, to="+966501110003", body=SECRET_BODY, scheduled_at=now + timedelta(hours=2)
    )

    inbound = InboundMessage.objects.create(
        organization=acme,
        provider_account=sandbox,
        channel="sms",
        from_number="+966501110009",
        to_number="Acme",
        body=SECRET_INBOUND,
        provider_message_id="SBin0001",
    )
    ConversationWindow.objects.create(organization=acme, phone="+966501110009", last_inbound_at=now)
    OptOut.objects.create(organization=acme, channel="sms", phone="+966501110008", source="inbound_keyword")
    MediaFile.objects.create(
        organization=acme,
        file="media/1/picture",
        filename="picture.png",
        kind="image",
        content_type="image/png",
        size=3,
        sha256="0" * 64,
    )
    PendingStatusUpdate.objects.create(
        organization=acme,
        provider="sandbox",
        provider_message_id="SBnotyet0001",
        payload={"provider_message_id": "SBnotyet0001", "status": "delivered"},
    )
    DailyStats.objects.create(
        organization=acme, day=now.date(), channel="sms", provider="sandbox", status="delivered", count=3
    )
    IdempotencyRecord.objects.create(
        organization=acme,
        key="idem-1",
        endpoint="messages",
        request_hash="0" * 64,
        response_status=202,
        response_body={"id": str(delivered.public_id), "body": SECRET_BODY},
    )

    inbound_body = f"From=%2B966501110009&To=Acme&Body={SECRET_INBOUND.replace(' ', '+')}&MessageSid=SM1"
    WebhookEvent.objects.create(
        provider="sandbox",
        provider_account=sandbox,
        body=inbound_body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        signature_valid=True,
        state=WebhookEvent.State.FAILED,
        error="Could not parse: JSONDecodeError",
        dedup_key="a" * 64,
    )
    WebhookEvent.objects.create(
        provider="sandbox",
        provider_account=sandbox,
        body=json.dumps({"id": "SBdelivered0001", "status": "delivered", "text": SECRET_BODY}),
        headers={"content-type": "application/json"},
        signature_valid=True,
        state=WebhookEvent.State.PROCESSED,
        dedup_key="b" * 64,
        result={"statuses": 1},
    )

    from webhooks import services as webhook_services

    endpoint, _ = webhook_services.create_endpoint(acme, "https://hooks.acme.example/jood")
    delivery = CallbackDelivery.objects.create(
        endpoint=endpoint,
        organization=acme,
        inbound_message=inbound,
        url=endpoint.url,
        event_type="message.inbound",
        payload={"type": "message.inbound", "data": {"body": SECRET_INBOUND}},
        webhook_id="msg_admin_test_1",
        state=CallbackDelivery.State.FAILED,
        attempts=1,
        last_status_code=500,
        last_error="HTTP 500",
    )
    CallbackAttempt.objects.create(delivery=delivery, number=1, status_code=500, error="HTTP 500")

    PurgeRun.objects.create(
        started_at=now - timedelta(hours=5),
        finished_at=now - timedelta(hours=5),
        completed=True,
        deleted={"messaging.Message": 12, "messaging.MessageEvent": 30},
        cutoff=now - timedelta(days=90),
        trigger="beat",
        duration_seconds=1.5,
    )
    LegalHold.objects.create(organization=acme, until=now.date() + timedelta(days=30), reason="Case 1", by=root)
    DataExport.objects.create(organization=acme, requested_by=owner, requested_by_label=owner.email)
    AccessLog.objects.create(organization=acme, user=owner, actor_label=owner.email, action="login", ip="192.0.2.1")
    from accounts.services import create_api_key

    used_key, _ = create_api_key(acme, "Reporting", role="viewer")
    ApiKeyUse.objects.create(
        api_key=used_key,
        organization=acme,
        hour=now.replace(minute=0, second=0, microsecond=0),
        ip="192.0.2.8",
        user_agent="python-requests/2.32",
        first_seen=now,
        last_seen=now,
        count=3,
    )

    # globex asked to be deleted: it shows under "organization deletions".
    from retention import services as retention_services

    make_account(globex)
    retention_services.request_organization_deletion(globex, account_services.Actor(user=root))

    _celery_beat_rows()
    return {
        "delivered": delivered,
        "failed": failed,
        "whatsapp": whatsapp,
        "inbound": inbound,
        "batch": batch,
        "endpoint": endpoint,
        "delivery": delivery,
    }


def _celery_beat_rows() -> None:
    """django-celery-beat's admin pages need a row of each of its models."""
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    interval, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    CrontabSchedule.objects.get_or_create(minute="30", hour="3")
    SolarSchedule.objects.get_or_create(event="sunrise", latitude=24.7, longitude=46.7)
    ClockedSchedule.objects.get_or_create(clocked_time=timezone.now() + timedelta(days=1))
    if not PeriodicTask.objects.exists():
        PeriodicTask.objects.create(name="admin test task", task="jood.noop", interval=interval)
