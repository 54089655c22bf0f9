"""A local mock of the providers' send endpoints, fast enough not to be the bottleneck.

An asyncio HTTP/1.1 server (keep-alive, no framework) that answers:

- Twilio: `POST /2010-04-01/Accounts/{sid}/Messages.json` -> 201 JSON with `sid`,
  `status: "queued"` and `num_segments` (providers/twilio.md §2);
- Meta WhatsApp Cloud API: `POST [/{version}]/{phone_number_id}/messages` -> 200 JSON
  with `messages[0].id` (a wamid);
- `GET /_stats`: requests answered so far, by kind; `POST /_reset` zeroes them;
- any path under `/_delay/<ms>/` answers as the path without that prefix, <ms> later
  (one mock serves a fast and a slow provider account).

Optionally (`--twilio-auth-token`), it posts Twilio's `delivered` status callback,
signed with that token, to the `StatusCallback` URL of each message it accepted,
as Twilio would (`--callback-delay-ms` later).

Run: `python bench/mock_provider.py --port 9100 [--delay-ms 2]`. It prints
`READY <port>` when it listens and stops on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import signal
import sys
from collections import Counter
from urllib.parse import parse_qs, urlencode, urlsplit

STATS: Counter = Counter()
_ids = itertools.count(1)
_PREFIX = os.urandom(4).hex()


def _reason(status: int) -> str:
    return {200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}.get(
        status, "OK"
    )


def response(status: int, body: bytes, content_type: str = "application/json", keep_alive: bool = True) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_reason(status)}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def twilio_answer(path: str, form: dict[str, list[str]]) -> bytes:
    number = next(_ids)
    account_sid = path.split("/Accounts/", 1)[1].split("/", 1)[0]
    body = {
        "sid": f"SM{_PREFIX}{number:024x}",
        "account_sid": account_sid,
        "to": (form.get("To") or [""])[0],
        "from": (form.get("From") or [""])[0],
        "body": (form.get("Body") or [""])[0],
        "status": "queued",
        "num_segments": "1",
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/SM{_PREFIX}{number:024x}.json",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def whatsapp_answer(payload: dict) -> bytes:
    number = next(_ids)
    to = str(payload.get("to") or "")
    body = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": f"wamid.{_PREFIX}{number:024x}"}],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


class Callbacks:
    """Posts Twilio `delivered` callbacks back to the app (optional)."""

    def __init__(self, token: str, delay: float, limit: int = 64):
        self.token = token
        self.delay = delay
        self.slots = asyncio.Semaphore(limit)

    def schedule(self, url: str, sid: str, to: str, account_sid: str) -> None:
        asyncio.get_running_loop().call_later(
            self.delay, lambda: asyncio.ensure_future(self.post(url, sid, to, account_sid))
        )

    async def post(self, url: str, sid: str, to: str, account_sid: str) -> None:
        params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": "delivered", "AccountSid": account_sid, "To": to}
        body = urlencode(params).encode()
        parts = urlsplit(url)
        request = (
            f"POST {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {twilio_signature(self.token, url, params)}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        async with self.slots:
            try:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
                STATS["callbacks_posted" if b" 200 " in status_line else "callbacks_failed"] += 1
                writer.close()
            except OSError:
                STATS["callbacks_failed"] += 1


class HttpProtocol(asyncio.Protocol):
    delay: float = 0.0
    callbacks: Callbacks | None = None

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self.transport.write(response(400, b"{}", keep_alive=False))
                self.transport.close()
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self.transport.write(response(400, b'{"error":"chunked bodies are not supported"}', keep_alive=False))
                self.transport.close()
                return
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            keep_alive = headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"
            delay = self.delay
            if target.startswith("/_delay/"):
                _, _, ms, target = target.split("/", 3)
                target, delay = "/" + target, float(ms) / 1000.0
            out = self.handle(method, target, headers, body, keep_alive)
            if delay:
                asyncio.get_running_loop().call_later(delay, self._write, out, keep_alive)
            else:
                self._write(out, keep_alive)

    def _write(self, out: bytes, keep_alive: bool) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(out)
        if not keep_alive:
            self.transport.close()

    def handle(self, method: str, target: str, headers: dict, body: bytes, keep_alive: bool) -> bytes:
        path = target.split("?", 1)[0]
        if method == "GET" and path == "/_stats":
            return response(200, json.dumps(dict(STATS)).encode(), keep_alive=keep_alive)
        if method == "POST" and path == "/_reset":
            STATS.clear()
            return response(200, b"{}", keep_alive=keep_alive)
        if method != "POST":
            return response(405, b'{"error":"use POST"}', keep_alive=keep_alive)
        if path.endswith("/Messages.json") and "/Accounts/" in path:
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            STATS["twilio"] += 1
            answer = twilio_answer(path, form)
            if self.callbacks is not None and form.get("StatusCallback"):
                sent = json.loads(answer)
                self.callbacks.schedule(form["StatusCallback"][0], sent["sid"], sent["to"], sent["account_sid"])
            return response(201, answer, keep_alive=keep_alive)
        if path.endswith("/messages"):
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                payload = {}
            STATS["whatsapp"] += 1
            return response(200, whatsapp_answer(payload), keep_alive=keep_alive)
        STATS["not_found"] += 1
        return response(404, b'{"code":20404,"message":"not found","status":404}', keep_alive=keep_alive)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, host, port, backlog=1024, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="added before each answer (default 0)")
    parser.add_argument("--twilio-auth-token", default="", help="post signed `delivered` callbacks with this token")
    parser.add_argument("--callback-delay-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("the mock provider listens on loopback only")
    HttpProtocol.delay = args.delay_ms / 1000.0
    if args.twilio_auth_token:
        HttpProtocol.callbacks = Callbacks(args.twilio_auth_token, args.callback_delay_ms / 1000.0)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
