"""The six scenarios of BENCHMARKS.md, each with its ceiling measured in the same run.

Each function takes the run's `Context`, measures, and returns a `Record`;
bench/run.py prints and stores it. They run in the orchestrator process,
which has Django set up on the bench database (bench.settings).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import importlib.util
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from urllib.parse import urlencode

from django.db import close_old_connections, connection

from bench import data
from bench.harness import (
    ROOT,
    SCENARIO_NAMES,
    CpuMeter,
    LoadResult,
    Processes,
    Record,
    Sizes,
    children,
    fmt,
    http_get,
    http_json,
    log,
    percentile,
    run_load,
    tree,
    vm_hwm_kib,
)

SEND_CONNECTIONS = 32
SEND_KEYS = 64
WEBHOOK_CONNECTIONS = 64
MOCK_CONNECTIONS = 32
INSERT_RATE = 200.0  # single inserts per second beside the purge

TWILIO_SID = "AC" + "b3" * 16
TWILIO_TOKEN = "5e" * 16
WA_PHONE_NUMBER_ID = "105550000000001"
WA_WABA_ID = "205550000000002"
WA_APP_SECRET = "bench-app-secret-" + "7f" * 8


@dataclass
class Context:
    sizes: Sizes
    web_url: str
    mock_url: str
    public_base_url: str
    procs: Processes
    logdir: Path
    tool: str
    worker_name: str
    web_master_pid: int
    server: dict
    fixtures: dict = field(default_factory=dict)
    worker_paused: bool = False
    redis_pid: int | None = None

    def pid(self, name: str) -> int:
        return next(p.popen.pid for p in self.procs.procs if p.name == name)

    def meter(self, *groups: str) -> CpuMeter:
        """CPU of the named groups (web, worker, postgres, redis, mock) over a `with` block."""

        def postgres() -> list[int]:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                return [row[0] for row in cursor.fetchall()]

        available = {
            "web": lambda: tree(self.pid("gunicorn")),
            "worker": lambda: tree(self.pid("celery-worker")),
            "postgres": postgres,
            "redis": lambda: [self.redis_pid] if self.redis_pid else [],
            "mock": lambda: [self.pid("mock")],
        }
        return CpuMeter({name: available[name] for name in groups})

    def load(self, script: str, url: str, connections: int, seconds: float, env: dict | None = None) -> LoadResult:
        return run_load(
            script,
            url,
            connections=connections,
            seconds=seconds,
            env=env or {},
            threads=self.sizes.wrk_threads,
            tool=self.tool,
            logdir=self.logdir,
        )


# --- fixtures ----------------------------------------------------------------------
def create_fixtures(mock_url: str) -> dict:
    """Organizations, people, keys and provider accounts (pointing at the mock) of a run."""
    from accounts import services as account_services
    from accounts.models import Membership, Organization, Role, User
    from providers import services as provider_services

    fx: dict = {}
    fx["superuser"] = User.objects.create_superuser("bench-admin@example.com", "bench-" + os.urandom(8).hex())
    owner = User.objects.create_user("bench-owner@example.com", name="Bench Owner")
    fx["owner"] = owner

    def organization(name: str) -> Organization:
        org = Organization.objects.create(name=name)
        Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
        return org

    def twilio(org, label="Mock Twilio"):
        return provider_services.connect_account(
            org,
            provider="twilio",
            channel="sms",
            label=label,
            credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
            api_base_url=f"{mock_url}/2010-04-01",
            default_sender="+15005550006",
            messages_per_second=0,
        )

    def whatsapp(org):
        return provider_services.connect_account(
            org,
            provider="whatsapp",
            channel="whatsapp",
            label="Mock WhatsApp",
            credentials={
                "access_token": "EAAB" + "x" * 40,
                "phone_number_id": WA_PHONE_NUMBER_ID,
                "waba_id": WA_WABA_ID,
                "app_secret": WA_APP_SECRET,
                "verify_token": "bench-verify",
            },
            api_base_url=f"{mock_url}/v21.0",
            default_sender="+15550001111",
            messages_per_second=0,
        )

    fx["send_org"] = organization("Bench Send")
    fx["send_account"] = twilio(fx["send_org"])
    _, fx["send_key"] = account_services.create_api_key(fx["send_org"], "bench member", role=Role.MEMBER)
    # The single sends take these in turn: each key stays far below the per-key throttle.
    fx["send_keys"] = [
        account_services.create_api_key(fx["send_org"], f"bench load {i}", role=Role.MEMBER)[1]
        for i in range(SEND_KEYS)
    ]
    _, fx["send_admin_key"] = account_services.create_api_key(fx["send_org"], "bench admin", role=Role.ADMIN)

    fx["dispatch_org"] = organization("Bench Dispatch")
    fx["dispatch_account"] = twilio(fx["dispatch_org"])

    fx["webhook_org"] = organization("Bench Webhooks")
    fx["webhook_twilio"] = twilio(fx["webhook_org"])
    fx["webhook_whatsapp"] = whatsapp(fx["webhook_org"])

    # The expired logs: listed by scenario 6, purged by scenario 5. Their own owner sees only them in the portal.
    fx["logs_owner"] = User.objects.create_user("bench-logs@example.com", name="Bench Logs Owner")
    _accept_privacy_policy(fx["logs_owner"])
    fx["logs_org"] = Organization.objects.create(name="Bench Logs")
    Membership.objects.create(user=fx["logs_owner"], organization=fx["logs_org"], role=Role.OWNER)
    fx["list_account"] = twilio(fx["logs_org"])
    _, fx["logs_key"] = account_services.create_api_key(fx["logs_org"], "bench lists", role=Role.MEMBER)
    fx["purge_ceiling_org"] = organization("Bench Purge Ceiling")
    fx["live_org"] = organization("Bench Live")
    return fx


def _accept_privacy_policy(user) -> None:
    """Let the portal show its pages to this user (retention's consent middleware asks first otherwise)."""
    if not hasattr(user, "privacy_policy_version"):
        return
    try:
        from retention.services import current_policy_version
    except ImportError:
        return
    type(user).objects.filter(pk=user.pk).update(privacy_policy_version=current_policy_version())
    user.privacy_policy_version = current_policy_version()


# --- the Celery worker -----------------------------------------------------------
def _celery():
    from jood.celery import app

    return app


def worker_ping(name: str) -> bool:
    return bool(_celery().control.ping(destination=[name], timeout=1.0))


def worker_queues() -> list[str]:
    """The queues a worker for everything consumes (jood/celery.py's lanes, or the one default queue)."""
    try:
        from jood.celery import all_queues
    except ImportError:
        return ["celery"]
    return all_queues()


def worker_queue_args() -> list[str]:
    queues = worker_queues()
    return [] if queues == ["celery"] else ["-Q", ",".join(queues)]


def pause_worker(ctx: Context) -> None:
    """Stop the worker taking tasks: scenarios 1 and 2 measure the web process alone."""
    if not ctx.worker_paused:
        for queue in worker_queues():
            _celery().control.cancel_consumer(queue, destination=[ctx.worker_name], reply=True, timeout=5)
        ctx.worker_paused = True


def ensure_consuming(ctx: Context) -> int:
    """Let the worker take tasks again, after dropping the backlog that scenarios 1 and 2 left.

    The tasks are purged from the broker and their messages canceled: they are
    not part of any measurement. Returns how many tasks were dropped.
    """
    if not ctx.worker_paused:
        return 0
    discarded = _purge_broker()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET status = 'canceled', canceled_at = now() "
            "WHERE organization_id = %s AND status IN ('queued', 'sending', 'scheduled')",
            [ctx.fixtures["send_org"].pk],
        )
    for queue in worker_queues():
        _celery().control.add_consumer(queue, destination=[ctx.worker_name], reply=True, timeout=5)
    ctx.worker_paused = False
    return discarded


def _purge_broker() -> int:
    """Drop every queued task and the dispatch lanes' waiting ids (Redis lists and sets)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    dropped = 0
    for queue in worker_queues():
        dropped += client.llen(queue)
        client.delete(queue)
    for key in client.scan_iter("jood:lane:*"):
        client.delete(key)
    return dropped


# --- 1. single send --------------------------------------------------------------
def single_send(ctx: Context) -> Record:
    sizes = ctx.sizes
    env = {"BENCH_TOKENS": ",".join(ctx.fixtures["send_keys"])}
    pause_worker(ctx)
    ctx.load("send", ctx.web_url, SEND_CONNECTIONS, sizes.warmup_seconds, env)
    with ctx.meter("web", "postgres", "redis") as cpu:
        result = ctx.load("send", ctx.web_url, SEND_CONNECTIONS, sizes.load_seconds, env)
    ctx.load("plain", ctx.web_url, SEND_CONNECTIONS, sizes.warmup_seconds)
    with ctx.meter("web", "postgres", "redis") as plain_cpu:
        ceiling = ctx.load("plain", ctx.web_url, SEND_CONNECTIONS, sizes.load_seconds)
    figure = result.ok / result.seconds
    plain = ceiling.ok / ceiling.seconds
    accepted = result.statuses.get("202", 0)
    met = figure >= 700 and result.p99_ms <= 50 and result.failed == 0
    return Record(
        scenario=1,
        name="single send",
        figure=round(figure, 1),
        unit="req/s",
        ceiling=round(plain, 1),
        ceiling_unit="req/s",
        ceiling_what="plain Django view, same server",
        ratio=round(figure / plain, 3) if plain else None,
        target="≥ 700 req/s, p99 ≤ 50 ms",
        met=met,
        summary=(
            f"{fmt(figure)} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms "
            f"({accepted} × 202, {result.failed} failed)"
        ),
        details={
            "connections": SEND_CONNECTIONS,
            "seconds": round(result.seconds, 2),
            "requests": result.requests,
            "statuses": result.statuses,
            "errors": result.errors,
            "p50_ms": result.p50_ms,
            "p90_ms": result.p90_ms,
            "p99_ms": result.p99_ms,
            "max_ms": result.max_ms,
            "ceiling_p50_ms": ceiling.p50_ms,
            "ceiling_p99_ms": ceiling.p99_ms,
            "worker": "paused (not consuming) while measured",
            "api_keys": SEND_KEYS,
            "tool": result.tool,
            "cpu": cpu.summary(result.ok),
            "ceiling_cpu": plain_cpu.summary(ceiling.ok),
        },
    )


# --- 2. bulk ---------------------------------------------------------------------
FIRST_NAMES = ["Sara", "Omar", "Lina", "Yusuf", "Maya", "Adam", "Noor", "Zaid", "Huda", "Karim"]


def bulk_send(ctx: Context) -> Record:
    sizes = ctx.sizes
    headers = {"Authorization": f"Token {ctx.fixtures['send_key']}"}
    admin = {"Authorization": f"Token {ctx.fixtures['send_admin_key']}"}
    status, _, body, _ = http_json(
        "POST",
        f"{ctx.web_url}/api/v1/templates",
        {
            "name": "bench-welcome",
            "channel": "sms",
            "body": "Hello {{first_name}}, welcome to Jood. Reply STOP to opt out.",
        },
        admin,
    )
    if status not in (200, 201):
        raise RuntimeError(f"creating the template answered {status}: {body}")
    n = sizes.bulk_recipients
    recipients = [
        {"to": f"+1415555{i:04d}", "parameters": {"first_name": FIRST_NAMES[i % len(FIRST_NAMES)]}} for i in range(n)
    ]
    payload = {"template": "bench-welcome", "name": "bench bulk", "recipients": recipients}
    pause_worker(ctx)
    runs = []
    for run in range(sizes.bulk_runs):
        workers = children(ctx.web_master_pid)
        before = {pid: vm_hwm_kib(pid) for pid in workers}
        with ctx.meter("web", "postgres") as cpu:
            status, resp_headers, body, seconds = http_json(
                "POST", f"{ctx.web_url}/api/v1/messages/bulk", payload, headers
            )
        if status != 202:
            raise RuntimeError(f"bulk send answered {status}: {str(body)[:500]}")
        pid = int(resp_headers.get("X-Bench-Worker", "0"))
        runs.append(
            {
                "seconds": round(seconds, 4),
                "accepted": body.get("accepted"),
                "refused": len(body.get("refused") or []),
                "batch": body["batch"]["id"],
                "worker_pid": pid,
                "vmhwm_before_mib": round((before.get(pid) or 0) / 1024, 1),
                "vmhwm_after_mib": round((vm_hwm_kib(pid) or 0) / 1024, 1),
                "cpu_seconds": cpu.seconds,
                "other_processes_share": cpu.others,
            }
        )
        log(f"bulk run {run + 1}: 202 in {seconds:.3f} s, worker {pid} peak {runs[-1]['vmhwm_after_mib']} MiB")
    seconds = statistics.median(r["seconds"] for r in runs)
    accepted = runs[-1]["accepted"] or 0
    figure = accepted / seconds
    peak = max(r["vmhwm_after_mib"] for r in runs)

    # Ceiling: PostgreSQL COPY of the same rows into a scratch copy of the table.
    from messaging.models import Batch, Message

    batch = Batch.objects.get(public_id=runs[-1]["batch"])
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE bench_copy (LIKE {table} INCLUDING DEFAULTS)")
        raw = bytearray()
        with cursor.copy(f"COPY (SELECT * FROM {table} WHERE batch_id = %s) TO STDOUT", [batch.pk]) as copy:
            for chunk in copy:
                raw += chunk
        start = time.perf_counter()
        with cursor.copy("COPY bench_copy FROM STDIN") as copy:
            copy.write(bytes(raw))
        copy_seconds = time.perf_counter() - start
        cursor.execute("SELECT count(*) FROM bench_copy")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_copy")
    ceiling = copied / copy_seconds
    return Record(
        scenario=2,
        name="bulk send",
        figure=round(figure, 1),
        unit="msg/s accepted",
        ceiling=round(ceiling, 1),
        ceiling_unit="rows/s",
        ceiling_what="COPY of the same rows into a scratch table",
        ratio=round(figure / ceiling, 3),
        target="10,000 → 202 in ≤ 0.4 s, web peak ≤ 300 MiB",
        met=(n < 10_000 or seconds <= 0.4) and peak <= 300,
        summary=f"{accepted:,} recipients → 202 in {seconds:.3f} s ({fmt(figure)} msg/s), web peak {peak:.0f} MiB",
        details={
            "recipients": n,
            "seconds_to_202": seconds,
            "peak_mib": peak,
            "runs": runs,
            "copy_seconds": round(copy_seconds, 4),
            "copy_rows": copied,
            "payload_bytes": len(json.dumps(payload)),
            "worker": "paused (not consuming) while measured",
            "cpu": cpu.summary(accepted),
        },
    )


# --- 3. dispatch -----------------------------------------------------------------
def dispatch(ctx: Context) -> Record:
    from messaging.dispatch import publish_dispatch

    sizes = ctx.sizes
    fx = ctx.fixtures
    discarded = ensure_consuming(ctx)
    org = fx["dispatch_org"]
    n = sizes.dispatch_messages
    with data.timed(f"inserted {n:,} queued messages", log):
        ids = data.insert_messages(
            n,
            {
                "organization_id": "%(org)s",
                "public_id": "gen_random_uuid()",
                "channel": "'sms'",
                "to": "'+1415555' || lpad(mod(g, 10000)::text, 4, '0')",
                "body": "'Your Jood dispatch bench code is ' || g",
                "status": "'queued'",
                "encoding": "'GSM-7'",
                "created_at": "now()",
                "updated_at": "now()",
                "queued_at": "now()",
            },
            params={"org": org.pk},
            returning=True,
        )
        data.analyze(type(org)._meta.apps.get_model("messaging", "Message"))
    http_json("POST", f"{ctx.mock_url}/_reset", {}, {})
    cpu = ctx.meter("worker", "postgres", "redis", "mock").__enter__()
    start = time.time()
    publish_dispatch(ids)
    published = time.time() - start
    log(f"published {len(ids):,} messages in {published:.1f} s")
    deadline = time.monotonic() + sizes.dispatch_timeout
    counts: dict[str, int] = {}
    pending = n
    while time.monotonic() < deadline:
        ctx.procs.check_alive()
        counts = _status_counts(org.pk)
        pending = sum(counts.get(s, 0) for s in ("queued", "sending", "scheduled"))
        if pending == 0:
            break
        time.sleep(0.25)
    cpu.__exit__(None, None, None)
    timed_out = pending > 0
    if timed_out:
        # Past the time box: the rate so far is the figure; drop the rest so the next scenarios start clean.
        stopped_at = time.time()
        counts = _status_counts(org.pk)
        sent_by_then = counts.get("sent", 0) + counts.get("delivered", 0)
        dropped = _drop_dispatch(org.pk)
        log(f"time box of {sizes.dispatch_timeout:.0f} s reached: {sent_by_then:,} sent, {dropped:,} dropped")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(sent_at), min(sent_at) FROM messaging_message "
            "WHERE organization_id = %s AND sent_at IS NOT NULL",
            [org.pk],
        )
        last, first = cursor.fetchone()
    if timed_out:
        sent, until_last = sent_by_then, stopped_at - start
    else:
        sent = counts.get("sent", 0) + counts.get("delivered", 0)
        until_last = (last.timestamp() - start) if last else None
    figure = sent / until_last if until_last else 0.0
    failed = counts.get("failed", 0)
    mock_stats = json.loads(http_get(f"{ctx.mock_url}/_stats")[2] or b"{}")

    # Ceiling: the mock's own rate, POSTed to by wrk as the adapter does.
    path = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    ctx.load("mock", ctx.mock_url, MOCK_CONNECTIONS, ctx.sizes.warmup_seconds, {"BENCH_TWILIO_PATH": path})
    ceiling = ctx.load("mock", ctx.mock_url, MOCK_CONNECTIONS, ctx.sizes.load_seconds, {"BENCH_TWILIO_PATH": path})
    raw_rate = ceiling.ok / ceiling.seconds
    ratio = figure / raw_rate if raw_rate else None
    return Record(
        scenario=3,
        name="dispatch end to end",
        figure=round(figure, 1),
        unit="msg/s",
        ceiling=round(raw_rate, 1),
        ceiling_unit="req/s",
        ceiling_what="the mock provider's raw rate (wrk)",
        ratio=round(ratio, 3) if ratio is not None else None,
        target="≥ 3,000 msg/s and ≥ 50% of the mock's rate",
        met=bool(figure >= 3000 and (ratio or 0) >= 0.5 and not timed_out and not failed),
        summary=(
            f"{sent:,}/{n:,} sent in {until_last or 0:.1f} s ({fmt(figure)} msg/s)"
            if not timed_out
            else f"{sent:,}/{n:,} sent in the {until_last:.0f} s time box ({fmt(figure)} msg/s; "
            f"all {n:,} would take ~{n / figure if figure else 0:.0f} s)"
        )
        + (f", {failed:,} failed" if failed else ""),
        details={
            "messages": n,
            "sent": sent,
            "counts": counts,
            "timed_out": timed_out,
            "time_box_seconds": sizes.dispatch_timeout,
            "seconds_to_last_sent": round(until_last or 0, 2),
            "seconds_to_first_sent": round(first.timestamp() - start, 3) if first else None,
            "publish_seconds": round(published, 2),
            "tasks": (n + 49) // 50,
            "worker": ctx.server["worker"],
            "mock_requests": mock_stats,
            "mock_p99_ms": ceiling.p99_ms,
            "discarded_backlog_tasks": discarded,
            "cpu": cpu.summary(counts.get("sent", 0) + counts.get("delivered", 0)),
        },
    )


def _drop_dispatch(org_id: int) -> int:
    """Purge the broker and cancel what is still queued; wait for the chunks in flight to finish."""
    _purge_broker()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE messaging_message SET status = 'canceled', canceled_at = now() "
            "WHERE organization_id = %s AND status = 'queued'",
            [org_id],
        )
        dropped = cursor.rowcount
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _status_counts(org_id).get("sending", 0):
        time.sleep(0.25)
    return dropped


def _status_counts(org_id: int) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*) FROM messaging_message WHERE organization_id = %s GROUP BY status", [org_id]
        )
        return dict(cursor.fetchall())


# --- 4. webhooks -----------------------------------------------------------------
def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 over the URL and the sorted POST params (name + value)."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def webhooks(ctx: Context) -> Record:
    from messaging.models import Message
    from webhooks.models import WebhookEvent

    sizes = ctx.sizes
    fx = ctx.fixtures
    ensure_consuming(ctx)
    org, tw, wa = fx["webhook_org"], fx["webhook_twilio"], fx["webhook_whatsapp"]
    n = sizes.webhook_messages
    half = n // 2
    common = {
        "organization_id": "%(org)s",
        "public_id": "gen_random_uuid()",
        "status": "'sent'",
        "provider_account_id": "%(account)s",
        "created_at": "now() - interval '1 minute'",
        "updated_at": "now() - interval '1 minute'",
        "queued_at": "now() - interval '1 minute'",
        "sent_at": "now() - interval '1 minute'",
        "attempts": "1",
    }
    with data.timed(f"inserted {2 * half:,} sent messages", log):
        data.insert_messages(
            half,
            {
                **common,
                "channel": "'sms'",
                "to": "'+1415555' || lpad(mod(g, 10000)::text, 4, '0')",
                "body": "'Webhook bench ' || g",
                "provider": "'twilio'",
                "provider_message_id": "'SMbench' || lpad(g::text, 27, '0')",
                "encoding": "'GSM-7'",
            },
            params={"org": org.pk, "account": tw.pk},
        )
        data.insert_messages(
            half,
            {
                **common,
                "channel": "'whatsapp'",
                "to": "'+1415555' || lpad(mod(g, 10000)::text, 4, '0')",
                "body": "'Webhook bench ' || g",
                "provider": "'whatsapp'",
                "provider_message_id": "'wamid.bench' || g",
            },
            params={"org": org.pk, "account": wa.pk},
        )
        data.analyze(Message)
    twilio_path = f"/webhooks/twilio/{tw.public_id}/"
    whatsapp_path = f"/webhooks/whatsapp/{wa.public_id}/"
    twilio_url = ctx.public_base_url + twilio_path
    lines = []
    now = int(time.time())
    for i in range(1, half + 1):
        sid = "SMbench" + str(i).zfill(27)
        to = f"+1415555{i % 10000:04d}"
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
            "AccountSid": TWILIO_SID,
            "From": "+15005550006",
            "To": to,
            "ApiVersion": "2010-04-01",
        }
        lines.append(
            "\t".join(
                [
                    twilio_path,
                    "application/x-www-form-urlencoded",
                    "X-Twilio-Signature",
                    twilio_signature(TWILIO_TOKEN, twilio_url, params),
                    urlencode(params),
                ]
            )
        )
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": WA_WABA_ID,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": WA_PHONE_NUMBER_ID,
                                },
                                "statuses": [
                                    {
                                        "id": f"wamid.bench{i}",
                                        "status": "delivered",
                                        "timestamp": str(now),
                                        "recipient_id": to.lstrip("+"),
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        body = json.dumps(payload, separators=(",", ":"))
        signature = "sha256=" + hmac.new(WA_APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        lines.append("\t".join([whatsapp_path, "application/json", "X-Hub-Signature-256", signature, body]))
    callbacks = ctx.logdir / "webhooks.tsv"
    callbacks.write_text("\n".join(lines) + "\n")
    accounts = [tw.pk, wa.pk]

    cpu = ctx.meter("web", "worker", "postgres", "redis").__enter__()
    result = ctx.load(
        "webhooks", ctx.web_url, WEBHOOK_CONNECTIONS, sizes.load_seconds, {"BENCH_WEBHOOK_FILE": str(callbacks)}
    )
    load_ended = time.time()
    # Every callback is applied when no event waits and each stored (not repeated) event moved its message.
    deadline = time.monotonic() + sizes.apply_timeout
    applied_at = None
    events = delivered = waiting = 0
    while time.monotonic() < deadline:
        ctx.procs.check_alive()
        events = WebhookEvent.objects.filter(provider_account_id__in=accounts).exclude(state="ignored").count()
        waiting = WebhookEvent.objects.filter(provider_account_id__in=accounts, state="received").count()
        delivered = Message.objects.filter(organization=org, status="delivered").count()
        if waiting == 0 and delivered >= events:
            applied_at = time.time()
            break
        time.sleep(0.1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(received_at), min(received_at) FROM webhooks_webhookevent WHERE provider_account_id = ANY(%s)",
            [accounts],
        )
        last_request, first_request = cursor.fetchone()
        cursor.execute(
            "SELECT max(updated_at) FROM messaging_message WHERE organization_id = %s AND status = 'delivered'",
            [org.pk],
        )
        (last_applied,) = cursor.fetchone()
    cpu.__exit__(None, None, None)
    lag = (last_applied - last_request).total_seconds() if last_applied and last_request else None
    failed_events = WebhookEvent.objects.filter(provider_account_id__in=accounts, state="failed").count()
    if applied_at is None:
        # Past the time box: drop what waits so the next scenarios start clean (the sweeper would re-queue it).
        _celery().control.purge()
        WebhookEvent.objects.filter(provider_account_id__in=accounts, state="received").update(
            state="failed", error="bench: dropped at the end of the time box"
        )

    ctx.load("plain", ctx.web_url, WEBHOOK_CONNECTIONS, sizes.warmup_seconds)
    with ctx.meter("web", "postgres", "redis") as plain_cpu:
        ceiling = ctx.load("plain", ctx.web_url, WEBHOOK_CONNECTIONS, sizes.load_seconds)
    figure = result.ok / result.seconds
    plain = ceiling.ok / ceiling.seconds
    exhausted = result.sent >= len(lines)
    all_applied = applied_at is not None
    met = figure >= 2000 and result.p99_ms <= 25 and all_applied and lag is not None and lag <= 5 and result.failed == 0
    return Record(
        scenario=4,
        name="webhook intake",
        figure=round(figure, 1),
        unit="req/s",
        ceiling=round(plain, 1),
        ceiling_unit="req/s",
        ceiling_what="plain Django view, same server",
        ratio=round(figure / plain, 3) if plain else None,
        target="≥ 2,000 req/s, p99 ≤ 25 ms, all applied ≤ 5 s after the last",
        met=met,
        summary=(
            f"{fmt(figure)} req/s, p99 {result.p99_ms:.1f} ms; {delivered:,}/{events:,} applied, "
            + (f"the last {lag:.1f} s after the last request" if lag is not None else "lag unknown")
            + ("" if all_applied else f" (not all applied within the {sizes.apply_timeout:.0f} s time box)")
        ),
        details={
            "connections": WEBHOOK_CONNECTIONS,
            "requests": result.requests,
            "statuses": result.statuses,
            "errors": result.errors,
            "p50_ms": result.p50_ms,
            "p99_ms": result.p99_ms,
            "max_ms": result.max_ms,
            "callbacks_available": len(lines),
            "callbacks_sent": result.sent,
            "callbacks_exhausted": exhausted,
            "events_stored": events,
            "events_failed": failed_events,
            "messages_delivered": delivered,
            "apply_lag_seconds": round(lag, 2) if lag is not None else None,
            "intake_seconds": round((last_request - first_request).total_seconds(), 2) if last_request else None,
            "all_applied_seconds_after_load": round(applied_at - load_ended, 2) if applied_at else None,
            "ceiling_p99_ms": ceiling.p99_ms,
            "worker": ctx.server["worker"],
            "tool": result.tool,
            "cpu": cpu.summary(events),
            "ceiling_cpu": plain_cpu.summary(ceiling.ok),
        },
    )


# --- the expired logs that 6 lists and 5 purges --------------------------------------
def _log_exprs(days: int) -> dict[str, str]:
    """Messages `days` to `days + 10` old, mostly delivered, as the lists and the purge see them."""
    age = f"now() - interval '{days} days' - mod(g, 864000) * interval '1 second'"
    return {
        "organization_id": "%(org)s",
        "public_id": "gen_random_uuid()",
        "channel": "'sms'",
        "to": "'+1415' || (2000000 + mod(g, 1000000))::text",
        "body": "'Your Jood code is ' || g",
        "status": (
            "CASE mod(g, 20) WHEN 0 THEN 'failed' WHEN 1 THEN 'sent' WHEN 2 THEN 'read' "
            "WHEN 3 THEN 'undelivered' ELSE 'delivered' END"
        ),
        "provider_account_id": "%(account)s",
        "provider": "'twilio'",
        "provider_message_id": "'SMlog' || lpad(g::text, 29, '0')",
        "encoding": "'GSM-7'",
        "created_at": age,
        "updated_at": age,
        "queued_at": age,
        "sent_at": f"{age} + interval '1 second'",
        "delivered_at": f"CASE WHEN mod(g, 20) IN (0, 1, 3) THEN NULL ELSE {age} + interval '3 seconds' END",
        "attempts": "1",
    }


EVENT_EXPRS = {
    "status": "CASE e WHEN 1 THEN 'sent' ELSE 'delivered' END",
    "raw_status": "CASE e WHEN 1 THEN 'sent' ELSE 'delivered' END",
    "source": "CASE e WHEN 1 THEN 'dispatch' ELSE 'webhook' END",
    "applied": "true",
    "received_at": "m.created_at + e * interval '1 second'",
    "dedup_key": "m.provider_message_id || ':' || e",
}


def _generate_logs(org, account, n: int, per_message: int, *, chatty: bool = False) -> float:
    """Insert n expired messages of `org` with `per_message` events each; return the seconds it took."""
    start = time.perf_counter()

    def progress(done):
        if chatty:
            log(f"  {done:,} / {n:,} messages")

    data.insert_messages(n, _log_exprs(100), params={"org": org.pk, "account": account.pk}, progress=progress)
    data.insert_events("m.organization_id = %(org)s", per_message, EVENT_EXPRS, params={"org": org.pk})
    data.analyze(*_models("Message", "MessageEvent"))
    return time.perf_counter() - start


def ensure_logs(ctx: Context) -> dict:
    """The expired messages of "Bench Logs" (with their events), generated once for scenarios 6 and 5."""
    if "logs" not in ctx.fixtures:
        n, per = ctx.sizes.log_messages, ctx.sizes.events_per_message
        log(f"generating {n:,} expired messages with {per} events each (INSERT ... SELECT generate_series)")
        seconds = _generate_logs(ctx.fixtures["logs_org"], ctx.fixtures["list_account"], n, per, chatty=n >= 500_000)
        log(f"generated {n:,} messages and {n * per:,} events in {seconds:.1f} s")
        ctx.fixtures["logs"] = {"messages": n, "events": n * per, "generation_seconds": round(seconds, 1)}
    return ctx.fixtures["logs"]


def _models(*names: str):
    from django.apps import apps

    return [apps.get_model("messaging", name) for name in names]


# --- 5. purge --------------------------------------------------------------------
def find_purge() -> tuple[object | None, str]:
    """Return the retention app's public purge function, or (None, why not)."""
    if importlib.util.find_spec("retention.purge") is None:
        return None, "retention/purge.py does not exist yet"
    module = importlib.import_module("retention.purge")
    for name in ("run", "run_purge", "purge", "purge_message_logs", "purge_expired"):
        func = getattr(module, name, None)
        if callable(func) and getattr(func, "__module__", "") == module.__name__:
            return func, f"retention.purge.{name}"
    public = [n for n, f in vars(module).items() if callable(f) and not n.startswith("_") and inspect.isfunction(f)]
    return None, f"retention.purge has no known entry point (public functions: {', '.join(public) or 'none'})"


def _row_counts(org_id: int) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM messaging_message WHERE organization_id = %s", [org_id])
        messages = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM messaging_messageevent e JOIN messaging_message m ON m.id = e.message_id "
            "WHERE m.organization_id = %s",
            [org_id],
        )
        events = cursor.fetchone()[0]
    return messages, events


def _inserts(ctx: Context, seconds: float, during=None) -> tuple[list[float], float | None, object]:
    """Run the single-insert process for `seconds`, or while `during()` runs; return latencies (ms)."""
    tag = time.time_ns()
    out, stop, ready = (ctx.logdir / f"inserts-{tag}.{ext}" for ext in ("json", "stop", "ready"))
    cap = seconds if during is None else 3600
    argv = [
        sys.executable, "-m", "bench.inserter", "--organization", str(ctx.fixtures["live_org"].pk),
        "--rate", str(INSERT_RATE), "--seconds", str(cap), "--stop-file", str(stop), "--ready-file", str(ready),
        "--out", str(out),
    ]  # fmt: skip
    with open(ctx.logdir / "inserter.log", "ab") as handle:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=os.environ.copy(), stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    value = elapsed = None
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the insert process did not start; see inserter.log")
            time.sleep(0.05)
        if during is not None:
            time.sleep(1.0)  # a second of inserts before the purge starts
            start = time.perf_counter()
            try:
                value = during()
            finally:
                elapsed = time.perf_counter() - start
                stop.touch()
        proc.wait(timeout=cap + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    latencies = json.loads(out.read_text())["latencies_ms"]
    return latencies, elapsed, value


def purge(ctx: Context) -> Record:
    sizes = ctx.sizes
    fx = ctx.fixtures
    ensure_consuming(ctx)
    func, where = find_purge()
    # The baseline: single inserts with nothing else running (measured even without a purge).
    baseline, _, _ = _inserts(ctx, sizes.insert_seconds)
    base_p99 = percentile(baseline, 99)
    if func is None:
        return Record(
            scenario=5, name="purge", figure=None, unit="rows/s", ceiling=None, ceiling_unit="rows/s",
            ceiling_what="plain DELETE of rows of the same shape", ratio=None,
            target="≥ 100,000 rows/s; concurrent inserts' p99 ≤ 2× baseline", met=None, available=False,
            summary=f"not available: {where} (baseline insert p99 {base_p99:.2f} ms)",
            details={"reason": where, "baseline_insert_p99_ms": round(base_p99, 3), "baseline_inserts": len(baseline)},
        )  # fmt: skip
    logs = ensure_logs(ctx)
    org = fx["logs_org"]
    # Ceiling: a tenth as many rows of the same shape, deleted by two plain DELETEs (no batches, no rollup).
    sample = max(1_000, sizes.log_messages // 10)
    ceiling_org = fx["purge_ceiling_org"]
    _generate_logs(ceiling_org, fx["list_account"], sample, sizes.events_per_message)
    c_messages, c_events = _row_counts(ceiling_org.pk)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM messaging_messageevent WHERE message_id IN "
            "(SELECT id FROM messaging_message WHERE organization_id = %s)",
            [ceiling_org.pk],
        )
        cursor.execute("DELETE FROM messaging_message WHERE organization_id = %s", [ceiling_org.pk])
    ceiling_seconds = time.perf_counter() - start
    ceiling = (c_messages + c_events) / ceiling_seconds

    messages_before, events_before = _row_counts(org.pk)

    def run_purge():
        results = []
        # A run stops at its time budget and the next resumes: call it until nothing expired is left.
        for _ in range(100):
            results.append(_call_purge(func))
            if _row_counts(org.pk)[0] == 0:
                break
        return results

    during, seconds, results = _inserts(ctx, 0, during=run_purge)
    close_old_connections()
    # The baseline again, after: on a shared machine one window alone is noisy.
    baseline_after, _, _ = _inserts(ctx, sizes.insert_seconds)
    base_p99 = (percentile(baseline, 99) + percentile(baseline_after, 99)) / 2
    messages_after, events_after = _row_counts(org.pk)
    deleted = (messages_before - messages_after) + (events_before - events_after)
    reported = sum(
        sum(v for v in (getattr(r, "deleted", None) or {}).values() if isinstance(v, int)) for r in results or []
    )
    figure = deleted / seconds if seconds else 0.0
    during_p99 = percentile(during, 99)
    slowdown = during_p99 / base_p99 if base_p99 else None
    met = figure >= 100_000 and slowdown is not None and slowdown <= 2 and messages_after == 0
    return Record(
        scenario=5,
        name="purge",
        figure=round(figure, 1),
        unit="rows/s",
        ceiling=round(ceiling, 1),
        ceiling_unit="rows/s",
        ceiling_what=f"two plain DELETEs of {c_messages + c_events:,} rows of the same shape",
        ratio=round(figure / ceiling, 3) if ceiling else None,
        target="≥ 100,000 rows/s; concurrent inserts' p99 ≤ 2× baseline",
        met=met,
        summary=(
            f"{messages_before - messages_after:,} messages + {events_before - events_after:,} events in "
            f"{seconds:.1f} s ({fmt(figure)} rows/s); single-insert p99 {during_p99:.2f} ms during vs "
            f"{base_p99:.2f} ms without ({slowdown or 0:.1f}×)"
        ),
        details={
            "entry_point": where,
            "messages": messages_before,
            "events_per_message": sizes.events_per_message,
            "generation_seconds": logs["generation_seconds"],
            "seconds": round(seconds, 2),
            "messages_deleted": messages_before - messages_after,
            "events_deleted": events_before - events_after,
            "messages_left": messages_after,
            "rows_deleted_as_reported": reported,
            "purge_calls": len(results),
            "purge_results": [_jsonable(r) for r in results][:5],
            "insert_rate_per_s": INSERT_RATE,
            "baseline_insert_p50_ms": round(percentile(baseline + baseline_after, 50), 3),
            "baseline_insert_p99_ms": round(base_p99, 3),
            "baseline_insert_p99_ms_before_after": [
                round(percentile(baseline, 99), 3),
                round(percentile(baseline_after, 99), 3),
            ],
            "during_insert_p50_ms": round(percentile(during, 50), 3),
            "during_insert_p99_ms": round(during_p99, 3),
            "during_insert_max_ms": round(max(during or [0]), 3),
            "inserts_baseline": len(baseline) + len(baseline_after),
            "inserts_during": len(during),
            "p99_ratio": round(slowdown, 2) if slowdown else None,
            "ceiling_rows": c_messages + c_events,
            "ceiling_seconds": round(ceiling_seconds, 3),
        },
    )


def _call_purge(func):
    params = inspect.signature(func).parameters
    kwargs = {}
    if "dry_run" in params:
        kwargs["dry_run"] = False
    if "trigger" in params:
        kwargs["trigger"] = "bench"
    return func(**kwargs)


def _jsonable(value):
    """A purge run's result as JSON: a PurgeRun's counts, or the value itself."""
    fields = ("completed", "duration_seconds", "rolled_up_days", "deleted")
    if any(hasattr(value, f) for f in fields):
        return {f: getattr(value, f, None) for f in fields}
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)[:500]


# --- 6. lists --------------------------------------------------------------------
def lists(ctx: Context) -> Record:
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    sizes = ctx.sizes
    fx = ctx.fixtures
    ensure_consuming(ctx)
    logs = ensure_logs(ctx)
    n = logs["messages"]
    close_old_connections()
    repeats = sizes.list_repeats
    api = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {fx['logs_key']}")
    staff = Client(HTTP_HOST="127.0.0.1")
    staff.force_login(fx["superuser"])
    customer = Client(HTTP_HOST="127.0.0.1")
    customer.force_login(fx["logs_owner"])
    one_number = "%2B14152000007"  # exactly one message in 1,000,000 (ten in --full)

    def page(key, client, url):
        pages[key] = _page(client, url, repeats, CaptureQueriesContext)
        return pages[key]["available"]

    pages: dict[str, dict] = {}
    if page("api", api, "/api/v1/messages?status=delivered"):
        body = pages["api"].get("_json") or {}
        if body.get("next"):
            page("api_next", api, "/" + body["next"].split("://", 1)[-1].split("/", 1)[-1])
        page("api_few_rows", api, f"/api/v1/messages?status=delivered&to={one_number}")
    if page("admin", staff, "/admin/messaging/message/"):
        page("admin_page2", staff, "/admin/messaging/message/?p=2")
        page("admin_few_rows", staff, f"/admin/messaging/message/?q={one_number}")
    if page("portal", customer, "/portal/messages/"):
        page("portal_page2", customer, "/portal/messages/?page=2")
        page("portal_few_rows", customer, f"/portal/messages/?phone={one_number}")
    for value in pages.values():
        value.pop("_json", None)

    # Ceiling: the plain view through the same in-process client.
    plain = _page(api, "/bench/plain", repeats, CaptureQueriesContext)

    def fixed(a: str, b: str) -> bool | None:
        if pages.get(a, {}).get("available") and pages.get(b, {}).get("available"):
            return pages[a]["queries"] == pages[b]["queries"]
        return None

    # A full page and one of a few rows (or the next page) make as many queries when nothing runs per row.
    # The admin's search page adds its own count ("N results (M total)"), so its second page is compared.
    fixed_counts = {
        "api": fixed("api", "api_few_rows"),
        "api_next_page": fixed("api", "api_next"),
        "admin_page2": fixed("admin", "admin_page2"),
        "portal": fixed("portal", "portal_few_rows"),
        "portal_page2": fixed("portal", "portal_page2"),
    }
    main = {k: pages[k] for k in ("api", "admin", "portal") if pages.get(k, {}).get("available")}
    slowest = max(main.items(), key=lambda kv: kv[1]["median_ms"]) if main else None
    figure = slowest[1]["median_ms"] if slowest else None
    missing = [k for k in ("api", "admin", "portal") if not pages.get(k, {}).get("available")]
    met = (
        bool(main)
        and all(v["median_ms"] <= 100 for v in main.values())
        and all(f is not False for f in fixed_counts.values())
    )
    parts = []
    for key in ("api", "admin", "portal"):
        if key in main:
            parts.append(f"{key} {main[key]['median_ms']:.0f} ms / {main[key]['queries']} queries")
        else:
            parts.append(f"{key} not available")
    return Record(
        scenario=6,
        name="lists",
        figure=figure,
        unit="ms (slowest page, median)",
        ceiling=plain.get("median_ms"),
        ceiling_unit="ms",
        ceiling_what="plain view through the same client",
        ratio=round(figure / plain["median_ms"], 1) if figure and plain.get("median_ms") else None,
        target="a page ≤ 100 ms with a fixed query count",
        met=met,
        summary=f"{n:,} messages: " + "; ".join(parts),
        details={
            "messages": n,
            "generation_seconds": logs["generation_seconds"],
            "pages": pages,
            "fixed_query_count": fixed_counts,
            "not_available": missing,
            "slowest": slowest[0] if slowest else None,
            "ceiling_page": plain,
            "how": "Django test Client in-process on the bench database: median of repeats after one warm-up",
            "mounted_by_bench": _mounted_by_bench(),
        },
    )


def _mounted_by_bench() -> list[str]:
    from django.conf import settings

    try:
        return list(import_module(settings.ROOT_URLCONF).MOUNTED_BY_BENCH)
    except (ImportError, AttributeError):
        return []


def _page(client, url: str, repeats: int, capture) -> dict:
    """Time one page: a warm-up, then `repeats` timed requests; the query count from one more."""
    try:
        response = client.get(url)
    except Exception as exc:  # a page that crashes is reported, not fatal
        return {"url": url, "available": False, "reason": f"{exc.__class__.__name__}: {exc}"[:300]}
    if response.status_code != 200:
        reason = f"HTTP {response.status_code}"
        if response.status_code in (301, 302):
            reason += f" to {response.headers.get('Location')}"
        return {"url": url, "available": False, "reason": reason}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    with capture(connection) as queries:
        response = client.get(url)
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]), default=None)
    out = {
        "url": url,
        "available": True,
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "queries": len(queries),
        "queries_ms": round(sum(float(q["time"]) for q in queries.captured_queries) * 1000, 2),
        "slowest_query_ms": round(float(slowest["time"]) * 1000, 2) if slowest else None,
        "slowest_query": slowest["sql"][:300] if slowest else None,
        "bytes": len(response.content),
    }
    if response.get("Content-Type", "").startswith("application/json"):
        try:
            out["_json"] = response.json()
        except ValueError:
            pass
    return out


# --- 7. dispatch at a real provider's latency; 8. lanes ------------------------------
def _queue_messages(org, n: int, tag: str) -> list[int]:
    ids = data.insert_messages(
        n,
        {
            "organization_id": "%(org)s",
            "public_id": "gen_random_uuid()",
            "channel": "'sms'",
            "to": "'+1415555' || lpad(mod(g, 10000)::text, 4, '0')",
            "body": f"'Jood {tag} bench ' || g",
            "status": "'queued'",
            "encoding": "'GSM-7'",
            "created_at": "now()",
            "updated_at": "now()",
            "queued_at": "now()",
        },
        params={"org": org.pk},
        returning=True,
    )
    data.analyze(type(org)._meta.apps.get_model("messaging", "Message"))
    return ids


def _wait_sent(org_id: int, n: int, timeout: float, procs) -> float | None:
    """Seconds from now until `n` messages of the organization left `queued`/`sending`, or None past timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        procs.check_alive()
        counts = _status_counts(org_id)
        if sum(counts.get(s, 0) for s in ("sent", "delivered", "failed")) >= n:
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def _latency_account(ctx: Context, org, label: str, delay_ms: int, avoid_lane: int | None = None):
    """A Twilio account on the mock answering `delay_ms` later, on a lane other than `avoid_lane`."""
    from providers import services as provider_services

    try:
        from messaging.dispatch import lane_of
    except ImportError:
        lane_of = None
    while True:
        account = provider_services.connect_account(
            org,
            provider="twilio",
            channel="sms",
            label=label,
            credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
            api_base_url=f"{ctx.mock_url}/_delay/{delay_ms}/2010-04-01",
            default_sender="+15005550006",
            messages_per_second=0,
        )
        if lane_of is None or avoid_lane is None or lane_of(account.pk) != avoid_lane:
            return account
        account.delete()


def dispatch_latency(ctx: Context) -> Record:
    from accounts.models import Organization
    from messaging.dispatch import publish_dispatch

    ensure_consuming(ctx)
    org = Organization.objects.create(name="Bench Dispatch 200 ms")
    _latency_account(ctx, org, "Mock Twilio 200 ms", 200)
    n = max(300, ctx.sizes.dispatch_messages // 5)
    with data.timed(f"inserted {n:,} queued messages", log):
        ids = _queue_messages(org, n, "200ms")
    cpu = ctx.meter("worker", "postgres", "redis", "mock").__enter__()
    publish_dispatch(ids)
    seconds = _wait_sent(org.pk, n, ctx.sizes.dispatch_timeout, ctx.procs)
    cpu.__exit__(None, None, None)
    counts = _status_counts(org.pk)
    sent = counts.get("sent", 0) + counts.get("delivered", 0)
    timed_out = seconds is None
    if timed_out:
        seconds = ctx.sizes.dispatch_timeout
        _drop_dispatch(org.pk)
    figure = sent / seconds if seconds else 0.0
    # Ceiling: what the worker processes could do if each kept one request in flight per
    # process at this latency (the first design) versus the target; and the mock's own rate.
    concurrency = int(ctx.server["worker"].rsplit(" ", 1)[-1]) if ctx.server["worker"][-1].isdigit() else 4
    return Record(
        scenario=7,
        name="dispatch, mock answering in 200 ms",
        figure=round(figure, 1),
        unit="msg/s",
        ceiling=round(concurrency / 0.2, 1),
        ceiling_unit="msg/s",
        ceiling_what=f"{concurrency} worker processes with one request each in flight (the first design's bound)",
        ratio=round(figure / (concurrency / 0.2), 2),
        target="≥ 1,000 msg/s",
        met=bool(figure >= 1000 and not timed_out),
        summary=f"{sent:,}/{n:,} sent in {seconds:.1f} s ({fmt(figure)} msg/s)" + (" (time box)" if timed_out else ""),
        details={"messages": n, "counts": counts, "timed_out": timed_out, "cpu": cpu.summary(sent)},
    )


def lanes(ctx: Context) -> Record:
    """The fast organization's 1,000 messages alone, then beside a provider that answers in 30 s."""
    from accounts.models import Organization
    from messaging.dispatch import publish_dispatch

    ensure_consuming(ctx)
    try:
        from messaging.dispatch import lane_of
    except ImportError:
        lane_of = None
    n = 1000 if ctx.sizes.name != "tiny" else 200
    fast_org = Organization.objects.create(name="Bench Lanes Fast")
    fast = _latency_account(ctx, fast_org, "Mock Twilio fast", 0)
    ids = _queue_messages(fast_org, n, "fast-alone")
    publish_dispatch(ids)
    alone = _wait_sent(fast_org.pk, n, 120, ctx.procs)
    log(f"fast organization alone: {n:,} in {alone or 0:.2f} s")

    slow_org = Organization.objects.create(name="Bench Lanes Slow")
    slow_ms = 3_000 if ctx.sizes.name == "tiny" else 30_000  # --tiny only checks that the scenario runs
    _latency_account(ctx, slow_org, "Mock Twilio slow", slow_ms, avoid_lane=lane_of(fast.pk) if lane_of else None)
    slow_ids = _queue_messages(slow_org, n, "slow")
    publish_dispatch(slow_ids)
    time.sleep(1.0)  # the slow lane's chunks are in flight first
    more = _queue_messages(fast_org, n, "fast-beside-slow")
    start = time.monotonic()
    publish_dispatch(more)
    beside = _wait_sent(fast_org.pk, 2 * n, 180, ctx.procs)
    beside = beside if beside is not None else time.monotonic() - start
    log(f"fast organization beside the 30 s one: {n:,} in {beside:.2f} s")
    _drop_dispatch(slow_org.pk)
    ratio = beside / alone if alone else None
    return Record(
        scenario=8,
        name="lanes: a 30 s provider beside a fast one",
        figure=round(beside, 2),
        unit="s",
        ceiling=round(alone or 0, 2),
        ceiling_unit="s",
        ceiling_what=f"the fast organization's {n:,} messages alone",
        ratio=round(ratio, 2) if ratio else None,
        target="≤ 2× the time alone",
        met=bool(ratio is not None and ratio <= 2),
        summary=f"{n:,} fast messages in {beside:.1f} s beside a 30 s provider, {alone or 0:.1f} s alone",
        details={"messages": n, "alone_seconds": alone, "beside_seconds": beside},
    )


SCENARIOS = {
    number: (SCENARIO_NAMES[number], func)
    for number, func in {
        1: single_send,
        2: bulk_send,
        3: dispatch,
        4: webhooks,
        5: purge,
        6: lists,
        7: dispatch_latency,
        8: lanes,
    }.items()
}
