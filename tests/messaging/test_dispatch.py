"""Dispatch: claiming, retries with backoff, fail-over, permanent errors, the sweeper."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from accounts.services import SYSTEM
from messaging import dispatch
from messaging.models import PENDING, DeliveryAttempt, Message, MessageEvent, Status
from messaging.services import Recipient, SendRequest, accept_messages
from messaging.status import apply_status
from providers.sandbox import SandboxAdapter
from tests.factories import make_account
from tests.messaging.conftest import queued_rows


def queue(organization, n=1, **request):
    """Accept n SMS messages without running their dispatch; return their ids."""
    recipients = [Recipient(to=f"+96650{1000000 + i}") for i in range(n)]
    result = accept_messages(
        organization, SendRequest(channel="sms", recipients=recipients, body="Hi", **request), actor=SYSTEM, bulk=n > 1
    )
    return result.ids


@pytest.fixture
def count_sends(monkeypatch):
    """Count the sandbox adapter's send calls per recipient (thread-safe)."""
    calls: Counter = Counter()
    lock = threading.Lock()
    original = SandboxAdapter.send

    def counting(self, account, message):
        with lock:
            calls[message.to] += 1
        return original(self, account, message)

    monkeypatch.setattr(SandboxAdapter, "send", counting)
    return calls


def test_an_accepted_send_records_the_attempt_and_the_provider_id(acme, sandbox):
    [pk] = queue(acme)
    assert dispatch.dispatch([pk]) == 1
    message = Message.objects.get(pk=pk)
    assert message.status == Status.SENT
    assert message.provider == "sandbox" and message.provider_message_id.startswith("SB")
    assert message.sender == "Acme"
    attempt = DeliveryAttempt.objects.get(message=message)
    assert attempt.outcome == "accepted" and attempt.provider_account == sandbox


def test_a_message_is_not_sent_twice_by_the_same_task_run_twice(acme, sandbox, count_sends):
    [pk] = queue(acme)
    dispatch.dispatch([pk])
    dispatch.dispatch([pk])
    assert sum(count_sends.values()) == 1


def test_a_retryable_error_puts_the_message_back_with_a_backoff_in_the_row(acme):
    make_account(acme, settings={"error_rate": 1.0}, messages_per_second=0, max_attempts=3)
    [pk] = queue(acme)
    before = timezone.now()
    dispatch.dispatch([pk])
    message = Message.objects.get(pk=pk)
    assert message.status == Status.QUEUED
    assert message.next_attempt_at > before
    assert message.error_code == "503"
    assert message.lease_expires_at is None
    # Not due yet: dispatching again does nothing.
    assert dispatch.dispatch([pk]) == 0
    assert DeliveryAttempt.objects.filter(message_id=pk, outcome="retryable").count() == 1


def test_retryable_errors_retry_then_fail_over_to_the_next_account(acme):
    flaky = make_account(
        acme, label="flaky", priority=1, settings={"error_rate": 1.0}, messages_per_second=0, max_attempts=2
    )
    backup = make_account(acme, label="backup", priority=2, messages_per_second=0)
    [pk] = queue(acme)
    dispatch.dispatch([pk])
    # The retry is due later; the sweeper finds it when it is due.
    Message.objects.filter(pk=pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    dispatch.dispatch([pk])  # second failure on `flaky`: fail over, due at once
    message = Message.objects.get(pk=pk)
    assert message.status == Status.QUEUED and message.tried_accounts == [flaky.pk]
    dispatch.dispatch([pk])
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert message.provider_account == backup
    outcomes = list(message.delivery_attempts.values_list("provider_account__label", "outcome"))
    assert outcomes == [("flaky", "retryable"), ("flaky", "retryable"), ("backup", "accepted")]


def test_once_every_account_has_had_its_tries_it_starts_again_later_within_the_time_budget(acme):
    only = make_account(acme, settings={"error_rate": 1.0}, messages_per_second=0, max_attempts=1)
    [pk] = queue(acme)
    for _ in range(4):  # more tries than the old limit of 3
        before = timezone.now()
        dispatch.dispatch([pk])
        message = Message.objects.get(pk=pk)
        assert message.status == Status.QUEUED and message.error_code == "503"
        assert message.next_attempt_at > before + timedelta(seconds=4) and message.tried_accounts == []
        Message.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
    assert message.provider_account == only
    assert DeliveryAttempt.objects.filter(message_id=pk, outcome="retryable").count() == 4


def test_it_fails_with_the_providers_error_once_the_time_budget_is_spent(acme, settings):
    settings.DISPATCH_RETRY_BUDGET_HOURS = 1
    make_account(acme, settings={"error_rate": 1.0}, messages_per_second=0, max_attempts=3)
    [pk] = queue(acme)
    Message.objects.filter(pk=pk).update(queued_at=timezone.now() - timedelta(minutes=59, seconds=55))
    dispatch.dispatch([pk])
    message = Message.objects.get(pk=pk)
    assert message.status == Status.FAILED
    assert message.error_code == "503"


def test_a_permanent_error_fails_at_once_with_the_providers_code(acme):
    make_account(acme, priority=1, settings={"permanent_error_rate": 1.0}, messages_per_second=0)
    make_account(acme, priority=2, messages_per_second=0)
    [pk] = queue(acme)
    dispatch.dispatch([pk])
    message = Message.objects.get(pk=pk)
    assert message.status == Status.FAILED
    assert message.error_code == "21211"
    assert "not a valid phone number" in message.error_message
    assert list(message.delivery_attempts.values_list("outcome", flat=True)) == ["permanent"]


def test_routing_skips_accounts_that_do_not_serve_the_numbers_country(acme):
    make_account(acme, label="uae only", priority=1, allowed_prefixes=["+971"], messages_per_second=0)
    make_account(acme, label="saudi", priority=2, allowed_prefixes=["+966"], messages_per_second=0)
    [pk] = queue(acme)
    dispatch.dispatch([pk])
    assert Message.objects.get(pk=pk).provider_account.label == "saudi"


def test_the_sweeper_releases_expired_leases_and_due_scheduled_messages(acme, sandbox):
    [stuck] = queue(acme)
    dispatch.claim([stuck])
    Message.objects.filter(pk=stuck).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    [scheduled] = queue(acme, scheduled_at=timezone.now() + timedelta(hours=1))
    assert Message.objects.get(pk=scheduled).status == Status.SCHEDULED
    [fresh] = queue(acme)

    found = dispatch.sweep(now=timezone.now() + timedelta(hours=1, seconds=1))
    assert found["expired_leases"] == 1
    assert found["scheduled"] == 1
    statuses = dict(Message.objects.filter(pk__in=[stuck, scheduled, fresh]).values_list("pk", "status"))
    # In embedded mode the published tasks ran at once; with Redis they wait for a worker.
    assert statuses[stuck] in (Status.QUEUED, Status.SENT)
    assert statuses[scheduled] in (Status.QUEUED, Status.SENT)


def test_the_sweeper_leaves_fresh_and_not_yet_due_messages_alone(acme, sandbox):
    [fresh] = queue(acme)
    [later] = queue(acme)
    Message.objects.filter(pk=later).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    found = dispatch.sweep()
    assert found == {"expired_leases": 0, "scheduled": 0, "queued": 0, "pending_updates_applied": 0}


def test_delivered_before_sent_ends_delivered(acme, sandbox):
    [pk] = queue(acme)
    apply_status(pk, Status.DELIVERED, source="webhook", dedup_key="d")
    apply_status(pk, Status.SENT, source="webhook", dedup_key="s")
    message = Message.objects.get(pk=pk)
    assert message.status == Status.DELIVERED
    assert list(message.events.values_list("status", "applied")) == [("delivered", True), ("sent", False)]


def test_a_repeated_update_is_recorded_once_and_a_late_one_leaves_the_status(acme, sandbox):
    [pk] = queue(acme)
    apply_status(pk, Status.READ, source="webhook", dedup_key="r")
    assert apply_status(pk, Status.READ, source="webhook", dedup_key="r") is None
    apply_status(pk, Status.FAILED, source="webhook", dedup_key="f", error_code="30003")
    message = Message.objects.get(pk=pk)
    assert message.status == Status.READ
    assert message.events.count() == 2
    assert message.delivered_at is not None and message.sent_at is not None


def test_rejected_and_canceled_messages_never_move(acme, sandbox):
    [pk] = queue(acme, scheduled_at=timezone.now() + timedelta(hours=1))
    apply_status(pk, Status.CANCELED, source="api")
    apply_status(pk, Status.DELIVERED, source="webhook")
    assert Message.objects.get(pk=pk).status == Status.CANCELED


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_the_same_batch_send_each_message_once(acme, sandbox, count_sends):
    ids = queued_rows(acme, 120)
    errors = []

    def worker():
        try:
            for start in range(0, len(ids), 10):
                dispatch.dispatch(ids[start : start + 10])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(count_sends) == 120
    assert set(count_sends.values()) == {1}
    assert not Message.objects.filter(pk__in=ids, status__in=PENDING).exists()
    assert DeliveryAttempt.objects.filter(message_id__in=ids).count() == 120


def test_the_sweeper_applies_an_update_kept_for_an_id_written_later(acme, sandbox):
    from messaging.models import PendingStatusUpdate
    from providers.base import StatusUpdate
    from webhooks.services import update_to_json

    [pk] = queue(acme)
    update = StatusUpdate(
        provider_message_id="SBlate", status=Status.DELIVERED, raw_status="delivered", dedup_key="SBlate:delivered"
    )
    # Kept as the webhook intake keeps an update that arrives before its message's id is written.
    PendingStatusUpdate.objects.create(
        organization=acme, provider="sandbox", provider_message_id="SBlate", payload=update_to_json(update)
    )
    # The id is written without the dispatcher's own look-up (as when both raced).
    Message.objects.filter(pk=pk).update(provider="sandbox", provider_message_id="SBlate", status=Status.SENT)
    assert dispatch.sweep()["pending_updates_applied"] == 1
    assert Message.objects.get(pk=pk).status == Status.DELIVERED


def test_a_pause_after_acceptance_holds_the_send_and_an_opt_out_stops_it(acme, sandbox, count_sends):
    """An opt-out rejects; a pause (privacy rights) holds the message, untouched, until the resume."""
    from messaging.services import add_opt_out
    from retention.services import resume_organization

    first, second = queue(acme, n=2)
    add_opt_out(acme, "sms", Message.objects.get(pk=first).to)
    dispatch.dispatch([first])
    acme.paused_at = timezone.now()
    acme.save()
    dispatch.dispatch([second])
    assert sum(count_sends.values()) == 0
    opted_out = Message.objects.get(pk=first)
    assert (opted_out.status, opted_out.error_code) == (Status.REJECTED, "opted_out")
    held = Message.objects.get(pk=second)
    assert (held.status, held.error_code, held.attempts) == (Status.QUEUED, "", 0)
    assert not held.events.exists()

    assert resume_organization(acme)
    dispatch.dispatch([second])
    assert Message.objects.get(pk=second).status == Status.SENT
    assert count_sends == Counter({held.to: 1})


def test_releasing_due_scheduled_messages_costs_the_same_queries_for_5_and_50(acme, sandbox):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.status import release_scheduled

    def release(n):
        ids = queue(acme, n=n, scheduled_at=timezone.now() + timedelta(hours=1))
        with CaptureQueriesContext(connection) as queries:
            assert sorted(release_scheduled(timezone.now() + timedelta(hours=2))) == sorted(ids)
        assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.QUEUED}
        assert MessageEvent.objects.filter(message_id__in=ids, status=Status.QUEUED, applied=True).count() == n
        return len(queries)

    assert release(5) == release(50)
