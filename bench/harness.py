"""The bench's plumbing: its own database and Redis db, the processes it starts, load, records.

Nothing here knows a scenario; bench/scenarios.py does.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
BIN = Path(sys.executable).parent

SCENARIO_NAMES = {
    1: "single send",
    2: "bulk send",
    3: "dispatch end to end",
    4: "webhook intake",
    5: "purge",
    6: "lists",
    7: "dispatch, mock answering in 200 ms",
    8: "lanes: a 30 s provider beside a fast one",
}

LOCAL_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"


def log(text: str) -> None:
    print(f"  · {text}", flush=True)


# --- sizes -------------------------------------------------------------------------
@dataclass
class Sizes:
    """How big each scenario is: `--tiny`, `--quick`, the default (`make bench`) and `--full`."""

    name: str
    load_seconds: float  # each measured load (scenarios 1 and 4, and the ceilings)
    warmup_seconds: float
    bulk_recipients: int
    bulk_runs: int
    dispatch_messages: int
    dispatch_timeout: float  # past it, the rate so far is reported and the rest dropped
    webhook_messages: int  # signed callbacks prepared, each for a different message
    apply_timeout: float  # how long to wait for every callback to be applied
    log_messages: int  # the expired messages that the lists (6) show and the purge (5) deletes
    events_per_message: int
    insert_seconds: float  # the baseline of single inserts without a purge
    list_repeats: int
    wrk_threads: int = 2


PROFILES = {
    "tiny": Sizes("tiny", 2, 0.5, 200, 1, 300, 30, 400, 20, 2_000, 2, 2, 2),
    "quick": Sizes("quick", 5, 2, 10_000, 1, 10_000, 30, 12_000, 20, 50_000, 2, 3, 3),
    "default": Sizes("default", 15, 3, 10_000, 3, 100_000, 150, 60_000, 60, 1_000_000, 2, 8, 5),
    "full": Sizes("full", 30, 3, 10_000, 5, 100_000, 600, 120_000, 120, 10_000_000, 2, 10, 5),
}


# --- where the bench's data lives ------------------------------------------------
def bench_database_url(name: str) -> tuple[str, str]:
    """Return (the bench database's URL, the maintenance database's URL) on DATABASE_URL's server."""
    if not re.fullmatch(r"jood_bench\w*", name):
        raise SystemExit(f"refusing to use database {name!r}: the bench only uses databases named jood_bench*")
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://", "pgsql://")):
        if given:
            log(f"DATABASE_URL is not PostgreSQL ({given.split(':')[0]}); using the local PostgreSQL")
        given = LOCAL_DATABASE_URL
    parts = urlsplit(given)
    scheme = "postgres"
    bench = urlunsplit((scheme, parts.netloc, f"/{name}", parts.query, ""))
    maintenance = urlunsplit((scheme, parts.netloc, "/postgres", parts.query, ""))
    return bench, maintenance


def bench_redis_url(db: int) -> str:
    if db == 0:
        raise SystemExit("refusing Redis db 0: the bench flushes its own db (1 by default)")
    given = os.environ.get("REDIS_URL") or LOCAL_REDIS_URL
    parts = urlsplit(given)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def libpq(url: str) -> str:
    """psycopg takes postgresql:// URLs."""
    return "postgresql://" + url.split("://", 1)[1]


def recreate_database(bench_url: str, maintenance_url: str) -> None:
    import psycopg

    name = urlsplit(bench_url).path.lstrip("/")
    with psycopg.connect(libpq(maintenance_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    db = client.connection_pool.connection_kwargs.get("db", 0)
    if not db:
        raise SystemExit("refusing to flush Redis db 0")
    client.flushdb()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- processes ---------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path


class Processes:
    """The processes of a run, each in its own process group; `stop_all` ends them, newest first."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[Proc] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log_path = self.logdir / f"{name}.log"
        handle = open(log_path, "wb")
        popen = subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        handle.close()
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                tail = proc.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; its log ends:\n{tail}")

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                try:
                    os.killpg(proc.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in reversed(self.procs):
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.popen.wait(timeout=5)
        # Children the group leader left behind (gunicorn and Celery workers end with their master).
        for proc in self.procs:
            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.procs.clear()


def wait_for(what: str, check, timeout: float, procs: Processes | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs is not None:
            procs.check_alive()
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


def http_json(method: str, url: str, payload, headers: dict[str, str], timeout: float = 120.0):
    """Send JSON; return (status, headers, parsed body, seconds)."""
    data = json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = resp.read()
            status, resp_headers = resp.status, dict(resp.headers.items())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        status, resp_headers = exc.code, dict(exc.headers.items())
    seconds = time.perf_counter() - start
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        parsed = body.decode(errors="replace")
    return status, resp_headers, parsed, seconds


def vm_hwm_kib(pid: int) -> int | None:
    """Peak resident memory (VmHWM) of a process, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


# --- CPU accounting ----------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a live process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def tree(pid: int) -> list[int]:
    """A process and its descendants."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children(current))
    return out


def _system_ticks() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]) - idle, sum(values[:8])


class CpuMeter:
    """CPU seconds used by groups of processes over a window, and how busy the whole machine was.

    On a shared machine the rates depend on what else runs; CPU per operation does not,
    so the bench records both.
    """

    def __init__(self, groups: dict[str, object]):
        self.groups = groups  # name -> callable returning the group's pids now

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snap = {}
        for name, pids in self.groups.items():
            snap[name] = {}
            for pid in pids():
                value = cpu_seconds(pid)
                if value is not None:
                    snap[name][pid] = value
        return snap

    def __enter__(self):
        self.start = self._snapshot()
        self.system_start = _system_ticks()
        self.wall_start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        end = self._snapshot()
        busy_end, total_end = _system_ticks()
        self.wall = time.perf_counter() - self.wall_start
        self.seconds = {
            name: round(sum(v - self.start[name].get(pid, 0.0) for pid, v in end[name].items()), 3)
            for name in self.groups
        }
        busy, total = busy_end - self.system_start[0], total_end - self.system_start[1]
        self.machine_busy = round(busy / total, 3) if total else None
        cores = os.cpu_count() or 1
        ours = sum(self.seconds.values()) / (self.wall * cores) if self.wall else 0.0
        # The share of the machine that processes other than the measured ones took.
        self.others = round(max(0.0, (self.machine_busy or 0) - ours), 3)

    def per(self, count: int) -> dict[str, float]:
        """CPU milliseconds per operation, by group."""
        return {name: round(1000 * secs / count, 3) for name, secs in self.seconds.items()} if count else {}

    def summary(self, count: int) -> dict:
        per = self.per(count)
        total = sum(per.values())
        cores = os.cpu_count() or 1
        return {
            "cpu_ms_per_op": per,
            "cpu_ms_per_op_total": round(total, 3),
            # What the measured processes could do with every core to themselves.
            "projected_per_s_on_idle_machine": round(cores * 1000 / total, 1) if total else None,
            "machine_busy_share": self.machine_busy,
            "other_processes_share": self.others,
            "window_seconds": round(self.wall, 2),
        }


# --- load --------------------------------------------------------------------------
@dataclass
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    errors: dict[str, int]
    sent: int
    tool: str

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("2"))

    @property
    def failed(self) -> int:
        return self.requests - self.ok + sum(self.errors.values())


def load_tool(prefer: str = "auto") -> str:
    if prefer == "python":
        return "python"
    if shutil.which("wrk"):
        return "wrk"
    if prefer == "wrk":
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or use --loadgen python)")
    return "python"


def run_load(
    script: str,
    url: str,
    *,
    connections: int,
    seconds: float,
    env: dict[str, str],
    threads: int = 2,
    tool: str = "wrk",
    max_requests: int | None = None,
    logdir: Path | None = None,
) -> LoadResult:
    """Run one bounded load from a separate process: wrk with bench/<script>.lua, or bench/loadgen.py."""
    threads = max(1, min(threads, connections))
    env = {**os.environ, **env, "BENCH_LUA_DIR": str(BENCH), "BENCH_THREADS": str(threads)}
    duration = max(1, round(seconds))
    if tool == "wrk":
        argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / f"{script}.lua"),
            url,
        ]
    else:
        argv = [
            sys.executable,
            str(BENCH / "loadgen.py"),
            "--script",
            script,
            "--url",
            url,
            "--connections",
            str(connections),
            "--seconds",
            str(duration),
        ]
        if max_requests:
            argv += ["--max-requests", str(max_requests)]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
    )
    try:
        out, _ = proc.communicate(timeout=duration + 60)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    text = out.decode(errors="replace")
    if logdir is not None:
        with open(logdir / "load.log", "a") as handle:
            handle.write(f"$ {' '.join(argv)}\n{text}\n")
    line = next((ln for ln in text.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"{argv[0]} printed no result (exit {proc.returncode}):\n{text[-2000:]}")
    data = json.loads(line[len("BENCH_JSON ") :])
    lat = data.get("latency_us") or {}
    secs = (data.get("duration_us") or 1) / 1e6
    requests = int(data.get("requests") or 0)
    return LoadResult(
        requests=requests,
        seconds=secs,
        rps=requests / secs if secs else 0.0,
        p50_ms=(lat.get("p50") or 0) / 1000,
        p90_ms=(lat.get("p90") or 0) / 1000,
        p99_ms=(lat.get("p99") or 0) / 1000,
        max_ms=(lat.get("max") or 0) / 1000,
        statuses={str(k): int(v) for k, v in (data.get("statuses") or {}).items()},
        errors={k: int(v) for k, v in (data.get("errors") or {}).items() if v},
        sent=int(data.get("sent") or 0),
        tool=tool,
    )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


# --- machine and records -----------------------------------------------------------
def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return ""


def machine_info(postgres_version: str, redis_version: str, tool: str) -> dict:
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    wrk = ""
    if tool == "wrk":
        probe = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
        wrk = (probe.stdout or probe.stderr).split("Copyright")[0].strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "platform": platform.platform(),
        "versions": {
            "python": platform.python_version(),
            "django": _version("django"),
            "postgres": postgres_version,
            "redis": redis_version,
            "gunicorn": _version("gunicorn"),
            "celery": _version("celery"),
            "psycopg": _version("psycopg"),
            "load": wrk or "bench/loadgen.py",
        },
    }


def commit_info() -> dict:
    return {"commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(_git("status", "--porcelain", "-uno"))}


@dataclass
class Record:
    scenario: int
    name: str
    figure: float | None
    unit: str
    ceiling: float | None
    ceiling_unit: str
    ceiling_what: str
    ratio: float | None
    target: str
    met: bool | None
    summary: str
    available: bool = True
    details: dict = field(default_factory=dict)


class Recorder:
    """Appends one JSON record per scenario to bench/results/<timestamp>.json (a JSON array, rewritten whole)."""

    def __init__(self, path: Path, context: dict):
        self.path = path
        self.context = context
        self.records: list[dict] = []
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, record: Record) -> dict:
        data = asdict(record)
        data["loadavg_1m"] = round(os.getloadavg()[0], 2)
        data["recorded_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        data.update(self.context)
        self.records.append(data)
        self.records.sort(key=lambda r: r["scenario"])
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.records, indent=2, default=str) + "\n")
        tmp.replace(self.path)
        verdict = {True: "MET", False: "MISSED", None: "n/a"}[record.met]
        ceiling = (
            f" | ceiling {fmt(record.ceiling)} {record.ceiling_unit} ({record.ceiling_what})"
            if record.ceiling is not None
            else ""
        )
        ratio = f" | ratio {record.ratio:.2f}" if record.ratio is not None else ""
        print(
            f"[{record.scenario}] {record.name}: {record.summary}{ceiling}{ratio} | target {record.target}: {verdict}",
            flush=True,
        )
        return data


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits - 1}f}" if value >= 1 else f"{value:.3f}"
