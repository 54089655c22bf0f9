"""Daily counts: rolled up into DailyStats (which survive the purge) and read back with live rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Substr, TruncDate
from django.utils import timezone

from messaging.models import DailyStats, Message
from messaging.spend import calling_code


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), tz)
    return start, start + timedelta(days=1)


# Upper bounds (seconds) of the time-to-delivered histogram; the last bucket is open.
DELIVERY_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
OPEN_BUCKET = "inf"
# What a DailyStats row is keyed by (besides the organization and the day).
KEY = ("channel", "provider", "provider_account_id", "country", "status", "error_code", "price_currency")


def _bucket_names() -> list[str]:
    return [str(b) for b in DELIVERY_BUCKETS] + [OPEN_BUCKET]


def _live_counts(organization_ids, start: datetime, end: datetime) -> list[dict]:
    """Message rows grouped as DailyStats rows are, with the delivery-time histogram, in one query."""
    qs = Message.objects.filter(created_at__gte=start, created_at__lt=end)
    if organization_ids is not None:
        qs = qs.filter(organization_id__in=organization_ids)
    took = ExpressionWrapper(F("delivered_at") - F("created_at"), output_field=DurationField())
    buckets = {}
    lower = None
    for upper in DELIVERY_BUCKETS:
        condition = Q(delivered_at__isnull=False, took__lte=timedelta(seconds=upper))
        if lower is not None:
            condition &= Q(took__gt=timedelta(seconds=lower))
        buckets[f"b_{upper}"] = Count("id", filter=condition)
        lower = upper
    buckets[f"b_{OPEN_BUCKET}"] = Count("id", filter=Q(delivered_at__isnull=False, took__gt=timedelta(seconds=lower)))
    rows = (
        qs.alias(took=took)
        .annotate(day=TruncDate("created_at"), prefix=Substr("to", 1, 4))
        .values(
            "organization_id",
            "day",
            "channel",
            "provider",
            "provider_account_id",
            "prefix",
            "status",
            "error_code",
            "price_currency",
        )
        .annotate(count=Count("id"), segments=Sum("segments"), spent=Sum("price"), priced=Count("price"), **buckets)
        .order_by()
    )
    # The calling code is one to three digits: the first four characters of
    # E.164 group in SQL and fold here (few groups, whatever the row count).
    merged: dict[tuple, dict] = {}
    for r in rows:
        country = calling_code(r["prefix"] or "")
        key = (
            r["organization_id"],
            r["day"],
            r["channel"],
            r["provider"] or "",
            r["provider_account_id"],
            country,
            r["status"],
            r["error_code"] or "",
            r["price_currency"] or "",
        )
        histogram = {name: r[f"b_{name}"] for name in _bucket_names() if r[f"b_{name}"]}
        row = merged.get(key)
        if row is None:
            merged[key] = {
                "organization_id": key[0],
                "day": key[1],
                **dict(zip(KEY, key[2:], strict=True)),
                "count": r["count"],
                "segments": r["segments"] or 0,
                "price": r["spent"] or Decimal(0),
                "priced": r["priced"],
                "delivery_seconds": histogram,
            }
        else:
            row["count"] += r["count"]
            row["segments"] += r["segments"] or 0
            row["price"] += r["spent"] or Decimal(0)
            row["priced"] += r["priced"]
            row["delivery_seconds"] = _merge(row["delivery_seconds"], histogram)
    return list(merged.values())


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for name, n in b.items():
        out[name] = out.get(name, 0) + n
    return out


@transaction.atomic
def rollup_day(day: date, organization_ids: list[int] | None = None) -> int:
    """Recompute DailyStats of one day from the message rows (idempotent). Returns rows written."""
    start, end = _day_bounds(day)
    rows = _live_counts(organization_ids, start, end)
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
            provider=r["provider"],
            provider_account_id=r["provider_account_id"],
            country=r["country"],
            status=r["status"],
            error_code=r["error_code"][:64],
            count=r["count"],
            segments=r["segments"],
            price=r["price"],
            price_currency=r["price_currency"],
            priced=r["priced"],
            delivery_seconds=r["delivery_seconds"],
        )
        for r in written
    )
    return len(written)


def rollup_recent_days(days: int = 3) -> int:
    """Roll up the last few days: late delivery reports still change them."""
    today = timezone.localdate()
    return sum(rollup_day(today - timedelta(days=n)) for n in range(1, days + 1))


STAT_FIELDS = ("day", *KEY, "count", "segments", "price", "priced", "delivery_seconds")


def detailed_rows(organization, start: date, end: date) -> list[dict]:
    """DailyStats-shaped rows from start to end (inclusive): rolled-up days from DailyStats, the rest live.

    Days that have been rolled up come from DailyStats (so they outlive the
    purge); the others, today included, from the message rows.
    """
    rolled = list(
        DailyStats.objects.filter(organization=organization, day__gte=start, day__lte=end).values(*STAT_FIELDS)
    )
    rolled_days = {r["day"] for r in rolled}
    range_start, _ = _day_bounds(start)
    _, range_end = _day_bounds(end)
    live = [
        {k: r[k] for k in STAT_FIELDS}
        for r in _live_counts([organization.pk], range_start, range_end)
        if r["day"] not in rolled_days and start <= r["day"] <= end
    ]
    return rolled + live


def counts(organization, start: date, end: date) -> list[dict]:
    """Counts by day, channel, provider and status from start to end (inclusive)."""
    totals: dict[tuple, dict] = {}
    for r in detailed_rows(organization, start, end):
        key = (r["day"], r["channel"], r["provider"] or "", r["status"])
        row = totals.setdefault(
            key, {"day": key[0], "channel": key[1], "provider": key[2], "status": key[3], "count": 0, "segments": 0}
        )
        row["count"] += r["count"]
        row["segments"] += r["segments"] or 0
    return sorted(totals.values(), key=lambda r: (r["day"], r["channel"], r["provider"], r["status"]))


# --- the analytics page and API ---------------------------------------------------------------------
DELIVERED = {"delivered", "read"}
NOT_DELIVERED = {"undelivered", "failed"}  # sent to a provider and lost; `rejected` never left us
FAILURES = NOT_DELIVERED | {"rejected"}


def median_seconds(histogram: dict) -> float | None:
    """Return the median of a time-to-delivered histogram, interpolated within its bucket; None if empty."""
    counts = [(name, histogram.get(name, 0)) for name in _bucket_names()]
    total = sum(n for _, n in counts)
    if not total:
        return None
    target, seen, lower = total / 2, 0, 0.0
    for name, n in counts:
        if name == OPEN_BUCKET:
            return float(lower)
        upper = float(name)
        if n and seen + n >= target:
            return round(lower + (upper - lower) * (target - seen) / n, 1)
        seen += n
        lower = upper
    return float(lower)


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


class _Tally:
    """Sums of a group of rows: counts by outcome, segments, spend per currency, the delivery histogram."""

    def __init__(self) -> None:
        self.total = self.delivered = self.read = self.failed = self.not_delivered = self.segments = 0
        self.whatsapp_delivered = self.whatsapp_read = 0
        self.spend: dict[str, Decimal] = {}
        self.histogram: dict[str, int] = {}

    def add(self, r: dict) -> None:
        n = r["count"]
        self.total += n
        if r["channel"] == "sms":  # what SMS providers bill by; a WhatsApp message has no segments
            self.segments += r["segments"] or 0
        if r["status"] in DELIVERED:
            self.delivered += n
            if r["channel"] == "whatsapp":
                self.whatsapp_delivered += n
        if r["status"] == "read":
            self.read += n
            if r["channel"] == "whatsapp":
                self.whatsapp_read += n
        if r["status"] in FAILURES:
            self.failed += n
        if r["status"] in NOT_DELIVERED:
            self.not_delivered += n
        if r["priced"]:
            currency = r["price_currency"] or "?"
            self.spend[currency] = self.spend.get(currency, Decimal(0)) + Decimal(r["price"])
        self.histogram = _merge(self.histogram, r["delivery_seconds"] or {})

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "delivered": self.delivered,
            "read": self.read,
            "failed": self.failed,
            "segments": self.segments,
            # Delivered among the messages a provider gave a final answer for.
            "delivery_rate": _rate(self.delivered, self.delivered + self.not_delivered),
            # SMS has no read receipts: read among delivered WhatsApp messages.
            "read_rate": _rate(self.whatsapp_read, self.whatsapp_delivered),
            "median_seconds_to_delivered": median_seconds(self.histogram),
            "spend": [
                {"currency": c, "amount": f"{v.quantize(Decimal('0.0001')).normalize():f}"}
                for c, v in sorted(self.spend.items())
            ],
        }


BREAKDOWNS = ("channel", "country", "provider_account", "error_code")


def report(organization, start: date, end: date) -> dict:
    """Everything the analytics page, its CSV and the API show for a date range (inclusive)."""
    from messaging.spend import country_label
    from providers.models import Channel, ProviderAccount

    rows = detailed_rows(organization, start, end)
    days = {start + timedelta(days=n): _Tally() for n in range((end - start).days + 1)}
    totals = _Tally()
    groups: dict[str, dict] = {name: {} for name in BREAKDOWNS}
    for r in rows:
        days.setdefault(r["day"], _Tally()).add(r)
        totals.add(r)
        keys = {
            "channel": r["channel"],
            "country": r["country"] or "",
            "provider_account": r["provider_account_id"],
            "error_code": r["error_code"] or "",
        }
        for name, key in keys.items():
            if name == "error_code" and not key:
                continue  # the breakdown of errors lists errors only
            groups[name].setdefault(key, _Tally()).add(r)
    accounts = {
        a.pk: a
        for a in ProviderAccount.objects.filter(
            organization=organization, pk__in=[k for k in groups["provider_account"] if k is not None]
        )
    }
    channel_names = dict(Channel.choices)

    def describe(name: str, key) -> tuple[str, str]:
        if name == "channel":
            return key, str(channel_names.get(key, key))
        if name == "country":
            return key, country_label(key)
        if name == "provider_account":
            account = accounts.get(key)
            if account is None:
                return "", "no account (refused before sending, or deleted)"
            return str(account.public_id), f"{account.label} ({account.get_provider_display()})"
        return key, key

    breakdowns = {}
    for name in BREAKDOWNS:
        entries = []
        for key, tally in groups[name].items():
            ident, label = describe(name, key)
            entries.append({"key": ident, "label": label, **tally.as_dict()})
        entries.sort(key=lambda e: (-e["total"], e["label"]))
        breakdowns[name] = entries
    return {
        "start": start,
        "end": end,
        "totals": totals.as_dict(),
        "days": [{"day": day, **tally.as_dict()} for day, tally in sorted(days.items()) if start <= day <= end],
        "breakdowns": breakdowns,
    }


# The figures of a row of the analytics CSV, between its section, key and label and its spend.
CSV_FIGURES = (
    "total",
    "delivered",
    "read",
    "failed",
    "segments",
    "delivery_rate",
    "read_rate",
    "median_seconds_to_delivered",
)
CSV_HEADER = ["section", "key", "label", *CSV_FIGURES, "spend"]


def report_csv_rows(data: dict):
    """Rows of the analytics CSV: one per day, then one per entry of each breakdown, then the totals."""

    def line(section, key, label, d):
        spend = "; ".join(f"{s['amount']} {s['currency']}" for s in d["spend"])
        return [section, key, label] + ["" if d[f] is None else d[f] for f in CSV_FIGURES] + [spend]

    for d in data["days"]:
        yield line("day", d["day"].isoformat(), d["day"].isoformat(), d)
    for name in BREAKDOWNS:
        for e in data["breakdowns"][name]:
            yield line(name, e["key"], e["label"], e)
    yield line("total", "", f"{data['start'].isoformat()} to {data['end'].isoformat()}", data["totals"])
