"""A Python load generator: the fallback when wrk is not installed.

Closed loop like wrk: `--connections` keep-alive connections, each sending its
next request when the last answer arrived, for `--seconds` (and at most
`--max-requests`). It builds the same requests as the bench's wrk scripts
(`--script plain|send|mock|webhooks`, configured by the same BENCH_*
environment variables) and prints the same `BENCH_JSON {...}` line. It runs in
one process with one core, so it saturates sooner than wrk: the bench records
which tool made each figure. Loopback only.

    python bench/loadgen.py --script plain --url http://127.0.0.1:8000 --connections 32 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from urllib.parse import urlsplit


class Requests:
    """The requests of one script, as raw HTTP/1.1 bytes."""

    def __init__(self, script: str, host: str):
        self.script = script
        self.host = host
        self.counter = itertools.count(1)
        self.lines: list[bytes] = []
        if script == "webhooks":
            with open(os.environ["BENCH_WEBHOOK_FILE"]) as handle:
                for line in handle:
                    path, ctype, hname, hvalue, body = line.rstrip("\n").split("\t", 4)
                    self.lines.append(self._raw("POST", path, {"Content-Type": ctype, hname: hvalue}, body.encode()))

    def _raw(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def next(self) -> bytes | None:
        n = next(self.counter)
        if self.script == "plain":
            return self._raw("GET", os.environ.get("BENCH_PATH", "/bench/plain"), {})
        if self.script == "send":
            body = json.dumps({"to": f"+1415555{n % 10000:04d}", "body": f"Your Jood bench code is {n}"})
            tokens = os.environ["BENCH_TOKENS"].split(",")
            headers = {"Content-Type": "application/json", "Authorization": "Token " + tokens[n % len(tokens)]}
            return self._raw("POST", "/api/v1/messages", headers, body.encode())
        if self.script == "mock":
            path = os.environ.get(
                "BENCH_TWILIO_PATH", "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json"
            )
            body = f"To=%2B1415555{n % 10000:04d}&From=%2B15005550006&Body=Bench+message+{n}"
            return self._raw("POST", path, {"Content-Type": "application/x-www-form-urlencoded"}, body.encode())
        if self.script == "webhooks":
            return self.lines[n - 1] if n <= len(self.lines) else None
        raise SystemExit(f"unknown script {self.script!r}")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, whether the server keeps the connection)."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length, chunked, keep = 0, False, True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value:
            chunked = True
        elif name == "connection" and value == "close":
            keep = False
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep


async def run(args) -> dict:
    parts = urlsplit(args.url)
    host, port = parts.hostname, parts.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load generator only targets loopback addresses")
    requests = Requests(args.script, parts.netloc)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0}
    deadline = time.monotonic() + args.seconds
    budget = itertools.count(1)
    sent = 0

    async def connection():
        nonlocal sent
        reader = writer = None
        while time.monotonic() < deadline:
            if args.max_requests and next(budget) > args.max_requests:
                break
            raw = requests.next()
            if raw is None:
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                start = time.perf_counter()
                writer.write(raw)
                sent += 1
                status, keep = await asyncio.wait_for(read_response(reader), timeout=10)
            except TimeoutError:
                errors["timeout"] += 1
                writer, reader = None, None
                continue
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                errors["read" if writer is not None else "connect"] += 1
                writer, reader = None, None
                continue
            latencies.append((time.perf_counter() - start) * 1e6)
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status >= 400:
                errors["status"] += 1
            if not keep:
                writer.close()
                writer, reader = None, None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(args.connections)))
    duration = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return 0
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]

    return {
        "requests": len(latencies),
        "duration_us": int(duration * 1e6),
        "errors": errors,
        "statuses": statuses,
        "sent": sent,
        "latency_us": {
            "p50": pct(50),
            "p90": pct(90),
            "p99": pct(99),
            "p999": pct(99.9),
            "mean": sum(latencies) / len(latencies) if latencies else 0,
            "max": latencies[-1] if latencies else 0,
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", required=True, choices=["plain", "send", "mock", "webhooks"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-requests", type=int, default=0)
    args = parser.parse_args(argv)
    if args.seconds > 600:
        sys.exit("at most 600 seconds")
    result = asyncio.run(run(args))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
