"""The health figures that need no app: can this process reach the database and the broker?

/healthz (jood/views.py) answers with these two; the readiness checks over the
apps' tables (operations/readiness.py) add theirs to the same `Check` list.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)


@dataclass
class Check:
    """One figure of /healthz/ready and the operations page: its value against a threshold."""

    name: str
    label: str
    value: object  # a number, seconds (float), or "ok" / "unreachable" / "embedded" / "never"
    threshold: object
    ok: bool
    unit: str = ""

    def as_dict(self) -> dict:
        return {"value": self.value, "threshold": self.threshold, "ok": self.ok, "unit": self.unit}


def database_ok() -> bool:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception as exc:
        log.warning("health: database unreachable: %s", exc)
        return False


def broker_state() -> str:
    """ "ok", "unreachable", or "embedded" (no broker): one connection with a one-second timeout."""
    url = settings.CELERY_BROKER_URL
    if not url or url.startswith("memory://"):
        return "embedded"
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=1, transport_options={"socket_timeout": 1}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            if conn.transport.driver_type == "redis":
                conn.default_channel.client.ping()
        return "ok"
    except Exception as exc:
        log.warning("health: broker unreachable: %s", exc)
        return "unreachable"


def connection_checks() -> tuple[bool, list[Check]]:
    """The database and broker figures; whether the database answered (nothing else can be counted without it)."""
    db_ok = database_ok()
    broker = broker_state()
    return db_ok, [
        Check("database", "Database", "ok" if db_ok else "unreachable", "ok", db_ok),
        Check("broker", "Broker", broker, "ok", broker != "unreachable"),
    ]
