"""The sandbox provider: accepts messages, then reports delivery like a real one.

Nothing leaves the machine. After a send is accepted, the webhooks app asks
`callbacks()` for the signed status callbacks this provider "would" post and
feeds them through the same intake path a real provider's callbacks take.

Per-account settings (`ProviderAccount.settings`):
- `latency_ms`: how long `send` takes (default 0);
- `error_rate`: share of sends answered with a retryable 503 (default 0);
- `permanent_error_rate`: share of sends refused for good (code 21211, invalid number);
- `undelivered_rate`: share of accepted messages reported `undelivered` (default 0);
- `read_receipts`: report `read` after `delivered` on WhatsApp (default true;
  SMS has no read receipts, so an SMS ends `delivered`).
A number ending in 0000 is always reported `undelivered` (code 30003),
as a fixed way to see a failure in the demo.

`inbound_callback()` builds the signed callback of a customer's reply (an
inbound message, `"type": "inbound"`), so a user can see what a reply does:
on WhatsApp it opens the 24-hour window.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime

from providers.base import (
    DELIVERED,
    FAILED,
    READ,
    SENT,
    UNDELIVERED,
    AccountConfig,
    HealthResult,
    InboundMessage,
    OutboundMessage,
    ProviderAdapter,
    ProviderError,
    SendResult,
    StatusUpdate,
    WebhookRequest,
    body_signature,
    body_signed,
)

SIGNATURE_HEADER = "x-sandbox-signature"
STATUS_MAP = {"sent": SENT, "delivered": DELIVERED, "read": READ, "undelivered": UNDELIVERED, "failed": FAILED}


# Signed as Meta signs (X-Hub-Signature-256): an HMAC-SHA256 of the body with the account's webhook secret.
sign = body_signature


class SandboxAdapter(ProviderAdapter):
    name = "sandbox"
    label = "Sandbox"
    # Sends anything, as a stand-in for every real provider (it never calls `refuse_unsupported`).
    channels = ("sms", "whatsapp")
    supports_templates = True
    max_media = 10
    supports_mms = True
    optional_credentials = ("api_key",)

    def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        options = account.settings or {}
        rng = random.Random(f"{message.id}:{time.monotonic_ns()}")
        latency = float(options.get("latency_ms", 0) or 0)
        if latency:
            time.sleep(latency / 1000)
        if rng.random() < float(options.get("error_rate", 0) or 0):
            raise ProviderError(
                "sandbox: simulated server error (HTTP 503)", permanent=False, code="503", http_status=503
            )
        if rng.random() < float(options.get("permanent_error_rate", 0) or 0):
            raise ProviderError(
                "sandbox: the 'To' number is not a valid phone number", permanent=True, code="21211", http_status=400
            )
        return SendResult(
            provider_message_id="SB" + uuid.uuid4().hex, status=SENT, raw_status="accepted", segments=message.segments
        )

    def callbacks(
        self, account: AccountConfig, provider_message_id: str, to: str, our_id: str
    ) -> list[tuple[bytes, dict]]:
        """Return the (body, headers) of the status callbacks this message gets."""
        options = account.settings or {}
        rng = random.Random(provider_message_id)
        if to.endswith("0000") or rng.random() < float(options.get("undelivered_rate", 0) or 0):
            steps = [("undelivered", "30003", "Unreachable destination handset")]
        else:
            steps = [("delivered", "", "")]
            # SMS has no read receipts: `delivered` is final. WhatsApp reports `read`.
            if account.channel == "whatsapp" and options.get("read_receipts", True):
                steps.append(("read", "", ""))
        out = []
        now = time.time()
        for offset, (status, code, text) in enumerate(steps):
            payload = {
                "id": provider_message_id,
                "reference": our_id,
                "status": status,
                "timestamp": round(now + offset * 0.001, 3),
                "error_code": code,
                "error_message": text,
            }
            body = json.dumps(payload).encode()
            headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(account.webhook_secret, body)}
            out.append((body, headers))
        return out

    def inbound_callback(
        self, account: AccountConfig, from_number: str, body: str, *, to_number: str = ""
    ) -> tuple[bytes, dict]:
        """Return the (body, headers) of the callback a customer's reply from `from_number` gets."""
        payload = {
            "type": "inbound",
            "id": "SBin" + uuid.uuid4().hex,
            "channel": account.channel,
            "from": from_number,
            "to": to_number or account.sender,
            "body": body,
            "timestamp": round(time.time(), 3),
        }
        raw = json.dumps(payload).encode()
        return raw, {"content-type": "application/json", SIGNATURE_HEADER: sign(account.webhook_secret, raw)}

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        data = json.loads(request.body)
        if data.get("type") != "inbound":
            return []
        return [
            InboundMessage(
                provider_message_id=str(data["id"]),
                channel=str(data.get("channel") or ""),
                from_number=str(data["from"]),
                to_number=str(data.get("to") or ""),
                body=str(data.get("body") or ""),
                received_at=datetime.fromtimestamp(float(data["timestamp"]), tz=UTC),
            )
        ]

    def verify(self, request: WebhookRequest, account: AccountConfig) -> bool:
        return bool(account.webhook_secret) and body_signed(
            request.header(SIGNATURE_HEADER), request.body, account.webhook_secrets()
        )

    def parse_status_callback(
        self, request: WebhookRequest, account: AccountConfig | None = None
    ) -> list[StatusUpdate]:
        data = json.loads(request.body)
        if data.get("type") == "inbound":
            return []
        raw = str(data["status"])
        return [
            StatusUpdate(
                provider_message_id=str(data["id"]),
                status=STATUS_MAP.get(raw),
                raw_status=raw,
                occurred_at=datetime.fromtimestamp(float(data["timestamp"]), tz=UTC),
                error_code=str(data.get("error_code") or ""),
                error_message=str(data.get("error_message") or ""),
                our_message_id=str(data.get("reference") or ""),
                dedup_key=f"{data['id']}:{raw}",
            )
        ]

    def probe(self, account: AccountConfig) -> HealthResult:
        return HealthResult("ok", "The sandbox accepts every message.")
