"""deploy/: the compose file validates, and compose, the Procfile and the systemd units
each start one worker for every queue jood/celery.py routes to, exactly one beat, and
the web app under gunicorn.

The expected queues are the contract's lanes (HELPERS.md: dispatch.0-3, retries,
sweeper, webhooks, callbacks, maintenance) plus every queue in the Celery app's
routes, plus the default queue: a queue nobody consumes is a silent outage.
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from operations.metrics import celery_queue_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONTRACT_QUEUES = {f"dispatch.{n}" for n in range(4)} | {"retries", "sweeper", "webhooks", "callbacks", "maintenance"}


def expected_queues() -> set[str]:
    from jood.celery import app

    queues = set(CONTRACT_QUEUES) | {app.conf.task_default_queue or "celery"}
    queues |= {f"dispatch.{n}" for n in range(getattr(settings, "DISPATCH_LANES", 4))}
    queues |= set(celery_queue_names())
    return queues


def queues_of(argv: list[str]) -> set[str]:
    """The queues a `celery worker` command line consumes (-Q a,b or --queues=a,b)."""
    for i, arg in enumerate(argv):
        if arg in ("-Q", "--queues"):
            return set(argv[i + 1].split(","))
        if arg.startswith("--queues="):
            return set(arg.split("=", 1)[1].split(","))
    return {"celery"} if "worker" in argv else set()


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def commands_of_compose() -> dict[str, list[str]]:
    services = compose()["services"]
    return {name: service.get("command", []) for name, service in services.items()}


def procfile() -> dict[str, list[str]]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    return {name.strip(): shlex.split(command) for name, command in (line.split(":", 1) for line in lines if line)}


def test_the_compose_file_validates(tmp_path):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (.ci/run installs Debian's)")
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    (copy / ".env").write_text((DEPLOY / "env.example").read_text())
    result = subprocess.run([binary, "-f", str(copy / "compose.yaml"), "config", "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source", ["compose", "procfile"])
def test_every_queue_has_a_worker_and_there_is_one_beat(source):
    commands = commands_of_compose() if source == "compose" else procfile()
    workers = {
        name: queues_of(argv) for name, argv in commands.items() if argv[:4] == ["celery", "-A", "jood", "worker"]
    }
    consumed = set().union(*workers.values())
    assert expected_queues() <= consumed, f"no worker for {sorted(expected_queues() - consumed)}"
    beats = [name for name, argv in commands.items() if argv[:4] == ["celery", "-A", "jood", "beat"]]
    assert len(beats) == 1
    web = [argv for argv in commands.values() if argv and argv[0] == "gunicorn"]
    assert len(web) == 1 and "jood.wsgi" in web[0]


def test_compose_runs_one_beat_and_postgres_and_redis():
    services = compose()["services"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert {"postgres", "redis", "web", "migrate"} <= set(services)
    env = compose()["x-app"]["environment"]
    assert {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"} <= set(env)


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def test_the_systemd_units_start_a_worker_per_queue_and_one_beat():
    target = (DEPLOY / "systemd" / "jood-workers.target").read_text()
    instances = set()
    for line in target.splitlines():
        if line.startswith("Wants="):
            for unit_name in line.split("=", 1)[1].split():
                assert unit_name.startswith("jood-worker@") and unit_name.endswith(".service")
                instances.add(unit_name[len("jood-worker@") : -len(".service")])
    assert expected_queues() <= instances, f"no unit for {sorted(expected_queues() - instances)}"
    worker = shlex.split(unit("jood-worker@.service")["Service"]["ExecStart"])
    assert worker[1:5] == ["-A", "jood", "worker", "-Q"] and worker[5] == "%i"
    beat = shlex.split(unit("jood-beat.service")["Service"]["ExecStart"])
    assert beat[1:4] == ["-A", "jood", "beat"]
    web = shlex.split(unit("jood-web.service")["Service"]["ExecStart"])
    assert web[0].endswith("/gunicorn") and "jood.wsgi" in web
