"""The batch status function matches the single one: every pair of reports from every status,
duplicates, and any interleaving of messages within one batch.

The oracle is the per-message `apply_status` as it was before the batch function (kept below
verbatim as `reference_apply_status`): `apply_status` is now a batch of one, so comparing the
two new functions with each other alone would prove little."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import STATUS_TIMESTAMP, Message, MessageEvent, Status
from messaging.signals import message_status_changed
from messaging.status import StatusChange, apply_status, apply_statuses, can_move

BASE = timezone.now().replace(microsecond=0) - timedelta(days=1)
STAMPS = ("queued_at", "sent_at", "delivered_at", "read_at", "failed_at", "canceled_at")
# One status of each rank, and a terminal one.
STARTS = [Status.SCHEDULED, Status.QUEUED, Status.SENDING, Status.SENT, Status.FAILED, Status.DELIVERED]
STARTS += [Status.REJECTED]
# Each report: (status, restart). None records an event only; a restart is an operator's retry.
REPORTS = [(status, False) for status in Status] + [(None, False), (Status.QUEUED, True)]


def make_messages(organization, starts: list[str]) -> list[int]:
    rows = Message.objects.bulk_create(
        Message(
            organization=organization,
            channel="sms",
            to=f"+1415555{i:04d}",
            body="Hi",
            status=start,
            error_code="30003" if start in (Status.FAILED, Status.UNDELIVERED) else "",
            sent_at=BASE if start in (Status.SENT, Status.DELIVERED, Status.READ, Status.FAILED) else None,
            next_attempt_at=BASE,
            attempts_on_account=2,
            tried_accounts=[7],
        )
        for i, start in enumerate(starts)
    )
    return [m.pk for m in rows]


def change(pk: int, report: tuple[str | None, bool], n: int, **extra) -> StatusChange:
    status, restart = report
    failing = status in (Status.FAILED, Status.UNDELIVERED, Status.REJECTED)
    return StatusChange(
        message_id=pk,
        status=status,
        source="operator" if restart else "webhook",
        raw_status=f"raw-{status}-{n}",
        occurred_at=BASE + timedelta(seconds=10 + n),
        error_code="30005" if failing else "",
        error_message="Unknown destination" if failing else "",
        restart=restart,
        **extra,
    )


def single(c: StatusChange, function=apply_status) -> MessageEvent | None:
    return function(
        c.message_id,
        c.status,
        source=c.source,
        raw_status=c.raw_status,
        occurred_at=c.occurred_at,
        error_code=c.error_code,
        error_message=c.error_message,
        dedup_key=c.dedup_key,
        detail=c.detail,
        restart=c.restart,
    )


def snapshot(pks: list[int]) -> list[tuple]:
    fields = ("status", "error_code", "error_message", "next_attempt_at", "attempts_on_account", "tried_accounts")
    rows = Message.objects.in_bulk(pks)
    events: dict[int, list] = {pk: [] for pk in pks}
    for e in MessageEvent.objects.filter(message_id__in=pks).order_by("id"):
        events[e.message_id].append(
            (e.status, e.raw_status, e.source, e.applied, e.provider_timestamp, e.error_code, e.dedup_key)
        )
    return [(tuple(getattr(rows[pk], f) for f in fields + STAMPS), tuple(events[pk])) for pk in pks]


def test_every_pair_of_reports_from_every_status_ends_as_with_the_single_function(acme):
    combos = [(start, a, b) for start in STARTS for a in REPORTS for b in REPORTS]
    starts = [start for start, _, _ in combos]
    one_by_one = make_messages(acme, starts)
    batched = make_messages(acme, starts)

    for pk, (_, a, b) in zip(one_by_one, combos, strict=True):
        single(change(pk, a, 0), reference_apply_status)
        single(change(pk, b, 1), reference_apply_status)

    # One batch for every message, interleaved at random but in order for each message.
    firsts = [change(pk, a, 0) for pk, (_, a, _) in zip(batched, combos, strict=True)]
    seconds = [change(pk, b, 1) for pk, (_, _, b) in zip(batched, combos, strict=True)]
    random.Random(15).shuffle(firsts)
    random.Random(16).shuffle(seconds)
    results = apply_statuses(firsts + seconds)

    assert all(isinstance(r, MessageEvent) and r.pk for r in results)
    assert [r.message_id for r in results] == [c.message_id for c in firsts + seconds]
    assert snapshot(batched) == snapshot(one_by_one)


@pytest.mark.parametrize("report", REPORTS)
def test_the_single_function_is_the_reference_on_a_message_object(acme, report):
    reference, new = (Message.objects.get(pk=pk) for pk in make_messages(acme, [Status.SENDING] * 2))
    apply_status(new, report[0], source="webhook", occurred_at=BASE, restart=report[1])
    reference_apply_status(reference, report[0], source="webhook", occurred_at=BASE, restart=report[1])
    fields = ("status", "error_code", "error_message") + STAMPS[1:5]
    assert [getattr(new, f) for f in fields] == [getattr(reference, f) for f in fields]


def test_the_order_of_reports_for_one_message_in_a_batch_is_the_order_applied(acme):
    forward, backward = make_messages(acme, [Status.SENDING, Status.SENDING])
    apply_statuses([change(forward, (Status.SENT, False), 0), change(forward, (Status.DELIVERED, False), 1)])
    apply_statuses([change(backward, (Status.DELIVERED, False), 0), change(backward, (Status.SENT, False), 1)])
    assert [e.applied for e in MessageEvent.objects.filter(message_id=forward).order_by("id")] == [True, True]
    assert [e.applied for e in MessageEvent.objects.filter(message_id=backward).order_by("id")] == [True, False]
    assert Message.objects.get(pk=forward).status == Message.objects.get(pk=backward).status == Status.DELIVERED


@pytest.mark.parametrize("report", REPORTS)
def test_duplicates_in_a_batch_and_in_the_database_are_recorded_once(acme, report):
    one_by_one, batched, other = make_messages(acme, [Status.SENDING] * 3)
    ref = reference_apply_status
    singles = [single(change(one_by_one, report, n, dedup_key="k"), ref) for n in range(2)]
    singles.append(single(change(one_by_one, (Status.DELIVERED, False), 2, dedup_key="k2"), ref))
    singles.append(single(change(one_by_one, (Status.DELIVERED, False), 3, dedup_key="k2"), ref))

    first = apply_statuses([change(batched, report, 0, dedup_key="k"), change(batched, report, 1, dedup_key="k")])
    second = apply_statuses(
        [
            change(batched, (Status.DELIVERED, False), 2, dedup_key="k2"),
            # The same key for another message is not a duplicate.
            change(other, (Status.SENT, False), 0, dedup_key="k2"),
            change(batched, (Status.DELIVERED, False), 3, dedup_key="k2"),
        ]
    )
    assert [e is None for e in singles] == [False, True, False, True]
    assert [e is None for e in first + second] == [False, True, False, False, True]
    assert snapshot([batched]) == snapshot([one_by_one])
    # Seen before in the database: nothing recorded, nothing moved.
    assert apply_statuses([change(batched, (Status.READ, False), 4, dedup_key="k")]) == [None]
    assert snapshot([batched]) == snapshot([one_by_one])


def test_the_signal_is_sent_after_commit_for_each_change_that_moved_a_message(acme, django_capture_on_commit_callbacks):
    a, b = make_messages(acme, [Status.SENDING, Status.SENT])
    seen = []

    def receiver(sender, message, old_status, new_status, event, **kwargs):
        seen.append((message.pk, old_status, new_status, event.pk, message.status))

    message_status_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            events = apply_statuses(
                [
                    change(a, (Status.SENT, False), 0),
                    change(b, (Status.SENT, False), 0),  # a repeat: no signal
                    change(a, (Status.DELIVERED, False), 1),
                    change(b, (None, False), 1),  # an event only: no signal
                ]
            )
            assert seen == []
    finally:
        message_status_changed.disconnect(receiver)
    assert seen == [
        (a, Status.SENDING, Status.SENT, events[0].pk, Status.DELIVERED),
        (a, Status.SENT, Status.DELIVERED, events[2].pk, Status.DELIVERED),
    ]


def test_a_batch_costs_the_same_queries_for_5_and_50_messages(acme):
    def count(n: int) -> int:
        pks = make_messages(acme, [Status.SENDING] * n)
        changes = [change(pk, (Status.SENT, False), 0, dedup_key=f"s{pk}") for pk in pks]
        with CaptureQueriesContext(connection) as queries:
            apply_statuses(changes)
        assert Message.objects.filter(pk__in=pks, status=Status.SENT).count() == n
        return len(queries)

    assert count(5) == count(50)


def test_a_missing_message_is_skipped_in_a_batch_and_raises_alone(acme):
    (pk,) = make_messages(acme, [Status.SENDING])
    results = apply_statuses([change(pk + 1000, (Status.SENT, False), 0), change(pk, (Status.SENT, False), 0)])
    assert results[0] is None and results[1] is not None
    with pytest.raises(Message.DoesNotExist):
        apply_status(pk + 1000, Status.SENT, source="webhook")
    assert apply_statuses([]) == []


# The per-message function before the batch one (commit 26b9c7d), verbatim: the oracle.
def reference_apply_status(
    message: Message | int,
    status: str | None,
    *,
    source: str,
    raw_status: str = "",
    occurred_at: datetime | None = None,
    error_code: str = "",
    error_message: str = "",
    dedup_key: str = "",
    detail: dict | None = None,
    restart: bool = False,
) -> MessageEvent | None:
    """Record a status report for a message and move it forward if it is ahead.

    Returns the event, or None if the same report (dedup_key) was applied
    before: providers repeat callbacks, so this is idempotent. `restart`
    lets an operator's retry send a failed message again (a new attempt).
    """
    with transaction.atomic():
        pk = message.pk if isinstance(message, Message) else message
        locked = Message.objects.select_for_update().get(pk=pk)
        if dedup_key and MessageEvent.objects.filter(message=locked, dedup_key=dedup_key).exists():
            return None
        old = locked.status
        moves = bool(status) and (restart or can_move(old, status))
        event = MessageEvent.objects.create(
            message=locked,
            status=status or "",
            raw_status=raw_status[:64],
            source=source,
            applied=moves,
            provider_timestamp=occurred_at,
            error_code=str(error_code)[:64],
            error_message=str(error_message)[:500],
            dedup_key=dedup_key[:200],
            detail=detail or {},
        )
        if moves:
            fields = ["status", "updated_at"]
            locked.status = status
            stamp = STATUS_TIMESTAMP.get(status)
            if stamp and (restart or getattr(locked, stamp) is None):
                setattr(locked, stamp, occurred_at or event.received_at)
                fields.append(stamp)
            # Delivery implies sending; a late "sent" never arrives for some carriers.
            if status in (Status.DELIVERED, Status.READ) and locked.sent_at is None:
                locked.sent_at = occurred_at or event.received_at
                fields.append("sent_at")
            if status == Status.READ and locked.delivered_at is None:
                locked.delivered_at = occurred_at or event.received_at
                fields.append("delivered_at")
            if error_code or error_message or status in (Status.DELIVERED, Status.READ):
                # A later success clears the error of an earlier failure report.
                locked.error_code = str(error_code)[:64]
                locked.error_message = str(error_message)[:500]
                fields += ["error_code", "error_message"]
            if restart:
                locked.lease_expires_at = None
                locked.next_attempt_at = None
                locked.attempts_on_account = 0
                locked.tried_accounts = []
                locked.error_code = ""
                locked.error_message = ""
                fields += [
                    "lease_expires_at",
                    "next_attempt_at",
                    "attempts_on_account",
                    "tried_accounts",
                    "error_code",
                    "error_message",
                ]
            locked.save(update_fields=sorted(set(fields)))
            transaction.on_commit(
                lambda: message_status_changed.send(
                    sender=Message, message=locked, old_status=old, new_status=status, event=event
                )
            )
        if isinstance(message, Message):
            # Keep the caller's object in step with the row.
            for field in ("status", "error_code", "error_message", "sent_at", "delivered_at", "read_at", "failed_at"):
                setattr(message, field, getattr(locked, field))
        return event
