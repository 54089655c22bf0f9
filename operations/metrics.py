"""Prometheus metrics for /metrics, computed at scrape time by a few cheap queries.

Nothing is counted in process memory, so every web process answers the same
figures and a restart loses nothing. Families:

- jood_messages_in_flight{status}: queued, sending and scheduled messages (the sweeper's index)
- jood_broker_queue_length{queue}: tasks waiting in each Celery queue (Redis or RabbitMQ)
- jood_send_attempts{provider,outcome} and jood_send_rate_per_second{provider},
  jood_send_error_ratio{provider}: provider sends over the last METRICS_WINDOW_SECONDS
- jood_webhook_backlog, jood_webhook_lag_seconds: provider callbacks not processed yet, and the oldest's age
- jood_health_value{check}, jood_health_ok{check}: the /healthz/ready figures against their thresholds
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily

from jood.celery import app
from messaging.models import DeliveryAttempt, Message, Status
from operations.readiness import health_checks
from webhooks.models import WebhookEvent

log = logging.getLogger(__name__)

WINDOW_SECONDS = 300
# The lanes of the contract (jood/celery.py routes); the default queue too.
CONTRACT_QUEUES = ["retries", "sweeper", "webhooks", "callbacks", "maintenance", "celery"]


def celery_queue_names() -> list[str]:
    """Every queue a task is routed to (jood/celery.py's routes), the dispatch lanes and the default queue."""
    names = {f"dispatch.{lane}" for lane in range(settings.DISPATCH_LANES)}
    names.update(CONTRACT_QUEUES)
    routes = app.conf.task_routes
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(route["queue"])
    return sorted(names)


def broker_queue_lengths() -> dict[str, int]:
    """Messages waiting per queue (a passive declare each: LLEN on Redis, the queue's count on RabbitMQ)."""
    url = settings.CELERY_BROKER_URL
    if not url or url.startswith("memory://"):
        return {}
    from kombu import Connection

    lengths = {}
    try:
        with Connection(url, connect_timeout=1, transport_options={"socket_timeout": 1}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            for name in celery_queue_names():
                channel = conn.channel()
                try:
                    lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except Exception:
                    lengths[name] = 0  # never declared: nothing was ever sent to it
                finally:
                    try:
                        channel.close()
                    except Exception:
                        pass
    except Exception as exc:
        log.warning("metrics: broker unreachable: %s", exc)
    return lengths


class JoodCollector:
    def collect(self):
        now = timezone.now()
        in_flight = GaugeMetricFamily(
            "jood_messages_in_flight", "Messages not yet handed to a provider.", labels=["status"]
        )
        counts = dict(
            Message.objects.filter(status__in=[Status.QUEUED, Status.SENDING, Status.SCHEDULED])
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by()
        )
        for status in (Status.QUEUED, Status.SENDING, Status.SCHEDULED):
            in_flight.add_metric([str(status)], counts.get(status, 0))
        yield in_flight

        queues = GaugeMetricFamily("jood_broker_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])
        for name, length in broker_queue_lengths().items():
            queues.add_metric([name], length)
        yield queues

        attempts = GaugeMetricFamily(
            "jood_send_attempts",
            f"Provider send attempts in the last {WINDOW_SECONDS} seconds, by provider and outcome.",
            labels=["provider", "outcome"],
        )
        rate = GaugeMetricFamily(
            "jood_send_rate_per_second", f"Send attempts per second over {WINDOW_SECONDS} s.", labels=["provider"]
        )
        errors = GaugeMetricFamily(
            "jood_send_error_ratio",
            f"Share of send attempts refused or failed over {WINDOW_SECONDS} s.",
            labels=["provider"],
        )
        totals: dict[str, list[int]] = {}
        for row in (
            DeliveryAttempt.objects.filter(started_at__gte=now - timedelta(seconds=WINDOW_SECONDS))
            .values("provider_account__provider", "outcome")
            .annotate(n=Count("id"))
            .order_by()
        ):
            provider = row["provider_account__provider"] or "unknown"
            attempts.add_metric([provider, row["outcome"]], row["n"])
            total = totals.setdefault(provider, [0, 0])
            total[0] += row["n"]
            if row["outcome"] != DeliveryAttempt.Outcome.ACCEPTED:
                total[1] += row["n"]
        for provider, (total, failed) in sorted(totals.items()):
            rate.add_metric([provider], total / WINDOW_SECONDS)
            errors.add_metric([provider], failed / total if total else 0.0)
        yield attempts
        yield rate
        yield errors

        hooks = WebhookEvent.objects.filter(state=WebhookEvent.State.RECEIVED).aggregate(
            waiting=Count("id"), oldest=Min("received_at")
        )
        oldest = hooks["oldest"]
        yield GaugeMetricFamily(
            "jood_webhook_backlog", "Provider callbacks received, not processed yet.", value=hooks["waiting"]
        )
        yield GaugeMetricFamily(
            "jood_webhook_lag_seconds",
            "Age of the oldest provider callback not processed yet (0 when none).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        )

        value = GaugeMetricFamily("jood_health_value", "The /healthz/ready figures (numbers only).", labels=["check"])
        ok = GaugeMetricFamily(
            "jood_health_ok", "1 when the /healthz/ready figure is within its threshold.", labels=["check"]
        )
        for check in health_checks(now):
            if isinstance(check.value, (int, float)):
                value.add_metric([check.name], float(check.value))
            ok.add_metric([check.name], 1.0 if check.ok else 0.0)
        yield value
        yield ok


def registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JoodCollector())
    return registry
