"""API key use, aggregated per key, client address, user agent and hour (the access log's promise).

Each web process counts uses in memory (`record_key_use`: a dict update, no
query, no Redis call) and writes what it counted with one upsert
(`flush_key_usage`) at most every API_KEY_USAGE_FLUSH_SECONDS, from Django's
`request_finished` signal, after the response has gone out, and at exit.
A process killed with SIGKILL loses at most that many seconds of counts.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import datetime

from django.conf import settings
from django.core.signals import request_finished
from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

# (key id, organization id, hour, ip, user agent) -> [first seen, last seen, count]
_buffer: dict[tuple[int, int, datetime, str, str], list] = {}
_lock = threading.Lock()
_last_flush = time.monotonic()


def record_key_use(key, ip: str | None, user_agent: str, now: datetime | None = None) -> None:
    """Count one request made with `key` (in memory)."""
    now = now or timezone.now()
    slot = (key.pk, key.organization_id, now.replace(minute=0, second=0, microsecond=0), ip or "", user_agent[:400])
    with _lock:
        entry = _buffer.get(slot)
        if entry is None:
            _buffer[slot] = [now, now, 1]
        else:
            if now > entry[1]:
                entry[1] = now
            entry[2] += 1


def pending() -> int:
    """How many aggregated rows wait for the next flush."""
    return len(_buffer)


def discard() -> None:
    """Drop what was counted and not written (tests)."""
    with _lock:
        _buffer.clear()


def flush_key_usage() -> int:
    """Write the counted uses: one upsert that adds to the hour's row; return the rows written."""
    global _last_flush
    from accounts.models import ApiKey, ApiKeyUse

    with _lock:
        taken = dict(_buffer)
        _buffer.clear()
        _last_flush = time.monotonic()
    if not taken:
        return 0
    # Keys deleted since (with their organization) have nothing left to log.
    owners = dict(ApiKey.objects.filter(pk__in={slot[0] for slot in taken}).values_list("pk", "organization_id"))
    rows = [(slot, entry) for slot, entry in taken.items() if slot[0] in owners]
    if not rows:
        return 0
    table = ApiKeyUse._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    params: list = []
    for (key_id, _, hour, ip, agent), (first, last, count) in rows:
        params += [key_id, owners[key_id], adapt(hour), ip, agent, adapt(first), adapt(last), count]
    sql = (
        f"INSERT INTO {table} (api_key_id, organization_id, hour, ip, user_agent, first_seen, last_seen, count) "
        f"VALUES {values} ON CONFLICT (api_key_id, hour, ip, user_agent) DO UPDATE SET "
        f"first_seen = {least}({table}.first_seen, excluded.first_seen), "
        f"last_seen = {greatest}({table}.last_seen, excluded.last_seen), "
        f"count = {table}.count + excluded.count"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return len(rows)


def _flush_when_due(sender=None, **kwargs) -> None:
    if not _buffer or time.monotonic() - _last_flush < settings.API_KEY_USAGE_FLUSH_SECONDS:
        return
    try:
        flush_key_usage()
    except Exception:
        log.exception("could not write API key use to the access log")


def _flush_at_exit() -> None:
    try:
        flush_key_usage()
    except Exception:
        log.warning("could not write API key use at exit", exc_info=True)


request_finished.connect(_flush_when_due, dispatch_uid="accounts.key_usage.flush")
atexit.register(_flush_at_exit)
