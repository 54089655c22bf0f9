"""Every write of messaging through a service: with its event, its status signal and its access-log row.

Issue 18 ("Every write through a service"): template create and delete and
opt-out delete wrote from views; messages refused at accept time had no event
and no customer callback; an operator's retry raced with a dispatch claim.
"""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AccessLog
from messaging import dispatch, services
from messaging.models import Message, MessageEvent, OptOut, Status, Template
from messaging.signals import message_status_changed
from tests.factories import login


@pytest.fixture
def status_signals():
    """The (message id, old status, new status) of every `message_status_changed` sent."""
    sent: list[tuple[int, str, str]] = []

    def receiver(sender, message, old_status, new_status, event=None, **kwargs):
        sent.append((message.pk, old_status, new_status))

    message_status_changed.connect(receiver, dispatch_uid="test_write_services")
    yield sent
    message_status_changed.disconnect(dispatch_uid="test_write_services")


# --- refused at accept time: the event and the signal, as at dispatch ------------------------------
def test_a_send_rejected_at_acceptance_records_its_event_and_signals_it(
    acme, acme_api, sandbox, status_signals, django_capture_on_commit_callbacks
):
    OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    with django_capture_on_commit_callbacks(execute=True):
        response = acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "rejected"
    message = Message.objects.get(public_id=response.json()["id"])
    [event] = message.events.all()
    assert (event.status, event.applied, event.error_code) == (Status.REJECTED, True, "opted_out")
    assert status_signals == [(message.pk, "", Status.REJECTED)]


def test_a_bulk_send_records_the_events_of_its_rejected_rows_in_one_insert(
    acme, acme_api, sandbox, status_signals, django_capture_on_commit_callbacks
):
    OptOut.objects.bulk_create(
        OptOut(organization=acme, channel="sms", phone=phone) for phone in ("+966501234567", "+971501234567")
    )
    recipients = [{"to": to} for to in ("+966501234567", "+971501234567", "+14155550123")]
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = acme_api.post(
            "/api/v1/messages/bulk", {"channel": "sms", "body": "Hi", "recipients": recipients}, format="json"
        )
    assert response.status_code == 202 and response.json()["rejected"] == 2
    inserts = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "messaging_messageevent"')
    ]
    assert len(inserts) == 1
    rejected = set(Message.objects.filter(status=Status.REJECTED).values_list("pk", flat=True))
    assert set(MessageEvent.objects.values_list("message_id", "status")) == {(pk, Status.REJECTED) for pk in rejected}
    for callback in callbacks:
        callback()
    assert sorted(status_signals) == sorted((pk, "", Status.REJECTED) for pk in rejected)


def test_an_accepted_send_still_records_no_event(acme, acme_api, sandbox, status_signals):
    response = acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": "Hi"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert not MessageEvent.objects.exists() and status_signals == []


# --- templates and opt-outs: the access-log row -------------------------------------------------------
def logged(acme) -> list[AccessLog]:
    """The access-log rows of changes to the organization's data (logins left aside)."""
    return [row for row in AccessLog.objects.filter(organization=acme).order_by("id") if row.detail.get("change")]


def changes(acme) -> list[str]:
    return [row.detail["change"] for row in logged(acme)]


def test_templates_created_and_deleted_in_the_portal_leave_access_log_rows(acme, admin_user):
    client = login(admin_user)
    response = client.post(
        reverse("portal-template-new"), {"channel": "sms", "name": "promo", "language": "en", "body": "Hi {{n}}"}
    )
    assert response.status_code == 302
    template = Template.objects.get(organization=acme, name="promo")
    client.post(reverse("portal-template-delete", args=[template.public_id]))
    assert not Template.objects.filter(pk=template.pk).exists()
    assert changes(acme) == ["template_created", "template_deleted"]
    created = logged(acme)[0]
    assert created.user == admin_user and created.detail["template"] == str(template.public_id)


def test_templates_created_and_deleted_through_the_api_leave_access_log_rows(acme, acme_admin_api):
    response = acme_admin_api.post(
        "/api/v1/templates", {"channel": "sms", "name": "promo", "language": "en", "body": "Hi"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert acme_admin_api.delete(f"/api/v1/templates/{response.json()['id']}").status_code == 204
    assert changes(acme) == ["template_created", "template_deleted"]
    assert all(row.api_key is not None for row in logged(acme))


def test_an_opt_out_removed_through_the_api_or_the_portal_leaves_an_access_log_row(acme, acme_api, member):
    first = OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    second = OptOut.objects.create(organization=acme, channel="sms", phone="+971501234567")
    assert acme_api.delete(f"/api/v1/opt-outs/{first.pk}").status_code == 204
    login(member).post(reverse("portal-opt-out-remove", args=[second.pk]))
    assert not OptOut.objects.exists()
    assert changes(acme) == ["opt_out_removed", "opt_out_removed"]
    assert [row.detail["phone"] for row in logged(acme)] == [
        "+966501234567",
        "+971501234567",
    ]


# --- an operator's retry and a dispatch claim ----------------------------------------------------------
def failed_message(acme) -> Message:
    return Message.objects.create(
        organization=acme,
        channel="sms",
        to="+966501234567",
        body="Hi",
        status=Status.FAILED,
        error_code="30003",
        error_message="Unreachable",
    )


def in_thread(function, *args):
    """Run `function` on another thread, so on its own database connection; return its result."""
    result: list = []
    errors: list = []

    def run():
        try:
            result.append(function(*args))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not errors, errors
    return result[0]


needs_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="two connections on one database")


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_retry_from_a_stale_page_leaves_a_message_another_retry_sent_and_a_worker_claimed(acme, sandbox):
    message = failed_message(acme)
    stale = Message.objects.get(pk=message.pk)  # the operator's page, loaded while it was failed
    # Another operator retried it, and a worker claimed it (connections of their own).
    assert in_thread(lambda: services.retry_message(Message.objects.get(pk=message.pk)))
    claimed, lease = in_thread(dispatch.claim, [message.pk])
    assert claimed == [message.pk]

    assert services.retry_message(stale) is False
    row = Message.objects.get(pk=message.pk)
    assert (row.status, row.lease_expires_at) == (Status.SENDING, lease)
    assert stale.status == Status.SENDING  # the caller's copy says why
    assert list(row.events.values_list("raw_status", flat=True)) == ["retry"]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_retry_from_a_stale_page_never_sends_a_delivered_message_again(acme, sandbox):
    message = failed_message(acme)
    stale = Message.objects.get(pk=message.pk)
    in_thread(lambda: Message.objects.filter(pk=message.pk).update(status=Status.DELIVERED))
    assert services.retry_message(stale) is False
    assert Message.objects.get(pk=message.pk).status == Status.DELIVERED
    assert not MessageEvent.objects.filter(message_id=message.pk).exists()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_retry_skips_a_row_a_worker_holds_locked(acme, sandbox):
    """While another connection holds the row (a claim in progress), the retry does not wait nor move it."""
    message = failed_message(acme)
    locked, release = threading.Event(), threading.Event()

    def hold():
        from django.db import transaction

        with transaction.atomic():
            Message.objects.select_for_update().filter(pk=message.pk).first()
            locked.set()
            release.wait(timeout=30)
        close_old_connections()
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=30)
        assert services.retry_message(Message.objects.get(pk=message.pk)) is False
    finally:
        release.set()
        holder.join(timeout=30)
    assert Message.objects.get(pk=message.pk).status == Status.FAILED
