"""The retention purge: what goes, what stays, legal holds, analytics, dry runs and the time budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import AccessLog, ApiKey, ApiKeyUse
from messaging import analytics
from messaging.models import DailyStats, IdempotencyRecord, Message, PendingStatusUpdate
from retention import purge
from retention.models import DataExport, PurgeRun
from tests.factories import make_account, make_message
from tests.retention.conftest import NOW, OLD, YOUNG, exists, file_exists, make_logs

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(acme):
    return make_account(acme)


def test_rows_older_than_retention_go_and_younger_ones_stay(clock, acme, account, django_capture_on_commit_callbacks):
    old = make_logs(acme, account, NOW - OLD, tag="old")
    young = make_logs(acme, account, NOW - YOUNG, tag="young")
    old_file, young_file = old["media"].file.name, young["media"].file.name

    with django_capture_on_commit_callbacks(execute=True):
        run = purge.run(trigger="test")

    for name, row in old.items():
        assert not exists(row), f"old {name} was kept"
    for name, row in young.items():
        assert exists(row), f"young {name} was deleted"
    assert not file_exists(old_file)
    assert file_exists(young_file)
    assert run.completed is True and run.dry_run is False
    assert run.finished_at is not None and run.duration_seconds is not None
    assert run.deleted["messaging.Message"] == 1
    assert run.deleted["messaging.MessageEvent"] == 1
    assert run.deleted["messaging.DeliveryAttempt"] == 1
    assert run.deleted["webhooks.CallbackDelivery"] == 2
    assert run.deleted["webhooks.CallbackAttempt"] == 1
    assert run.deleted["messaging.InboundMessage"] == 1
    assert run.deleted["webhooks.WebhookEvent"] == 1
    assert run.deleted["messaging.MediaFile"] == 1
    assert run.cutoffs == {"default": (NOW - timedelta(days=90)).isoformat()}
    assert run.cutoff == NOW - timedelta(days=90)


def test_tables_with_their_own_clock(clock, settings, acme, owner):
    settings.ACCESS_LOG_RETENTION_DAYS = 365
    old_key = IdempotencyRecord.objects.create(
        organization=acme, key="a", endpoint="send", request_hash="x", created_at=NOW - timedelta(hours=25)
    )
    new_key = IdempotencyRecord.objects.create(
        organization=acme, key="b", endpoint="send", request_hash="x", created_at=NOW - timedelta(hours=23)
    )
    old_pending = PendingStatusUpdate.objects.create(
        provider="twilio", provider_message_id="SM1", payload={}, received_at=NOW - OLD
    )
    new_pending = PendingStatusUpdate.objects.create(
        provider="twilio", provider_message_id="SM2", payload={}, received_at=NOW - YOUNG
    )
    old_log = AccessLog.objects.create(organization=acme, action="login", ip="10.0.0.1", at=NOW - timedelta(days=366))
    old_anonymous_log = AccessLog.objects.create(action="login_failed", at=NOW - timedelta(days=366))
    new_log = AccessLog.objects.create(organization=acme, action="login", ip="10.0.0.1", at=NOW - timedelta(days=364))
    key = ApiKey.objects.create(
        organization=acme,
        name="k",
        prefix="jood_x",
        hashed_key="h" * 64,
        last_used_at=NOW - timedelta(days=400),
        last_used_ip="10.0.0.2",
    )

    uses = {
        age: ApiKeyUse.objects.create(
            api_key=key,
            organization=acme,
            hour=NOW - timedelta(days=age),
            ip="10.0.0.3",
            first_seen=NOW - timedelta(days=age),
            last_seen=NOW - timedelta(days=age),
            count=1,
        )
        for age in (366, 364)
    }

    run = purge.run()

    assert not exists(uses[366]) and exists(uses[364])
    assert run.deleted["accounts.ApiKeyUse"] == 1
    assert not exists(old_key) and exists(new_key)
    assert not exists(old_pending) and exists(new_pending)
    assert not exists(old_log) and not exists(old_anonymous_log) and exists(new_log)
    key.refresh_from_db()
    assert key.last_used_ip is None and key.last_used_at is not None
    assert run.deleted["messaging.IdempotencyRecord"] == 1
    assert run.deleted["messaging.PendingStatusUpdate"] == 1
    assert run.deleted["accounts.AccessLog"] == 2
    assert run.deleted["accounts.ApiKey.last_used_ip"] == 1


def test_expired_and_downloaded_export_files_go(clock, acme, django_capture_on_commit_callbacks):
    def export(state, expires_at):
        row = DataExport.objects.create(organization=acme, state=state, expires_at=expires_at)
        name = default_storage.save(f"exports/{acme.pk}/{row.public_id}.zip", ContentFile(b"zip"))
        DataExport.objects.filter(pk=row.pk).update(file=name)
        row.refresh_from_db()
        return row, name

    expired, expired_name = export(DataExport.State.READY, NOW - timedelta(minutes=1))
    downloaded, downloaded_name = export(DataExport.State.DOWNLOADED, NOW + timedelta(hours=1))
    ready, ready_name = export(DataExport.State.READY, NOW + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        run = purge.run()

    expired.refresh_from_db()
    assert expired.state == DataExport.State.EXPIRED and not expired.file
    assert not file_exists(expired_name) and not file_exists(downloaded_name)
    assert file_exists(ready_name)
    assert run.deleted["retention.DataExport.file"] == 2


def test_a_legal_hold_keeps_everything_of_its_organization(clock, acme, globex, account):
    acme.legal_hold_until = NOW.date()
    acme.legal_hold_reason = "Case 42"
    acme.save()
    held = make_logs(acme, account, NOW - timedelta(days=400), tag="held")
    held_log = AccessLog.objects.create(organization=acme, action="login", at=NOW - timedelta(days=800))
    other = make_logs(globex, make_account(globex), NOW - OLD, tag="other")

    run = purge.run()

    for name, row in held.items():
        assert exists(row), f"held {name} was deleted"
    assert exists(held_log)
    assert not exists(other["message"])
    assert run.cutoffs[str(acme.pk)] == f"legal hold until {NOW.date()}"


def test_a_hold_that_ended_yesterday_no_longer_keeps_rows(clock, acme, account):
    acme.legal_hold_until = NOW.date() - timedelta(days=1)
    acme.save()
    old = make_message(acme, NOW - OLD, status="delivered")

    purge.run()

    assert not exists(old)


def test_an_organization_with_a_longer_retention_keeps_rows_longer(clock, acme, globex):
    acme.retention_days = 180
    acme.save()
    kept = make_message(acme, NOW - timedelta(days=179), status="delivered")
    gone = make_message(acme, NOW - timedelta(days=181), status="delivered")
    other = make_message(globex, NOW - timedelta(days=100), status="delivered")

    run = purge.run()

    assert exists(kept) and not exists(gone) and not exists(other)
    assert run.cutoffs[str(acme.pk)] == (NOW - timedelta(days=180)).isoformat()


def test_analytics_totals_are_the_same_before_and_after(clock, acme):
    for days_ago in (95, 94, 94, 91, 90, 89, 10):
        for status in ("delivered", "failed", "read"):
            make_message(acme, NOW - timedelta(days=days_ago, hours=1), status=status, segments=2, provider="sandbox")
    # The day the cut-off falls in is cut mid-day: it must keep its full counts.
    make_message(acme, NOW - timedelta(days=90, hours=-2), status="sent", provider="sandbox")
    start, end = (NOW - timedelta(days=100)).date(), NOW.date()
    before = analytics.counts(acme, start, end)

    run = purge.run()
    assert Message.objects.filter(organization=acme, created_at__lt=NOW - timedelta(days=90)).count() == 0
    assert run.rolled_up_days >= 4

    after = analytics.counts(acme, start, end)
    assert sorted(map(_key, after)) == sorted(map(_key, before))

    # A second run the next day cuts the rest of that day; its counts do not shrink.
    purge.run(now=NOW + timedelta(days=1))
    assert sorted(map(_key, analytics.counts(acme, start, end))) == sorted(map(_key, before))
    assert DailyStats.objects.filter(organization=acme).exists()


def _key(row: dict) -> tuple:
    return (row["day"], row["channel"], row["provider"], row["status"], row["count"], row["segments"])


def test_a_dry_run_deletes_nothing_and_reports_counts(clock, acme, account):
    old = make_logs(acme, account, NOW - OLD, tag="old")
    make_logs(acme, account, NOW - YOUNG, tag="young")

    run = purge.run(dry_run=True)

    for name, row in old.items():
        assert exists(row), f"dry run deleted {name}"
    assert not DailyStats.objects.exists()
    assert run.dry_run is True and run.completed is True
    assert run.deleted["messaging.Message"] == 1
    assert run.deleted["messaging.MessageEvent"] == 1
    assert run.deleted["webhooks.CallbackDelivery"] == 2
    assert run.deleted["messaging.MediaFile"] == 1
    assert run.rolled_up_days == 1


def test_the_time_budget_stops_a_run_and_the_next_one_finishes(clock, acme):
    for i in range(25):
        make_message(acme, NOW - OLD - timedelta(minutes=i), status="delivered")
    kept = make_message(acme, NOW - YOUNG, status="delivered")
    ticks = iter(range(10_000))

    # Each look at the clock takes a "second"; a budget of 4 s allows a few batches of 5.
    first = purge.run(batch_size=5, budget=4, clock=lambda: float(next(ticks)))

    assert first.completed is False
    left = Message.objects.filter(created_at__lt=NOW - timedelta(days=90)).count()
    assert 0 < left < 25
    assert first.deleted["messaging.Message"] == 25 - left

    second = purge.run(batch_size=5)

    assert second.completed is True
    assert second.deleted["messaging.Message"] == left
    assert exists(kept)
    assert list(PurgeRun.objects.values_list("completed", flat=True)) == [True, False]


def test_a_run_of_one_organization_leaves_the_others(clock, acme, globex):
    mine = make_message(acme, NOW - OLD, status="delivered")
    theirs = make_message(globex, NOW - OLD, status="delivered")
    pending = PendingStatusUpdate.objects.create(
        provider="x", provider_message_id="1", payload={}, received_at=NOW - OLD
    )

    run = purge.run(organization=acme)

    assert not exists(mine) and exists(theirs) and exists(pending)
    assert run.organization == acme
    assert run.cutoff is None and run.cutoffs == {str(acme.pk): (NOW - timedelta(days=90)).isoformat()}


def test_a_failing_run_records_its_error(clock, acme, monkeypatch):
    make_message(acme, NOW - OLD, status="delivered")

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(purge, "rollup_day", boom)
    with pytest.raises(RuntimeError):
        purge.run()
    run = PurgeRun.objects.get()
    assert run.completed is False and "disk on fire" in run.error


def test_the_celery_task_runs_a_purge(clock, acme):
    from retention.tasks import purge_message_logs

    make_message(acme, NOW - OLD, status="delivered")
    result = purge_message_logs.apply().get()
    assert result["completed"] is True and result["deleted"] >= 1
    assert PurgeRun.objects.get().trigger == "beat"
