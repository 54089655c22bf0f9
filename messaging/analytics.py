"""Daily counts: rolled up into DailyStats (which survive the purge) and read back with live rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from messaging.models import DailyStats, Message


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), tz)
    return start, start + timedelta(days=1)


def _live_counts(organization_ids, start: datetime, end: datetime):
    qs = Message.objects.filter(created_at__gte=start, created_at__lt=end)
    if organization_ids is not None:
        qs = qs.filter(organization_id__in=organization_ids)
    return (
        qs.annotate(day=TruncDate("created_at"))
        .values("organization_id", "day", "channel", "provider", "status")
        .annotate(count=Count("id"), segments=Sum("segments"))
        .order_by()
    )


@transaction.atomic
def rollup_day(day: date, organization_ids: list[int] | None = None) -> int:
    """Recompute DailyStats of one day from the message rows (idempotent). Returns rows written."""
    start, end = _day_bounds(day)
    rows = list(_live_counts(organization_ids, start, end))
    stale = DailyStats.objects.filter(day=day)
    if organization_ids is not None:
        stale = stale.filter(organization_id__in=organization_ids)
    live_totals: dict[int, int] = {}
    for r in rows:
        live_totals[r["organization_id"]] = live_totals.get(r["organization_id"], 0) + r["count"]
    stored_totals = dict(
        stale.values("organization_id").annotate(total=Sum("count")).values_list("organization_id", "total")
    )
    # Only replace a day that still has all its rows. The purge cuts at a
    # moment, not at midnight, so a day can be partly purged: its stored
    # counts are then the complete ones, and a purged day keeps its stats.
    # (Messages are never deleted one by one otherwise; statuses only change.)
    replace = {org for org, total in live_totals.items() if total >= stored_totals.get(org, 0)}
    stale.filter(organization_id__in=replace).delete()
    written = [r for r in rows if r["organization_id"] in replace]
    DailyStats.objects.bulk_create(
        DailyStats(
            organization_id=r["organization_id"],
            day=day,
            channel=r["channel"],
            provider=r["provider"] or "",
            status=r["status"],
            count=r["count"],
            segments=r["segments"] or 0,
        )
        for r in written
    )
    return len(written)


def rollup_recent_days(days: int = 3) -> int:
    """Roll up the last few days: late delivery reports still change them."""
    today = timezone.localdate()
    return sum(rollup_day(today - timedelta(days=n)) for n in range(1, days + 1))


def counts(organization, start: date, end: date) -> list[dict]:
    """Counts by day, channel, provider and status from start to end (inclusive).

    Days that have been rolled up come from DailyStats (so they outlive the
    purge); the others, today included, from the message rows.
    """
    rolled = list(
        DailyStats.objects.filter(organization=organization, day__gte=start, day__lte=end).values(
            "day", "channel", "provider", "status", "count", "segments"
        )
    )
    rolled_days = {r["day"] for r in rolled}
    range_start, _ = _day_bounds(start)
    _, range_end = _day_bounds(end)
    live = [
        {k: r[k] for k in ("day", "channel", "provider", "status", "count", "segments")}
        for r in _live_counts([organization.pk], range_start, range_end)
        if r["day"] not in rolled_days
    ]
    rows = rolled + live
    for r in rows:
        r["segments"] = r["segments"] or 0
    return sorted(rows, key=lambda r: (r["day"], r["channel"], r["provider"], r["status"]))
