"""The operations page of the staff console: is sending healthy right now?

Served at /admin/messaging/message/operations/ (a page of the site,
jood.admin_utils.AdminSite.add_page) and linked first on the admin index. Each figure is one aggregate query over an
index (the message table by created_at or the sweeper's partial index, the
webhook events by state), so the page stays cheap on a big database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q
from django.template.response import TemplateResponse
from django.utils import timezone

from jood.admin_utils import AdminPage
from messaging.models import DeliveryAttempt, Message, Status
from operations.readiness import health_checks
from providers.models import Provider
from retention.models import PurgeRun
from webhooks.models import CallbackDelivery, WebhookEvent

log = logging.getLogger(__name__)

CELERY_QUEUE = "celery"
# Columns of the status table, in lifecycle order.
STATUS_COLUMNS = [
    Status.SCHEDULED,
    Status.QUEUED,
    Status.SENDING,
    Status.SENT,
    Status.DELIVERED,
    Status.READ,
    Status.UNDELIVERED,
    Status.FAILED,
    Status.REJECTED,
    Status.CANCELED,
]
FAILED = [Status.FAILED, Status.UNDELIVERED]


@dataclass
class ProviderRow:
    provider: str
    label: str
    hour: dict[str, int] = field(default_factory=dict)
    day: dict[str, int] = field(default_factory=dict)

    @property
    def cells(self) -> list[tuple[int, int]]:
        return [(self.hour.get(s, 0), self.day.get(s, 0)) for s in STATUS_COLUMNS]

    @property
    def total_hour(self) -> int:
        return sum(self.hour.values())

    @property
    def total_day(self) -> int:
        return sum(self.day.values())


def messages_by_provider(now) -> list[ProviderRow]:
    """Messages created in the last hour and 24 hours, by provider and status (one query)."""
    labels = dict(Provider.choices)
    rows: dict[str, ProviderRow] = {}
    for row in (
        Message.objects.filter(created_at__gte=now - timedelta(hours=24))
        .values("provider", "status")
        .annotate(hour=Count("id", filter=Q(created_at__gte=now - timedelta(hours=1))), day=Count("id"))
        .order_by()
    ):
        provider = row["provider"] or ""
        item = rows.setdefault(provider, ProviderRow(provider, labels.get(provider, provider or "not routed yet")))
        item.hour[row["status"]] = row["hour"]
        item.day[row["status"]] = row["day"]
    return sorted(rows.values(), key=lambda r: (-r.total_day, r.label))


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else round(100.0 * part / whole, 1)


def failure_by_account(now) -> list[dict]:
    """Per provider account, messages of the last 24 hours and the share that failed or went undelivered."""
    rows = list(
        Message.objects.filter(created_at__gte=now - timedelta(hours=24), provider_account__isnull=False)
        .values(
            "provider_account_id",
            "provider_account__label",
            "provider_account__provider",
            "provider_account__is_active",
            "provider_account__health_status",
            "provider_account__organization__name",
        )
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status__in=FAILED)))
        .order_by()
    )
    for row in rows:
        row["rate"] = _rate(row["failed"], row["total"])
    return sorted(rows, key=lambda r: (-(r["rate"] or 0), -r["total"]))


def attempt_errors_by_account(now) -> list[dict]:
    """Per provider account, send attempts of the last hour and the share the provider refused or failed."""
    rows = list(
        DeliveryAttempt.objects.filter(started_at__gte=now - timedelta(hours=1))
        .values("provider_account_id", "provider_account__label", "provider_account__provider")
        .annotate(
            total=Count("id"),
            errors=Count("id", filter=~Q(outcome=DeliveryAttempt.Outcome.ACCEPTED)),
            permanent=Count("id", filter=Q(outcome=DeliveryAttempt.Outcome.PERMANENT)),
        )
        .order_by()
    )
    for row in rows:
        row["rate"] = _rate(row["errors"], row["total"])
    return sorted(rows, key=lambda r: (-(r["rate"] or 0), -r["total"]))


def waiting_messages(now) -> dict:
    """Queued and sending messages (the sweeper's partial index): how many, the oldest, expired leases."""
    figures = Message.objects.filter(status__in=[Status.QUEUED, Status.SENDING]).aggregate(
        queued=Count("id", filter=Q(status=Status.QUEUED)),
        oldest_queued=Min("queued_at", filter=Q(status=Status.QUEUED)),
        sending=Count("id", filter=Q(status=Status.SENDING)),
        expired_leases=Count("id", filter=Q(status=Status.SENDING, lease_expires_at__lt=now)),
    )
    oldest = figures["oldest_queued"]
    figures["oldest_age"] = (now - oldest) if oldest else None
    return figures


def webhook_backlog(now) -> dict:
    """Provider callbacks waiting to be processed, and the failed ones (whevent_state index)."""
    return WebhookEvent.objects.filter(state__in=[WebhookEvent.State.RECEIVED, WebhookEvent.State.FAILED]).aggregate(
        waiting=Count("id", filter=Q(state=WebhookEvent.State.RECEIVED)),
        oldest_waiting=Min("received_at", filter=Q(state=WebhookEvent.State.RECEIVED)),
        failed_day=Count("id", filter=Q(state=WebhookEvent.State.FAILED, received_at__gte=now - timedelta(hours=24))),
        failed=Count("id", filter=Q(state=WebhookEvent.State.FAILED)),
    )


def callback_backlog(now) -> dict:
    """Customer callbacks still to deliver, and those given up in the last 24 hours."""
    return CallbackDelivery.objects.filter(
        Q(state=CallbackDelivery.State.PENDING)
        | Q(state=CallbackDelivery.State.FAILED, created_at__gte=now - timedelta(hours=24))
    ).aggregate(
        pending=Count("id", filter=Q(state=CallbackDelivery.State.PENDING)),
        failed_day=Count("id", filter=Q(state=CallbackDelivery.State.FAILED)),
    )


def last_purge_run() -> PurgeRun | None:
    return (
        PurgeRun.objects.filter(kind=PurgeRun.Kind.PURGE, dry_run=False)
        .select_related("organization")
        .order_by("-started_at", "-id")
        .first()
    )


def celery_queue_depth() -> int | str:
    """Tasks waiting in the broker (LLEN of the Redis list "celery"), or "embedded" without Redis."""
    url = settings.REDIS_URL
    if not url:
        return "embedded"
    try:
        import redis

        timeout = settings.REDIS_SOCKET_TIMEOUT
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return int(client.llen(CELERY_QUEUE))
        finally:
            client.close()
    except Exception as exc:  # the page must render when Redis is down: that is when it is needed
        log.warning("operations page: could not read the Celery queue length: %s", exc)
        return "unreachable"


def operations_view(request):
    """Render the operations page (anyone who may view messages: Support, Operators, superusers)."""
    model_admin = admin.site.get_model_admin(Message)
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Operations",
        "opts": model_admin.model._meta,
        "now": now,
        "status_columns": STATUS_COLUMNS,
        "providers": messages_by_provider(now),
        "accounts": failure_by_account(now),
        "attempts": attempt_errors_by_account(now),
        "waiting": waiting_messages(now),
        "webhooks": webhook_backlog(now),
        "callbacks": callback_backlog(now),
        "purge_run": last_purge_run(),
        "queue_depth": celery_queue_depth(),
        "health_checks": health_checks(now),
        "embedded": not settings.REDIS_URL,
    }
    return TemplateResponse(request, "admin/operations/operations.html", context)


admin.site.add_page(
    AdminPage(
        route="messaging/message/operations/",
        view=operations_view,
        name="operations",
        title="Operations",
        link="Sending right now",
        hint="Messages by status and provider, failure rates, oldest queued message, webhook backlog, "
        "last purge run, Celery queue",
        permission="messaging.view_message",
    )
)
