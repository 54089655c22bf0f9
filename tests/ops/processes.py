"""Servers and faults for the operations tests: a private redis-server, a TCP proxy that
can be cut and restored (in front of PostgreSQL or RabbitMQ), the web app under
gunicorn, PgBouncer. Each listens on 127.0.0.1 only; the test owns and stops it.

Process helpers of the worker tests (subprocess_env, start_worker, stop,
wait_for) come from tests/messaging/test_workers.py.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.messaging.test_workers import ROOT, subprocess_env, wait_for

__all__ = ["ROOT", "PrivateRedis", "TcpProxy", "WebApp", "free_port", "subprocess_env", "wait_for"]


def free_port() -> int:
    """A port nothing listens on now (for servers that cannot be told to use port 0: redis-server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own: stop it, restart it on the same port, freeze it (SIGSTOP)."""

    def __init__(self):
        if not shutil.which("redis-server"):
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self.answers, timeout=10), "redis-server did not start"

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
        except Exception:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a server.

    `cut()` closes every connection and stops listening; `restore()` listens again on the same port.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = 0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1.0)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in (a, b):
                try:
                    sock.close()
                except OSError:
                    pass
            with self._lock:
                self._sockets.difference_update((a, b))

    def cut(self) -> None:
        if self._listener is not None:
            try:  # wakes the thread blocked in accept(); close() alone would leave it listening
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    close = cut


class WebApp:
    """The web app under gunicorn on a socket bound to port 0 here (one sync worker: per-process figures are exact)."""

    def __init__(self, **env):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.socket.set_inheritable(True)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"fd://{self.socket.fileno()}",
                "--workers",
                "1",
                "--timeout",
                "60",
                "--log-level",
                "warning",
                "jood.wsgi",
            ],
            cwd=ROOT,
            env=subprocess_env(**env),
            pass_fds=[self.socket.fileno()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if not wait_for(self._up, timeout=30):
            self.stop()
            raise AssertionError("gunicorn did not start: " + self.process.stderr.read().decode()[-3000:])

    def _up(self) -> bool:
        import requests

        try:
            requests.get(self.url + "/api/v1/", timeout=2)
            return True
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.socket.close()


def database_url_via(port: int, **query) -> str:
    """This test's PostgreSQL database, reached through 127.0.0.1:<port> (a proxy or PgBouncer)."""
    from django.db import connection

    db = connection.settings_dict
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"postgres://{db['USER']}@127.0.0.1:{port}/{db['NAME']}" + (f"?{params}" if params else "")


class PgBouncer:
    """PgBouncer in transaction mode before this test's database, on a free port; skips when it is not installed."""

    def __init__(self):
        binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
        if binary is None:
            pytest.skip("pgbouncer is not installed")
        from django.db import connection

        db = connection.settings_dict
        self.dir = tempfile.mkdtemp(prefix="jood-pgbouncer-")
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        users = Path(self.dir, "users.txt")
        users.write_text(f'"{db["USER"]}" ""\n')
        ini = Path(self.dir, "pgbouncer.ini")
        ini.write_text(
            "[databases]\n"
            f"{db['NAME']} = host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir =\nauth_type = trust\nauth_file = {users}\n"
            "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 10\n"
            f"logfile = {self.dir}/pgbouncer.log\npidfile = {self.dir}/pgbouncer.pid\n"
            "ignore_startup_parameters = extra_float_digits,options,application_name\n"
        )
        for path in (users, ini):
            path.chmod(0o644)
        command = [binary, str(ini)]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            command = ["runuser", "-u", "nobody", "--", *command]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait_for(self._up, timeout=15):
            self.stop()
            raise AssertionError("pgbouncer did not start: " + Path(self.dir, "pgbouncer.log").read_text()[-2000:])

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def sigterm_and_wait(process: subprocess.Popen, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def elapsed(started: float) -> float:
    return time.monotonic() - started
