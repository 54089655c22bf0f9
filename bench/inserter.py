"""Single-message inserts at a steady rate, one row per statement, timing each (scenario 5).

Started by bench/run.py as its own process (so the purge and the inserts do not
share a GIL): `python -m bench.inserter --organization 7 --rate 200 --seconds 30
--out latencies.json`. It stops at `--seconds` or when `--stop-file` appears,
and writes {"latencies_ms": [...], "inserted": n} to `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organization", type=int, required=True)
    parser.add_argument("--rate", type=float, default=200.0, help="inserts per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--stop-file", default="")
    parser.add_argument("--ready-file", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.db import connection

    from bench.data import single_insert_sql
    from messaging.models import Message

    sql, sql_args = single_insert_sql(
        Message,
        {
            "organization_id": "%(org)s",
            "public_id": "gen_random_uuid()",
            "to": "'+14155550123'",
            "body": "'A live message while the purge runs'",
            "status": "'delivered'",
            "created_at": "now()",
            "updated_at": "now()",
            "queued_at": "now()",
        },
        {"org": args.organization},
    )
    latencies: list[float] = []
    interval = 1.0 / args.rate
    with connection.cursor() as cursor:
        cursor.execute(sql, sql_args)  # connect and warm the plan before timing
        if args.ready_file:
            Path(args.ready_file).touch()
        start = time.monotonic()
        deadline = start + args.seconds
        next_at = start
        while True:
            now = time.monotonic()
            if now >= deadline or (args.stop_file and os.path.exists(args.stop_file)):
                break
            if now < next_at:
                time.sleep(next_at - now)
            began = time.perf_counter()
            cursor.execute(sql, sql_args)
            latencies.append((time.perf_counter() - began) * 1000)
            next_at += interval
            if next_at < time.monotonic() - 1:
                next_at = time.monotonic()  # fell behind by more than a second: do not burst
    Path(args.out).write_text(json.dumps({"latencies_ms": latencies, "inserted": len(latencies)}))


if __name__ == "__main__":
    main()
