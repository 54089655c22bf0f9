"""The retention purge and the final erasure of an organization.

DESIGN.md "Retention and privacy rights". Every organization's message logs
are kept `retention_days` (90 by default); while a legal hold is in force
(`legal_hold_until` today or later) nothing of that organization is deleted.

How a run goes:

1. Daily stats are rolled up (`messaging.analytics.rollup_day`) for every day
   that still has rows older than the cut-off, so analytics keep their counts.
   The oldest such day of an organization may have lost rows to an earlier run
   (the cut-off is a moment, not a midnight, and a run can stop mid-day at its
   time budget); when it already has stats it is left as rolled up, never
   recomputed from what is left.
2. Rows go in batches of `BATCH_SIZE` ids, oldest first, each batch its own
   short transaction: select the ids (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
   so a row that a webhook is updating right now waits for the next run instead
   of making us wait), delete the children (every table whose foreign key points
   at those rows: events, delivery attempts, callback deliveries and their
   attempts), then the rows. Inserts of new messages never wait on us: we lock
   only old rows. The deletes are plain SQL written here, in foreign-key order
   (`DEPENDANTS`), not Django's delete collector, which is no public API.
3. Between batches the time budget (PURGE_TIME_BUDGET_SECONDS) is checked;
   when it is spent the run stops, is marked not completed, and the next run
   resumes where it stopped, since it starts again from the oldest rows.

Stored files (media, exports) are removed from storage after the transaction
that deleted their rows commits, so a rolled-back batch never loses a file.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, models, transaction
from django.db.models import Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import AccessLog, ApiKey, ApiKeyUse, Membership, Organization
from messaging.analytics import rollup_day
from messaging.models import (
    Batch,
    ConversationWindow,
    DailyStats,
    IdempotencyRecord,
    InboundMessage,
    MediaFile,
    Message,
    OptOut,
    PendingStatusUpdate,
    Template,
)
from providers.models import ProviderAccount
from retention.models import DataExport, LegalHold, PurgeRun
from webhooks.models import CallbackDelivery, CallbackEndpoint, WebhookEvent

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000
IDEMPOTENCY_WINDOW = timedelta(hours=24)
# An export that no worker finished in this long is given up.
EXPORT_GIVE_UP = timedelta(days=2)

# Every table a purge run reports on, in the order it works through them.
PURGED_TABLES = [
    "messaging.Message",
    "messaging.MessageEvent",
    "messaging.DeliveryAttempt",
    "webhooks.CallbackDelivery",
    "webhooks.CallbackAttempt",
    "messaging.InboundMessage",
    "webhooks.WebhookEvent",
    "messaging.MediaFile",
    "messaging.MediaFile.file",
    "messaging.MediaFile.unreferenced",
    "messaging.ConversationWindow",
    "messaging.Batch",
    "messaging.IdempotencyRecord",
    "messaging.PendingStatusUpdate",
    "accounts.AccessLog",
    "accounts.ApiKeyUse",
    "accounts.ApiKey.last_used_ip",
    "retention.DataExport.file",
]


def budget_seconds() -> float:
    return float(settings.PURGE_TIME_BUDGET_SECONDS)


def is_held(organization: Organization, today: date | None = None) -> bool:
    """True while a legal hold is in force: nothing of the organization is deleted."""
    today = today or timezone.localdate()
    return organization.legal_hold_until is not None and organization.legal_hold_until >= today


def cutoff_for(organization: Organization, now: datetime | None = None) -> datetime | None:
    """Rows created before this moment are past retention; None while a legal hold is in force."""
    now = now or timezone.now()
    if is_held(organization, timezone.localdate(now)):
        return None
    return now - timedelta(days=organization.retention_days)


def oldest_kept(organization: Organization):
    """The creation time of the organization's oldest message still stored, or None if it has none."""
    from messaging.models import Message

    return (
        Message.objects.filter(organization=organization)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )


# --- The context of one run -----------------------------------------------------


@dataclass
class Context:
    """What one run counts and when it must stop."""

    dry_run: bool = False
    batch_size: int = BATCH_SIZE
    budget: float = 600.0
    clock: Callable[[], float] = time.monotonic
    started: float = 0.0
    stopped: bool = False
    deleted: Counter = field(default_factory=Counter)
    rolled_up_days: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def out_of_time(self) -> bool:
        if not self.stopped and self.clock() - self.started >= self.budget:
            self.stopped = True
            log.info("purge: time budget of %ss spent; the next run resumes", self.budget)
        return self.stopped

    def add(self, counts: dict[str, int]) -> None:
        for label, n in counts.items():
            self.deleted[label] += n


@dataclass(frozen=True)
class Scope:
    """A set of organizations that share one cut-off.

    `organization_ids` None means every organization except `exclude_ids`
    (the ones on the default retention), and also rows of no organization.
    """

    cutoff: datetime
    organization_ids: tuple[int, ...] | None = None
    exclude_ids: tuple[int, ...] = ()

    def q(self, path: str) -> Q:
        if self.organization_ids is not None:
            return Q(**{f"{path}__in": self.organization_ids})
        if self.exclude_ids:
            return ~Q(**{f"{path}__in": self.exclude_ids})
        return Q()


# --- Batched deletion -------------------------------------------------------------


def _label(model: type[models.Model]) -> str:
    return model._meta.label


def _delete_files(names: Iterable[str]) -> None:
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:
            # The row is gone; a file left behind is logged for staff, never fatal.
            log.exception("could not delete stored file %s", name)


# A batch's ids go to PostgreSQL as one array parameter (`= ANY(%s)`): building
# and sending 5,000 separate parameters per statement, as `pk__in` does, costs
# more than the delete itself. SQLite gets IN lists of at most this many.
SQLITE_IN_CHUNK = 900


def _where_in(column: str, ids: list) -> list[tuple[str, list]]:
    quoted = connection.ops.quote_name(column)
    if connection.vendor == "postgresql":
        # Primary keys are integers here; an array literal is cheaper to send than a list adapted item by item.
        if all(isinstance(i, int) for i in ids):
            return [(f"{quoted} = ANY(%s::bigint[])", ["{" + ",".join(map(str, ids)) + "}"])]
        return [(f"{quoted} = ANY(%s)", [list(ids)])]
    chunks = [ids[i : i + SQLITE_IN_CHUNK] for i in range(0, len(ids), SQLITE_IN_CHUNK)]
    return [(f"{quoted} IN ({', '.join(['%s'] * len(chunk))})", list(chunk)) for chunk in chunks]


def _execute(sql: str, column: str, ids: list) -> int:
    count = 0
    with connection.cursor() as cursor:
        for where, params in _where_in(column, ids):
            cursor.execute(f"{sql} WHERE {where}", params)
            count += max(cursor.rowcount, 0)
    return count


def _select(model: type[models.Model], column: str, ids: list, wanted: str | None = None) -> list:
    table = connection.ops.quote_name(model._meta.db_table)
    wanted = connection.ops.quote_name(wanted or model._meta.pk.column)
    values: list = []
    with connection.cursor() as cursor:
        for where, params in _where_in(column, ids):
            cursor.execute(f"SELECT {wanted} FROM {table} WHERE {where}", params)
            values += [row[0] for row in cursor.fetchall()]
    return values


# --- What points at what ----------------------------------------------------------
#
# For every table the purge and the erasure delete from (by the label a run reports
# it under): the foreign keys of other tables that point at it (table, column, rule),
# as the models' on_delete says. Written out so the deletes are SQL we own.
# tests/retention/test_purge_sql.py holds this map to the models: a new foreign key
# to one of these tables fails it until it is added here.
CASCADE, SET_NULL = "cascade", "set null"
_OF_ORGANIZATION = (
    "accounts.Membership accounts.ApiKey accounts.ApiKeyUse providers.ProviderAccount messaging.Template "
    "messaging.MediaFile messaging.Batch messaging.Message messaging.PendingStatusUpdate messaging.OptOut "
    "messaging.ConversationWindow messaging.InboundMessage messaging.DailyStats messaging.IdempotencyRecord "
    "webhooks.CallbackEndpoint webhooks.CallbackDelivery retention.LegalHold retention.DataExport"
)
_LEAVES = (
    "messaging.MessageEvent messaging.DeliveryAttempt webhooks.CallbackAttempt webhooks.WebhookEvent "
    "messaging.MediaFile messaging.ConversationWindow messaging.IdempotencyRecord messaging.PendingStatusUpdate "
    "accounts.AccessLog accounts.ApiKeyUse messaging.OptOut messaging.DailyStats accounts.Membership "
    "retention.LegalHold retention.DataExport"
)
DEPENDANTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # Everything of the organization goes; its access log and purge runs stay, unlinked.
    "accounts.Organization": (
        ("accounts.AccessLog", "organization_id", SET_NULL),
        ("retention.PurgeRun", "organization_id", SET_NULL),
        *((label, "organization_id", CASCADE) for label in _OF_ORGANIZATION.split()),
    ),
    "accounts.ApiKey": (
        ("accounts.AccessLog", "api_key_id", SET_NULL),
        ("messaging.Batch", "api_key_id", SET_NULL),
        ("accounts.ApiKeyUse", "api_key_id", CASCADE),
    ),
    "providers.ProviderAccount": (
        ("messaging.Message", "requested_account_id", SET_NULL),
        *(
            (label, "provider_account_id", SET_NULL)
            for label in "messaging.Message messaging.DeliveryAttempt messaging.InboundMessage "
            "messaging.DailyStats webhooks.WebhookEvent".split()
        ),
        ("messaging.Template", "provider_account_id", CASCADE),
    ),
    "messaging.Template": (("messaging.Message", "template_id", SET_NULL),),
    "messaging.Batch": (("messaging.Message", "batch_id", SET_NULL),),
    "messaging.Message": (
        ("messaging.MessageEvent", "message_id", CASCADE),
        ("messaging.DeliveryAttempt", "message_id", CASCADE),
        ("webhooks.CallbackDelivery", "message_id", CASCADE),
    ),
    "messaging.InboundMessage": (("webhooks.CallbackDelivery", "inbound_message_id", CASCADE),),
    "webhooks.CallbackEndpoint": (("webhooks.CallbackDelivery", "endpoint_id", CASCADE),),
    "webhooks.CallbackDelivery": (("webhooks.CallbackAttempt", "delivery_id", CASCADE),),
    **{label: () for label in _LEAVES.split()},
}


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _delete_rows(model: type[models.Model], ids: list) -> int:
    """Delete rows by primary key, nothing else; return how many went."""
    return _execute(f"DELETE FROM {_table(model)}", model._meta.pk.column, ids)


def delete_ids(ctx: Context, model: type[models.Model], ids: list, *, count_empty: bool = True) -> None:
    """Delete rows by primary key, and first whatever points at them (`DEPENDANTS`), counting each table.

    One statement per dependant table; rows of a dependant that has dependants
    of its own are selected by id first, and so on down. `count_empty=False`
    leaves out tables where nothing went (as the organization's own delete reports).
    """
    if not ids:
        return

    def add(label: str, n: int) -> None:
        if n or count_empty:
            ctx.add({label: n})

    for label, column, rule in DEPENDANTS[_label(model)]:
        child = apps.get_model(label)
        if rule == SET_NULL:
            _execute(f"UPDATE {_table(child)} SET {connection.ops.quote_name(column)} = NULL", column, ids)
        elif DEPENDANTS[label]:
            delete_ids(ctx, child, _select(child, column, ids), count_empty=count_empty)
        else:
            add(label, _execute(f"DELETE FROM {_table(child)}", column, ids))
    add(_label(model), _delete_rows(model, ids))


def _count_tree(ctx: Context, queryset: models.QuerySet) -> None:
    """Dry run: count the rows and everything that would go with them."""
    ctx.add({_label(queryset.model): queryset.count()})
    for label, column, rule in DEPENDANTS[_label(queryset.model)]:
        if rule == CASCADE:
            _count_tree(ctx, apps.get_model(label)._base_manager.filter(**{f"{column}__in": queryset.values("pk")}))


def delete_in_batches(
    ctx: Context,
    queryset: models.QuerySet,
    *,
    order_by: str = "pk",
    file_field: str | None = None,
) -> None:
    """Delete the rows of `queryset` oldest first, `ctx.batch_size` ids per short transaction.

    Each batch locks its rows (`FOR UPDATE SKIP LOCKED`: a row someone else
    holds is left for the next run), deletes what hangs off them, then them.
    In a dry run, count them (and what hangs off them) instead.
    """
    model = queryset.model
    if ctx.dry_run:
        _count_tree(ctx, queryset)
        if file_field:
            ctx.add({f"{_label(model)}.{file_field}": queryset.exclude(**{file_field: ""}).count()})
        return
    while not ctx.out_of_time():
        with transaction.atomic():
            if connection.vendor == "postgresql" and not file_field:
                # A delete lost in a crash is done again by the next run, so the commit need not wait
                # for the disk (and the small commits of concurrent inserts do not queue behind ours).
                # Not where files are removed after commit: a lost delete would leave rows without files.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            ids = list(
                queryset.order_by(order_by, "pk")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[: ctx.batch_size]
            )
            if not ids:
                return
            names = []
            if file_field:
                column = model._meta.get_field(file_field).column
                names = [n for n in _select(model, model._meta.pk.column, ids, wanted=column) if n]
                ctx.add({f"{_label(model)}.{file_field}": len(names)})
            delete_ids(ctx, model, ids)
            if names:
                transaction.on_commit(lambda names=names: _delete_files(names))
        if len(ids) < ctx.batch_size:
            return


# --- The purge --------------------------------------------------------------------


def _scopes(now: datetime, organization: Organization | None) -> tuple[list[Scope], dict[str, str], list[int]]:
    """Return the scopes to purge, a description of every cut-off, and the ids of held organizations."""
    today = timezone.localdate(now)
    default_days = settings.MESSAGE_LOG_RETENTION_DAYS
    if organization is not None:
        cutoff = cutoff_for(organization, now)
        if cutoff is None:
            return [], {str(organization.pk): f"legal hold until {organization.legal_hold_until}"}, [organization.pk]
        return [Scope(cutoff, organization_ids=(organization.pk,))], {str(organization.pk): cutoff.isoformat()}, []

    exceptions = Organization.objects.filter(~Q(retention_days=default_days) | Q(legal_hold_until__gte=today)).only(
        "pk", "retention_days", "legal_hold_until"
    )
    scopes = [Scope(now - timedelta(days=default_days), exclude_ids=tuple(o.pk for o in exceptions))]
    described = {"default": scopes[0].cutoff.isoformat()}
    held = []
    for org in exceptions:
        cutoff = cutoff_for(org, now)
        if cutoff is None:
            described[str(org.pk)] = f"legal hold until {org.legal_hold_until}"
            held.append(org.pk)
        else:
            described[str(org.pk)] = cutoff.isoformat()
            scopes.append(Scope(cutoff, organization_ids=(org.pk,)))
    return scopes, described, held


def rollup_before_purge(ctx: Context, scope: Scope) -> None:
    """Roll up daily stats of every day that has messages older than the scope's cut-off."""
    pairs = (
        Message.objects.filter(scope.q("organization_id"), created_at__lt=scope.cutoff)
        .annotate(day=TruncDate("created_at"))
        .values_list("organization_id", "day")
        .distinct()
        .order_by()
    )
    days_by_org: dict[int, list[date]] = defaultdict(list)
    for org_id, day in pairs:
        days_by_org[org_id].append(day)
    orgs_by_day: dict[date, list[int]] = defaultdict(list)
    for org_id, days in days_by_org.items():
        days.sort()
        oldest = days[0]
        # The oldest day may have lost rows to an earlier run: if it has stats, they are the full day's.
        if DailyStats.objects.filter(organization_id=org_id, day=oldest).exists():
            days = days[1:]
        for day in days:
            orgs_by_day[day].append(org_id)
    if ctx.dry_run:
        ctx.rolled_up_days += len(orgs_by_day)
        return
    for day in sorted(orgs_by_day):
        rollup_day(day, orgs_by_day[day])
        ctx.rolled_up_days += 1


def purge_scope(ctx: Context, scope: Scope, now: datetime) -> None:
    """Delete every log row of the scope's organizations older than its cut-off."""
    cutoff = scope.cutoff
    rollup_before_purge(ctx, scope)
    steps = [
        (
            Message.objects.filter(scope.q("organization_id"), created_at__lt=cutoff),
            {"order_by": "created_at"},
        ),
        (
            InboundMessage.objects.filter(scope.q("organization_id"), created_at__lt=cutoff),
            {"order_by": "created_at"},
        ),
        # Deliveries of neither a message nor an inbound message (test events).
        (
            CallbackDelivery.objects.filter(
                scope.q("organization_id"),
                created_at__lt=cutoff,
                message__isnull=True,
                inbound_message__isnull=True,
            ),
            {"order_by": "created_at"},
        ),
        (
            WebhookEvent.objects.filter(scope.q("provider_account__organization_id"), received_at__lt=cutoff),
            {"order_by": "received_at"},
        ),
        (
            MediaFile.objects.filter(scope.q("organization_id"), created_at__lt=cutoff),
            {"order_by": "created_at", "file_field": "file"},
        ),
        (
            ConversationWindow.objects.filter(scope.q("organization_id"), last_inbound_at__lt=cutoff),
            {"order_by": "last_inbound_at"},
        ),
        (Batch.objects.filter(scope.q("organization_id"), created_at__lt=cutoff), {"order_by": "created_at"}),
    ]
    for queryset, options in steps:
        if ctx.out_of_time():
            return
        delete_in_batches(ctx, queryset, **options)


def purge_everyone_else(ctx: Context, now: datetime, held: list[int], organization: Organization | None) -> None:
    """Tables with their own clock: idempotency records, unmatched updates, access logs, export files."""
    only = Q(organization_id=organization.pk) if organization is not None else ~Q(organization_id__in=held)
    access_cutoff = now - timedelta(days=settings.ACCESS_LOG_RETENTION_DAYS)
    steps = [
        IdempotencyRecord.objects.filter(only, created_at__lt=now - IDEMPOTENCY_WINDOW),
        AccessLog.objects.filter(only, at__lt=access_cutoff),
        ApiKeyUse.objects.filter(only, last_seen__lt=access_cutoff),
    ]
    if organization is None:
        # Rows of no organization: the global message-log retention.
        global_cutoff = now - timedelta(days=settings.MESSAGE_LOG_RETENTION_DAYS)
        steps.append(PendingStatusUpdate.objects.filter(received_at__lt=global_cutoff))
    order = {IdempotencyRecord: "created_at", AccessLog: "at", ApiKeyUse: "id", PendingStatusUpdate: "received_at"}
    for queryset in steps:
        if ctx.out_of_time():
            return
        delete_in_batches(ctx, queryset, order_by=order[queryset.model])
    if ctx.out_of_time():
        return
    # The technical data of a key's last use goes with the access log of that time.
    stale_ips = ApiKey.objects.filter(only, last_used_at__lt=access_cutoff, last_used_ip__isnull=False)
    if ctx.dry_run:
        ctx.add({"accounts.ApiKey.last_used_ip": stale_ips.count()})
    else:
        ctx.add({"accounts.ApiKey.last_used_ip": stale_ips.update(last_used_ip=None)})
    if not ctx.out_of_time():
        expire_exports(ctx, now, organization)


def expire_exports(ctx: Context, now: datetime, organization: Organization | None = None) -> None:
    """Remove the files of exports that expired, were downloaded or failed; give up on stale pending ones."""
    exports = DataExport.objects.all()
    if organization is not None:
        exports = exports.filter(organization=organization)
    S = DataExport.State
    expired = exports.filter(state=S.READY, expires_at__lte=now)
    stale = exports.filter(state=S.PENDING, created_at__lt=now - EXPORT_GIVE_UP)
    with_files = exports.filter(state__in=[S.DOWNLOADED, S.EXPIRED, S.FAILED]).exclude(file="")
    if ctx.dry_run:
        ctx.add({"retention.DataExport.file": expired.exclude(file="").count() + with_files.count()})
        return
    stale.update(state=S.FAILED, error="Not built in time.")
    expired.update(state=S.EXPIRED)
    names = []
    with transaction.atomic():
        for export in with_files.select_for_update(skip_locked=True).only("pk", "file"):
            names.append(export.file.name)
        DataExport.objects.filter(file__in=names).update(file="", size=0)
        transaction.on_commit(lambda: _delete_files(names))
    ctx.add({"retention.DataExport.file": len(names)})


UNREFERENCED_MEDIA = "messaging.MediaFile.unreferenced"
MEDIA_REFERENCE_CHUNK = 200


def _referenced(media: list[tuple[int, int, str]]) -> set[int]:
    """Return the ids of the media files a message of their own organization names (in its `media`)."""
    referenced: set[int] = set()
    by_org: dict[int, dict[str, int]] = defaultdict(dict)
    for pk, organization_id, public_id in media:
        by_org[organization_id][str(public_id).lower()] = pk
    for organization_id, wanted in by_org.items():
        names = list(wanted)
        for start in range(0, len(names), MEDIA_REFERENCE_CHUNK):
            chunk = names[start : start + MEDIA_REFERENCE_CHUNK]
            q = Q()
            for name in chunk:
                q |= Q(media__icontains=name)
            for value in Message.objects.filter(q, organization_id=organization_id).values_list("media", flat=True):
                text = str(value).lower()
                referenced.update(wanted[name] for name in chunk if name in text)
    return referenced


def purge_unreferenced_media(ctx: Context, now: datetime, held: list[int], organization: Organization | None) -> None:
    """Delete media files older than MEDIA_UNREFERENCED_DAYS that no message names (issue 13).

    Files a message still names stay until the message is purged (then they go
    at the next run, once old enough); organizations under a legal hold keep theirs.
    """
    cutoff = now - timedelta(days=settings.MEDIA_UNREFERENCED_DAYS)
    candidates = MediaFile.objects.filter(created_at__lt=cutoff).exclude(organization_id__in=held)
    if organization is not None:
        candidates = candidates.filter(organization=organization)
    last_pk = 0
    while not ctx.out_of_time():
        batch = list(
            candidates.filter(pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", "organization_id", "public_id")[: ctx.batch_size]
        )
        if not batch:
            return
        last_pk = batch[-1][0]
        used = _referenced(batch)
        unused = [pk for pk, _, _ in batch if pk not in used]
        if unused and ctx.dry_run:
            ctx.add({UNREFERENCED_MEDIA: len(unused)})
        elif unused:
            with transaction.atomic():
                # Locked and checked again: a message may have named a file since it was read.
                rows = list(
                    MediaFile.objects.filter(pk__in=unused)
                    .select_for_update(skip_locked=True)
                    .values_list("pk", "organization_id", "public_id", "file")
                )
                used = _referenced([row[:3] for row in rows])
                ids = [row[0] for row in rows if row[0] not in used]
                names = [row[3] for row in rows if row[0] not in used and row[3]]
                _delete_rows(MediaFile, ids)
                ctx.add({UNREFERENCED_MEDIA: len(ids), "messaging.MediaFile.file": len(names)})
                if names:
                    transaction.on_commit(lambda names=names: _delete_files(names))
        if len(batch) < ctx.batch_size:
            return


def run(
    *,
    dry_run: bool = False,
    organization: Organization | None = None,
    budget: float | None = None,
    batch_size: int | None = None,
    trigger: str = "",
    clock: Callable[[], float] = time.monotonic,
    now: datetime | None = None,
) -> PurgeRun:
    """Run the purge once (over every organization, or one) and return its PurgeRun."""
    now = now or timezone.now()
    ctx = Context(
        dry_run=dry_run,
        batch_size=batch_size or BATCH_SIZE,
        budget=budget_seconds() if budget is None else budget,
        clock=clock,
    )
    for label in PURGED_TABLES:
        ctx.deleted[label] += 0
    record = PurgeRun.objects.create(
        kind=PurgeRun.Kind.PURGE, started_at=now, dry_run=dry_run, organization=organization, trigger=trigger
    )
    error = ""
    try:
        scopes, described, held = _scopes(now, organization)
        record.cutoff = scopes[0].cutoff if scopes and scopes[0].organization_ids is None else None
        record.cutoffs = described
        for scope in scopes:
            if ctx.out_of_time():
                break
            purge_scope(ctx, scope, now)
        if not ctx.out_of_time():
            purge_everyone_else(ctx, now, held, organization)
        if not ctx.out_of_time():
            purge_unreferenced_media(ctx, now, held, organization)
    except Exception:
        error = traceback.format_exc()
        log.exception("purge run %s failed", record.pk)
        raise
    finally:
        _finish(record, ctx, error)
    return record


def _finish(record: PurgeRun, ctx: Context, error: str) -> None:
    record.finished_at = timezone.now()
    record.completed = not ctx.stopped and not error
    record.deleted = dict(ctx.deleted)
    record.rolled_up_days = ctx.rolled_up_days
    record.duration_seconds = round(ctx.clock() - ctx.started, 3)
    record.error = error[-5000:]
    record.save(
        update_fields=[
            "finished_at",
            "completed",
            "deleted",
            "rolled_up_days",
            "duration_seconds",
            "error",
            "cutoff",
            "cutoffs",
        ]
    )


# --- Erasure of a whole organization ----------------------------------------------


def erase_organization(organization: Organization, ctx: Context) -> bool:
    """Delete everything of the organization in batches, then the organization. True when it is gone."""
    org = organization.pk
    steps: list[tuple[models.QuerySet, dict]] = [
        (Message.objects.filter(organization_id=org), {}),
        (InboundMessage.objects.filter(organization_id=org), {}),
        (CallbackDelivery.objects.filter(organization_id=org), {}),
        (WebhookEvent.objects.filter(provider_account__organization_id=org), {}),
        (MediaFile.objects.filter(organization_id=org), {"file_field": "file"}),
        (DataExport.objects.filter(organization_id=org), {"file_field": "file"}),
        (Batch.objects.filter(organization_id=org), {}),
        (ConversationWindow.objects.filter(organization_id=org), {}),
        (OptOut.objects.filter(organization_id=org), {}),
        (DailyStats.objects.filter(organization_id=org), {}),
        (IdempotencyRecord.objects.filter(organization_id=org), {}),
        (Template.objects.filter(organization_id=org), {}),
        (CallbackEndpoint.objects.filter(organization_id=org), {}),
        (ProviderAccount.objects.filter(organization_id=org), {}),
        (ApiKey.objects.filter(organization_id=org), {}),
        (Membership.objects.filter(organization_id=org), {}),
        (LegalHold.objects.filter(organization_id=org), {}),
    ]
    for queryset, options in steps:
        if ctx.out_of_time():
            return False
        delete_in_batches(ctx, queryset, **options)
    if ctx.out_of_time():
        return False
    if ctx.dry_run:
        ctx.add({"accounts.Organization": 1})
        return True
    with transaction.atomic():
        # What is left points at the organization with SET_NULL (access log, purge runs) and is kept;
        # rows written since their step (an unmatched status update) go with it.
        delete_ids(ctx, Organization, [org], count_empty=False)
    return True
