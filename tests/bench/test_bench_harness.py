"""The bench harness at a tiny size, so that `make bench` cannot rot (BENCHMARKS.md).

No timing is asserted: only that every scenario ran and left a complete record
with a positive figure. It starts gunicorn, a Celery worker, beat and the mock
provider, so it needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL); it uses a
database and a Redis db of its own (jood_bench_test, db 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

needs_services = pytest.mark.skipif(
    not (
        os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")) and os.environ.get("REDIS_URL")
    ),
    reason="the bench harness needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL",
)

RECORD_KEYS = {
    "scenario",
    "name",
    "figure",
    "unit",
    "ceiling",
    "ceiling_unit",
    "ratio",
    "target",
    "met",
    "summary",
    "details",
    "machine",
    "commit",
    "profile",
    "server",
}
MACHINE_KEYS = {"cores", "memory_gib", "versions"}
VERSION_KEYS = {"python", "django", "postgres", "redis"}


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    return env


@needs_services
def test_every_scenario_leaves_a_record_with_a_positive_figure(tmp_path):
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--tiny",
            "--results-dir",
            str(tmp_path),
            "--db-name",
            "jood_bench_test",
            "--redis-db",
            "2",
        ],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=230,
    )
    output = result.stdout[-6000:] + result.stderr[-6000:]
    assert result.returncode == 0, output
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1, output
    records = json.loads(files[0].read_text())

    assert [r["scenario"] for r in records] == [1, 2, 3, 4, 5, 6, 7, 8], output
    for record in records:
        assert RECORD_KEYS <= record.keys(), record
        assert MACHINE_KEYS <= record["machine"].keys()
        assert VERSION_KEYS <= record["machine"]["versions"].keys()
        assert all(record["machine"]["versions"][k] for k in VERSION_KEYS)
        assert record["machine"]["cores"] > 0
        assert record["available"] is True, record["summary"]
        assert record["figure"] > 0, record
        assert record["ceiling"] > 0, record
        assert record["ratio"] > 0, record
    assert time.monotonic() - started < 170


def test_the_bench_finds_the_purge():
    """Scenario 5 measures retention's purge: a renamed entry point would leave it "not available"."""
    from bench.scenarios import find_purge
    from retention import purge

    assert find_purge() == (purge.run, "retention.purge.run")


def test_the_python_load_generator_drives_the_mock_provider(tmp_path):
    """The fallback for machines without wrk, against the bench's own mock provider."""
    mock = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "mock_provider.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        ready = mock.stdout.readline()
        assert ready.startswith("READY "), ready
        port = int(ready.split()[1])
        out = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "loadgen.py"),
                "--script",
                "mock",
                "--url",
                f"http://127.0.0.1:{port}",
                "--connections",
                "4",
                "--seconds",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON "))
        summary = json.loads(line.split(" ", 1)[1])
        assert summary["requests"] > 0
        assert set(summary["statuses"]) == {"201"}
        assert summary["latency_us"]["p99"] > 0
    finally:
        mock.terminate()
        mock.wait(timeout=10)
