"""Pausing: a paused organization's new sends are rejected, waiting ones wait, until it resumes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog, Role
from messaging.models import Message, MessageEvent, Status
from retention import services
from tests.factories import make_account, make_api_client
from tests.messaging.conftest import queued_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(acme):
    return make_account(acme, default_sender="Acme", messages_per_second=0)


def send(api, to="+14155550100"):
    return api.post("/api/v1/messages", {"channel": "sms", "to": to, "body": "Hello"}, format="json")


def test_a_paused_organizations_sends_are_rejected(acme, owner, sandbox, acme_api, django_capture_on_commit_callbacks):
    assert services.pause_organization(acme, services.Actor(user=owner)) is True

    with django_capture_on_commit_callbacks(execute=True):
        response = send(acme_api)

    assert response.status_code == 202, response.content
    message = Message.objects.get(public_id=response.json()["id"])
    assert message.status == Status.REJECTED
    assert message.error_code == "organization_paused"
    assert AccessLog.objects.filter(organization=acme, action="paused", user=owner).count() == 1


def test_pausing_keeps_waiting_messages_and_resuming_sends_them(
    acme, owner, sandbox, django_capture_on_commit_callbacks
):
    queued = queued_rows(acme, 3)
    scheduled = Message.objects.create(
        organization=acme,
        channel="sms",
        to="+14155550111",
        body="Later",
        status=Status.SCHEDULED,
        scheduled_at=timezone.now() + timedelta(days=1),
    )
    sending = Message.objects.create(
        organization=acme, channel="sms", to="+14155550112", body="Now", status=Status.SENDING
    )

    services.pause_organization(acme, services.Actor(user=owner))

    # Nothing is destroyed: the waiting messages wait, the one being sent finishes.
    for pk in queued:
        assert Message.objects.get(pk=pk).status == Status.QUEUED
    assert Message.objects.get(pk=scheduled.pk).status == Status.SCHEDULED
    assert not MessageEvent.objects.filter(message__organization=acme, status=Status.REJECTED).exists()
    sending.refresh_from_db()
    assert sending.status == Status.SENDING

    with django_capture_on_commit_callbacks(execute=True):
        services.resume_organization(acme, services.Actor(user=owner))

    for pk in queued:
        assert Message.objects.get(pk=pk).status not in (Status.QUEUED, Status.REJECTED, Status.CANCELED)
    assert Message.objects.get(pk=scheduled.pk).status == Status.SCHEDULED


def test_pausing_can_cancel_waiting_messages_with_a_reason_the_customer_sees(acme, owner, sandbox, owner_client):
    queued = queued_rows(acme, 2)

    response = owner_client.post(reverse("portal-privacy-pause"), {"waiting": "cancel"})

    assert response.status_code == 302
    for pk in queued:
        message = Message.objects.get(pk=pk)
        assert message.status == Status.CANCELED
        assert message.error_code == "organization_paused"
        assert "owner@acme.test paused sending" in message.error_message
    page = owner_client.get(reverse("portal-message", args=[Message.objects.get(pk=queued[0]).public_id]))
    assert "owner@acme.test paused sending" in page.content.decode()


def test_pausing_twice_logs_once_and_resuming_accepts_sends_again(acme, owner, sandbox, acme_api):
    actor = services.Actor(user=owner)
    services.pause_organization(acme, actor)
    assert services.pause_organization(acme, actor) is False
    assert services.resume_organization(acme, actor) is True
    assert services.resume_organization(acme, actor) is False
    acme.refresh_from_db()
    assert acme.paused_at is None

    response = send(acme_api)
    assert Message.objects.get(public_id=response.json()["id"]).status == Status.QUEUED
    actions = list(
        AccessLog.objects.filter(organization=acme, action__in=["paused", "resumed"]).values_list("action", flat=True)
    )
    assert sorted(actions) == ["paused", "resumed"]


def test_the_hourly_task_leaves_a_paused_organizations_messages_waiting(acme, sandbox):
    from retention.tasks import delete_due_organizations

    acme.paused_at = timezone.now()
    acme.save()
    [pk] = queued_rows(acme, 1)

    delete_due_organizations.apply()

    assert Message.objects.get(pk=pk).status == Status.QUEUED


def test_the_api_pauses_and_resumes_with_an_admin_key(acme, sandbox, acme_privacy_api, acme_api):
    response = acme_privacy_api.post("/api/v1/organization/pause")
    assert response.status_code == 200, response.content
    assert response.json()["paused"] is True
    assert send(acme_api).json()["status"] == "rejected"
    assert AccessLog.objects.get(action="paused").api_key == acme_privacy_api.key

    response = acme_privacy_api.post("/api/v1/organization/resume")
    assert response.json()["paused"] is False


def test_a_member_key_cannot_pause(acme, acme_api):
    assert acme_api.post("/api/v1/organization/pause").status_code == 403
    acme.refresh_from_db()
    assert acme.paused_at is None


def test_the_portal_pauses_for_an_owner_only(acme, owner_client, member, client):
    response = owner_client.post(reverse("portal-privacy-pause"))
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.is_paused
    assert "Resume sending" in owner_client.get(reverse("portal-privacy")).content.decode()

    other = make_member_client(member)
    assert other.post(reverse("portal-privacy-resume")).status_code == 403
    owner_client.post(reverse("portal-privacy-resume"))
    acme.refresh_from_db()
    assert not acme.is_paused


def make_member_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_other_keys_of_the_organization_still_read_while_paused(acme, sandbox, acme_privacy_api):
    acme_privacy_api.post("/api/v1/organization/pause")
    viewer = make_api_client(acme, Role.VIEWER)
    assert viewer.get("/api/v1/messages").status_code == 200


def test_the_api_pause_keeps_waiting_messages_or_cancels_them_when_asked(acme, globex, sandbox, acme_privacy_api):
    [kept] = queued_rows(acme, 1)
    acme_privacy_api.post("/api/v1/organization/pause", {}, format="json")
    assert Message.objects.get(pk=kept).status == Status.QUEUED
    acme_privacy_api.post("/api/v1/organization/resume")

    Message.objects.filter(pk=kept).update(status=Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(days=1))
    response = acme_privacy_api.post("/api/v1/organization/pause", {"cancel_waiting": True}, format="json")
    assert response.status_code == 200, response.content
    message = Message.objects.get(pk=kept)
    assert message.status == Status.CANCELED
    assert f"API key {acme_privacy_api.key.prefix} paused sending" in message.error_message
