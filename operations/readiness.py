"""The readiness checks (/healthz/ready, the operations page, /metrics): database, broker, and the apps' backlogs.

Each figure against its threshold (settings READY_*). They count rows of
messaging and webhooks, so they live here, above every app; the database and
broker figures are the base's (jood/health.py).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from jood import heartbeat
from jood.health import Check, connection_checks
from messaging.models import Message, Status
from webhooks.models import CallbackDelivery, WebhookEvent


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def health_checks(now=None) -> list[Check]:
    """The figures an operator alerts on, each against its threshold (settings READY_*).

    /healthz/ready answers 503 when one is not ok; the operations page shows
    the same list. Each figure is one aggregate on an index (a handful of
    queries in all), so a probe every few seconds stays cheap.
    """
    now = now or timezone.now()
    db_ok, checks = connection_checks()
    if not db_ok:
        return checks

    beat_at = heartbeat.last(heartbeat.BEAT)
    beat_age = _age(now, beat_at)
    limit = settings.READY_BEAT_MAX_AGE_SECONDS
    checks.append(
        Check(
            "beat",
            "Beat's last tick",
            "never" if beat_age is None else beat_age,
            limit,
            beat_age is not None and beat_age <= limit,
            "s",
        )
    )

    due = Q(status=Status.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    waiting = Message.objects.filter(status__in=[Status.QUEUED, Status.SENDING]).aggregate(
        oldest_due=Min(Coalesce("next_attempt_at", "queued_at"), filter=due),
        expired_leases=Count("id", filter=Q(status=Status.SENDING, lease_expires_at__lt=now)),
    )
    oldest = _age(now, waiting["oldest_due"]) or 0.0
    limit = settings.READY_OLDEST_DUE_QUEUED_SECONDS
    checks.append(Check("oldest_due_queued", "Oldest due queued message", oldest, limit, oldest <= limit, "s"))
    limit = settings.READY_EXPIRED_LEASES_MAX
    expired = waiting["expired_leases"]
    checks.append(Check("expired_leases", "Expired leases", expired, limit, expired <= limit))

    hooks = WebhookEvent.objects.filter(state=WebhookEvent.State.RECEIVED).aggregate(
        waiting=Count("id"), oldest=Min("received_at")
    )
    limit = settings.READY_WEBHOOK_BACKLOG_MAX
    checks.append(
        Check("webhook_backlog", "Webhook events waiting", hooks["waiting"], limit, hooks["waiting"] <= limit)
    )
    lag = _age(now, hooks["oldest"]) or 0.0
    limit = settings.READY_WEBHOOK_OLDEST_SECONDS
    checks.append(Check("webhook_lag", "Oldest waiting webhook event", lag, limit, lag <= limit, "s"))

    pending = CallbackDelivery.objects.filter(state=CallbackDelivery.State.PENDING).count()
    limit = settings.READY_CALLBACK_BACKLOG_MAX
    checks.append(Check("callback_backlog", "Customer callbacks pending", pending, limit, pending <= limit))
    return checks
