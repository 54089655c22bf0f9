"""Run the benchmarks of BENCHMARKS.md.

    python bench/run.py            # make bench: every scenario at its full size
    python bench/run.py --quick    # make bench-quick: under 3 minutes
    python bench/run.py --tiny     # a few hundred messages (tests/bench)
    python bench/run.py --full     # the purge on 10,000,000 messages
    python bench/run.py --only 1,3

It starts what it measures the way production runs it, on a database and a
Redis db of its own (`jood_bench`, db 1, both emptied first): gunicorn,
a Celery worker and celery-beat, and a mock provider, then loads them from
separate processes on loopback. Each scenario prints a line and appends a
record to bench/results/<timestamp>.json; the end prints a Markdown table.
Every process it started is stopped at the end, on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    BIN,
    PROFILES,
    RESULTS,
    ROOT,
    SCENARIO_NAMES,
    Processes,
    Record,
    Recorder,
    bench_database_url,
    bench_redis_url,
    commit_info,
    flush_redis,
    fmt,
    free_port,
    http_get,
    libpq,
    load_tool,
    log,
    machine_info,
    recreate_database,
    wait_for,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Jood Notifications benchmarks (BENCHMARKS.md).")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller sizes, under 3 minutes (make bench-quick)")
    size.add_argument("--full", action="store_true", help="the lists and the purge on 10,000,000 messages")
    size.add_argument("--tiny", action="store_true", help="a few hundred messages, a few seconds of load (tests)")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers, e.g. 1,3")
    parser.add_argument("--db-name", default="jood_bench", help="the bench's own database (dropped and created)")
    parser.add_argument("--redis-db", type=int, default=1, help="the bench's own Redis db (flushed)")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker processes (prefork)")
    parser.add_argument("--loadgen", default="auto", choices=["auto", "wrk", "python"])
    parser.add_argument("--results-dir", default=str(RESULTS))
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database for inspection")
    parser.add_argument(
        "--hold",
        type=float,
        default=0,
        help="keep everything running this many seconds after the scenarios (profiling)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = "tiny" if args.tiny else "quick" if args.quick else "full" if args.full else "default"
    sizes = PROFILES[profile]
    only = sorted({int(x) for x in args.only.split(",") if x.strip()}) if args.only else sorted(SCENARIO_NAMES)
    unknown = [n for n in only if n not in SCENARIO_NAMES]
    if unknown:
        raise SystemExit(f"no scenario {unknown}; there are {sorted(SCENARIO_NAMES)}")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    rundir = Path(tempfile.mkdtemp(prefix=f"jood-bench-{stamp}-"))
    tool = load_tool(args.loadgen)
    db_url, maintenance_url = bench_database_url(args.db_name)
    redis_url = bench_redis_url(args.redis_db)
    web_port, mock_port = free_port(), free_port()
    web_url, mock_url = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{mock_port}"
    worker_name = f"bench{os.getpid()}@{socket.gethostname()}"
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": _fernet_key(),
        "SECURE_SSL_REDIRECT": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PUBLIC_BASE_URL": web_url,
        # The mock provider listens on 127.0.0.1: the outbound guard must let it through.
        "OUTBOUND_ALLOW_PRIVATE": "True",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "VAR_DIR": str(rundir / "var"),
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    server = {
        "web": (
            f"gunicorn, {args.web_workers} {args.worker_class} workers"
            + (f" × {args.web_threads} threads" if args.worker_class == "gthread" else "")
        ),
        "worker": f"celery worker, prefork, --concurrency {args.concurrency}",
        "beat": "celery beat (django_celery_beat DatabaseScheduler)",
        "mock": "bench/mock_provider.py (asyncio, one process)",
        "load": tool,
    }
    print(f"Jood Notifications benchmarks: {profile} sizes, scenarios {','.join(map(str, only))}")
    print(f"  database {args.db_name}, Redis db {args.redis_db}; logs in {rundir}")
    print(f"  {server['web']}; {server['worker']}; load from {tool}")
    if tool == "python" and args.loadgen == "auto":
        print("  wrk is not installed (apt-get install -y wrk): the load comes from bench/loadgen.py")

    lock = _exclusive(args.db_name)
    procs = Processes(rundir)
    interrupted = False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C stops the run even when the shell started it with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    failures = 0
    try:
        recreate_database(db_url, maintenance_url)
        flush_redis(redis_url)
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        start = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        log(f"migrated {args.db_name} in {time.perf_counter() - start:.1f} s")

        from bench import scenarios

        fixtures = scenarios.create_fixtures(mock_url)
        child_env = {**os.environ, **env}
        procs.start(
            "mock", [sys.executable, str(ROOT / "bench" / "mock_provider.py"), "--port", str(mock_port)], child_env
        )
        web_argv = [
            str(BIN / "gunicorn"),
            "bench.plain_app:application",
            "--bind",
            f"127.0.0.1:{web_port}",
            "--workers",
            str(args.web_workers),
            "--worker-class",
            args.worker_class,
            "--backlog",
            "2048",
            "--timeout",
            "120",
            "--graceful-timeout",
            "5",
            "--keep-alive",
            "5",
        ]
        if args.worker_class == "gthread":
            web_argv += ["--threads", str(args.web_threads)]
        web = procs.start("gunicorn", web_argv, child_env)
        procs.start(
            "celery-worker",
            [
                str(BIN / "celery"),
                "-A",
                "jood",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(args.concurrency),
                "--loglevel",
                "INFO",
                "-n",
                worker_name,
                "--without-mingle",
                "--without-gossip",
                *scenarios.worker_queue_args(),
            ],
            child_env,
        )
        procs.start(
            "celery-beat",
            [
                str(BIN / "celery"),
                "-A",
                "jood",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(rundir / "beat-schedule"),
                "--pidfile",
                str(rundir / "beat.pid"),
            ],
            child_env,
        )
        wait_for("the mock provider", lambda: "READY" in (rundir / "mock.log").read_text(), 20, procs)
        wait_for("gunicorn", lambda: http_get(f"{web_url}/healthz", timeout=2)[0] == 200, 60, procs)
        wait_for("the Celery worker", lambda: scenarios.worker_ping(worker_name), 60, procs)
        log("mock provider, gunicorn, Celery worker and beat are up")

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            pg_version = cursor.fetchone()[0].split()[0]
            pg_settings = {}
            for name in ("shared_buffers", "synchronous_commit", "max_connections", "work_mem"):
                cursor.execute(f"SHOW {name}")
                pg_settings[name] = cursor.fetchone()[0]
        import redis

        redis_info = redis.Redis.from_url(redis_url).info("server")
        redis_version = redis_info.get("redis_version", "")
        machine = machine_info(pg_version, redis_version, tool)
        recorder = Recorder(
            Path(args.results_dir) / f"{stamp}.json",
            {
                "run": stamp,
                "profile": profile,
                "machine": machine,
                **commit_info(),
                "server": server,
                "postgres_settings": pg_settings,
            },
        )
        ctx = scenarios.Context(
            sizes=sizes,
            web_url=web_url,
            mock_url=mock_url,
            public_base_url=web_url,
            procs=procs,
            logdir=rundir,
            tool=tool,
            worker_name=worker_name,
            web_master_pid=web.popen.pid,
            server=server,
            fixtures=fixtures,
            redis_pid=redis_info.get("process_id") if "127.0.0.1" in redis_url or "localhost" in redis_url else None,
        )
        print(
            f"  {machine['cores']} cores, {machine['memory_gib']} GiB; Python {machine['versions']['python']}, "
            f"Django {machine['versions']['django']}, PostgreSQL {pg_version}, Redis {redis_version}; "
            f"commit {recorder.context['commit']}"
        )
        # The lists (6) read the expired logs that the purge (5) then deletes: 6 runs first.
        order = [n for n in only if n not in (5, 6)] + [n for n in (6, 5) if n in only]
        for number in order:
            name, func = scenarios.SCENARIOS[number]
            print(f"\n[{number}] {name}", flush=True)
            started = time.perf_counter()
            load_before = round(os.getloadavg()[0], 2)
            try:
                record = func(ctx)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                failures += 1
                traceback.print_exc()
                record = Record(
                    scenario=number,
                    name=name,
                    figure=None,
                    unit="",
                    ceiling=None,
                    ceiling_unit="",
                    ceiling_what="",
                    ratio=None,
                    target="",
                    met=None,
                    available=False,
                    summary=f"error: {exc.__class__.__name__}: {exc}",
                    details={"error": traceback.format_exc()[-4000:]},
                )
            record.details["scenario_seconds"] = round(time.perf_counter() - started, 1)
            record.details["loadavg_1m_before"] = load_before
            recorder.add(record)
        print(f"\nResults: {recorder.path}")
        print(markdown_table(recorder.records))
        if args.hold:
            print(f"Holding for {args.hold:.0f} s: web {web_url} (gunicorn pid {web.popen.pid}), mock {mock_url}")
            print(f"  send key: {fixtures['send_key']}", flush=True)
            time.sleep(min(args.hold, 3600))
    except KeyboardInterrupt:
        interrupted = True
        print("\nInterrupted: stopping what the bench started.", flush=True)
    finally:
        procs.stop_all()
        if "django" in sys.modules and _django_ready():
            from django.db import connections

            connections.close_all()
        if not args.keep_db:
            try:
                _drop_database(db_url, maintenance_url)
                flush_redis(redis_url)
            except Exception as exc:  # the data is the bench's own; a leftover is only space
                print(f"could not drop {args.db_name} or flush Redis db {args.redis_db}: {exc}")
    lock.close()
    if interrupted:
        return 130
    return 1 if failures else 0


def _exclusive(db_name: str):
    """Hold a lock for the run: two runs on one database would drop each other's data."""
    import fcntl

    handle = open(Path(tempfile.gettempdir()) / f"jood-bench-{db_name}.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another bench run is using {db_name}; wait for it or give --db-name jood_bench_<x>")
    return handle


def _django_ready() -> bool:
    from django.apps import apps

    return apps.ready


def _drop_database(db_url: str, maintenance_url: str) -> None:
    from urllib.parse import urlsplit

    import psycopg

    name = urlsplit(db_url).path.lstrip("/")
    with psycopg.connect(libpq(maintenance_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def markdown_table(records: list[dict]) -> str:
    """The table of BENCHMARKS.md."""
    lines = [
        "| # | scenario | result | ceiling | ratio | CPU per operation | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ceiling = f"{fmt(r['ceiling'])} {r['ceiling_unit']} ({r['ceiling_what']})" if r["ceiling"] is not None else "–"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "–"
        met = {True: "yes", False: "**no**", None: "n/a"}[r["met"]]
        cpu = (r.get("details") or {}).get("cpu")
        cpu_text = "–"
        if cpu:
            parts = " + ".join(f"{name} {ms:.1f}" for name, ms in cpu["cpu_ms_per_op"].items() if ms >= 0.05)
            cpu_text = f"{parts} ms (≈ {fmt(cpu['projected_per_s_on_idle_machine'])}/s on idle cores)"
        lines.append(
            f"| {r['scenario']} | {r['name']} | {r['summary']} | {ceiling} | {ratio} | {cpu_text} "
            f"| {r['target']} | {met} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
