"""Infobip SMS (API v3) adapter.

Wire format: shared/providers/infobip.md. Each account has its own base URL
(`https://{x}.api.infobip.com`, §1), so `base_url` is a credential; a set
`AccountConfig.api_base_url` (tests, regional endpoints) overrides it.

We send our own message id as `destinations[].messageId` (§2a): Infobip
rejects a repeated id with status 23, so a retry after a lost answer can
never send twice, and a delivery report can be matched on our id even before
the provider id is stored. Delivery reports are not signed (§5), so the
callback URL carries the account's token as `?t=`.

Per-account settings (`ProviderAccount.settings`):
- `intermediate_reports`: ask for PENDING / DELIVERED_TO_OPERATOR reports as
  well as the final one (default true), so messages move to `sent`.
- `validity_minutes`: how long Infobip keeps trying (default: Infobip's, 48 h).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests

from providers.base import (
    CALLBACK_TOKEN_PARAM,
    DELIVERED,
    FAILED,
    QUEUED,
    SENT,
    UNDELIVERED,
    AccountConfig,
    HealthResult,
    OutboundMessage,
    ProviderAdapter,
    ProviderError,
    SendResult,
    StatusUpdate,
    WebhookRequest,
    as_int,
    canonical_uuid,
    normalize_price,
    recipient_digits,
)

SEND_PATH = "/sms/3/messages"
BALANCE_PATH = "/account/1/balance"
LOGS_PATH = "/sms/3/logs"

# §1: "https://{xxxxx}.api.infobip.com", one label before api.infobip.com.
_HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.api\.infobip\.com$")

# Status names and ids from §3 and §4, mapped as in the README's normalized
# table. REJECTED_DUPLICATE_MESSAGE_ID maps to None: in a report it describes
# a repeated submission of a message Infobip already has, not that message.
STATUS_BY_NAME: dict[str, str | None] = {
    "PENDING_ACCEPTED": QUEUED,
    "PENDING_ENROUTE": SENT,
    "PENDING_WAITING_DELIVERY": SENT,
    "DELIVERED_TO_OPERATOR": SENT,  # intermediate: a handset report may follow (§4)
    "DELIVERED_TO_HANDSET": DELIVERED,
    "UNDELIVERABLE_REJECTED_OPERATOR": UNDELIVERED,
    "UNDELIVERABLE_NOT_DELIVERED": UNDELIVERED,
    "UNDELIVERABLE_NOT_SENT": UNDELIVERED,
    "EXPIRED_EXPIRED": UNDELIVERED,
    "EXPIRED_DLR_UNKNOWN": UNDELIVERED,
    "REJECTED_DUPLICATE_MESSAGE_ID": None,
    "MISSING_TO": FAILED,
}
STATUS_BY_ID: dict[int, str | None] = {
    26: QUEUED,
    7: SENT,
    3: SENT,
    2: SENT,
    5: DELIVERED,
    4: UNDELIVERED,
    9: UNDELIVERED,
    31: UNDELIVERED,
    15: UNDELIVERED,
    29: UNDELIVERED,
    23: None,
    **{sid: FAILED for sid in (6, 8, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21, 24, 25, 51, 52)},
}
STATUS_BY_PREFIX: tuple[tuple[str, str], ...] = (
    ("PENDING_", SENT),
    ("UNDELIVERABLE_", UNDELIVERED),
    ("EXPIRED_", UNDELIVERED),
    ("REJECTED_", FAILED),
)
# A DELIVERED status we do not know could be either end, so it has no group default.
STATUS_BY_GROUP: dict[str, str] = {
    "ACCEPTED": QUEUED,
    "PENDING": SENT,
    "UNDELIVERABLE": UNDELIVERED,
    "EXPIRED": UNDELIVERED,
    "REJECTED": FAILED,
}
GROUP_NAMES = {1: "PENDING", 2: "UNDELIVERABLE", 3: "DELIVERED", 4: "EXPIRED", 5: "REJECTED"}
# 87 SIGNALS_BLOCKED is listed under EXPIRED in §4 and REJECTED in §3: its
# group decides, and only without one does the README's REJECTED apply.
STATUS_BY_ID_LAST: dict[int, str] = {87: FAILED}

DUPLICATE_ID = 23


def normalize_status(status: dict[str, Any]) -> str | None:
    """Return our status for an Infobip `status` object, or None if unknown."""
    name = str(status.get("name") or "").upper()
    if name in STATUS_BY_NAME:
        return STATUS_BY_NAME[name]
    sid = as_int(status.get("id"))
    if sid in STATUS_BY_ID:
        return STATUS_BY_ID[sid]
    for prefix, normalized in STATUS_BY_PREFIX:
        if name.startswith(prefix):
            return normalized
    group = str(status.get("groupName") or GROUP_NAMES.get(as_int(status.get("groupId")), "")).upper()
    if group in STATUS_BY_GROUP:
        return STATUS_BY_GROUP[group]
    return STATUS_BY_ID_LAST.get(sid)


def base_url_error(value: str) -> str:
    """Return why `value` is not an Infobip account base URL, or "" if it is one."""
    parts = urlsplit(value.strip())
    if parts.scheme != "https":
        return "Enter the full base URL, starting with https://."
    try:
        port = parts.port
    except ValueError:
        return "Enter a base URL of the form https://xxxxx.api.infobip.com."
    if (
        parts.username
        or parts.password
        or port not in (None, 443)
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or not _HOST_RE.match(parts.hostname or "")
    ):
        return "Enter a base URL of the form https://xxxxx.api.infobip.com (shown in your Infobip portal)."
    return ""


class InfobipAdapter(ProviderAdapter):
    name = "infobip"
    label = "Infobip"
    channels = ("sms",)  # text SMS only: no media, no provider-side templates
    required_credentials = ("api_key", "base_url")
    public_credentials = ("base_url",)
    callback_token_in_url = True
    # A second send with the same messageId is refused as a duplicate (§3).
    dedupes_on_our_id = True

    # --- credentials -------------------------------------------------------
    @classmethod
    def validate_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """Return {field: error}; also checks the key's and the base URL's shape."""
        errors = super().validate_credentials(credentials)
        key = str(credentials.get("api_key", "")).strip()
        if key and "api_key" not in errors and (key.lower().startswith("app ") or re.search(r"\s", key)):
            errors["api_key"] = "Paste the API key alone, without the 'App ' prefix or spaces."
        base = str(credentials.get("base_url", "")).strip()
        if base and "base_url" not in errors:
            error = base_url_error(base)
            if error:
                errors["base_url"] = error
        return errors

    def api_url(self, account: AccountConfig, path: str) -> str:
        """Return the URL of `path` on this account's base URL; refuse a malformed one.

        The credential is checked again here because the API key goes to that
        host: a base URL that is not Infobip's would leak it.
        """
        if account.api_base_url:
            return account.api_base_url.rstrip("/") + path
        base = str(account.credentials.get("base_url", "")).strip()
        error = base_url_error(base)
        if error:
            raise ProviderError(f"infobip: bad base URL: {error}", permanent=True, code="bad_base_url")
        return base.rstrip("/") + path

    def prepare_session(self, session: requests.Session, account: AccountConfig) -> None:
        # §1: "Authorization: App <API_KEY>", JSON in and out.
        session.headers["Authorization"] = "App " + str(account.credentials.get("api_key", "")).strip()
        session.headers["Accept"] = "application/json"

    # --- send --------------------------------------------------------------
    def build_payload(self, account: AccountConfig, message: OutboundMessage) -> dict[str, Any]:
        """Return the JSON body of `POST /sms/3/messages` for one message (§2a)."""
        self.refuse_unsupported(message)
        to = self.require_recipient(recipient_digits(message.to))
        options = account.settings or {}
        item: dict[str, Any] = {
            # §2a: our id as messageId, so Infobip dedups a resend (status 23)
            # and reports can be matched before the provider id is stored.
            "destinations": [{"to": to, "messageId": message.id}],
            "content": {"text": message.body},
        }
        sender = message.sender or account.sender
        if sender:
            item["sender"] = sender
        validity = options.get("validity_minutes")
        if validity:
            item["options"] = {"validityPeriod": {"amount": int(validity), "timeUnit": "MINUTES"}}
        webhooks: dict[str, Any] = {"contentType": "application/json", "callbackData": message.id}
        callback = message.status_callback_url or account.callback_url
        if callback:
            # Without a url the account's Subscription settings apply (§2a).
            webhooks["delivery"] = {
                "url": callback,
                "intermediateReport": bool(options.get("intermediate_reports", True)),
            }
        item["webhooks"] = webhooks
        return {"messages": [item], "options": {"includeSmsCountInResponse": True}}

    def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        """Send one SMS; raise ProviderError classified as in the README's error table."""
        payload = self.build_payload(account, message)
        response, data = self.call(account, "POST", self.api_url(account, SEND_PATH), json=payload)
        messages = data.get("messages") if isinstance(data, dict) else None
        if not messages or not isinstance(messages[0], dict) or not messages[0].get("messageId"):
            raise self.malformed(response, "no messages[].messageId")
        item = messages[0]
        status = item.get("status") if isinstance(item.get("status"), dict) else {}
        # §3: a 200 can still carry a per-destination rejection.
        self._raise_for_send_status(status, response.status_code)
        normalized = normalize_status(status)
        details = item.get("details") if isinstance(item.get("details"), dict) else {}
        # v3 answers details.messageCount; v2 answers smsCount (§2b).
        segments = as_int(details.get("messageCount", item.get("smsCount")))
        return SendResult(
            provider_message_id=str(item["messageId"]),
            status=normalized if normalized in (QUEUED, SENT) else QUEUED,
            raw_status=str(status.get("name") or ""),
            segments=segments,
        )

    def _raise_for_send_status(self, status: dict[str, Any], http_status: int) -> None:
        sid = as_int(status.get("id"))
        name = str(status.get("name") or "").upper()
        description = str(status.get("description") or name or "rejected")
        if sid == DUPLICATE_ID or name == "REJECTED_DUPLICATE_MESSAGE_ID":
            # README "Already sent": Infobip has this messageId from an earlier try.
            raise ProviderError(
                f"infobip: {description}",
                permanent=True,
                code=name or str(sid),
                http_status=http_status,
                already_sent=True,
            )
        if normalize_status(status) in (FAILED, UNDELIVERED):
            # The `infobip` table of providers/errors.toml knows a rejection by its id or its name.
            known = [info for info in (self.error_info(sid), self.error_info(name)) if info is not None]
            raise ProviderError(
                f"infobip: {description}",
                permanent=not any(info.retryable for info in known),
                code=name or str(sid),
                http_status=http_status,
                kind=next((info.kind for info in known if info.kind), ""),
            )

    def error_from_response(self, response: requests.Response) -> ProviderError:
        """Return the error for a non-200 answer, preferring the provider's own code and text (§3)."""
        code, text = parse_error_body(response)
        status = response.status_code
        if status == 429 or status >= 500:
            if not code and not text:
                return self.http_error(response)
            return self.retryable_error(response, text or f"HTTP {status}", code)
        if status in (401, 403):
            default = "the API key was refused" if status == 401 else "the API key lacks the SMS scope"
        elif 300 <= status < 400:
            default = f"unexpected redirect (HTTP {status}); check the base URL"
        else:
            default = f"request refused (HTTP {status})"
        # §3: 400 is our payload, 401/403 the key; neither improves on a retry.
        return ProviderError(
            f"infobip: {text or default}", permanent=True, code=code or str(status), http_status=status
        )

    # --- callbacks ---------------------------------------------------------
    def verify(self, request: WebhookRequest, account: AccountConfig) -> bool:
        """Return True if the callback carries this account's token.

        §5: reports are not signed, so the token rides in the URL as `?t=`.
        A Subscription with BASIC security (§5.2) may carry it instead as the
        password of `Authorization: Basic`.
        """
        return self.token_matches(
            account, request.query_value(CALLBACK_TOKEN_PARAM), basic_password(request.header("authorization"))
        )

    def parse_status_callback(
        self, request: WebhookRequest, account: AccountConfig | None = None
    ) -> list[StatusUpdate]:
        """Return one StatusUpdate per element of the batched `results[]` (§4)."""
        try:
            data = json.loads(request.body, parse_float=Decimal)
        except ValueError as exc:
            raise ValueError("infobip: delivery report is not JSON") from exc
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ValueError("infobip: delivery report has no results[]")
        return [update for item in results if (update := self.parse_report(item)) is not None]

    def parse_report(self, item: Any) -> StatusUpdate | None:
        """Return the StatusUpdate of one report element, or None if it names no message."""
        if not isinstance(item, dict) or not item.get("messageId"):
            return None
        message_id = str(item["messageId"])
        status = item.get("status") if isinstance(item.get("status"), dict) else {}
        normalized = normalize_status(status)
        raw_status = str(status.get("name") or status.get("groupName") or status.get("id") or "")
        error_code, error_message = "", ""
        error = item.get("error") if isinstance(item.get("error"), dict) else {}
        if error and as_int(error.get("id")) != 0 and str(error.get("name") or "").upper() != "NO_ERROR":
            error_code = str(error.get("name") or error.get("id") or "")
            error_message = str(error.get("description") or "")
        elif normalized in (FAILED, UNDELIVERED):
            # §4: "Store status.name ... as our error code" when no error says more.
            error_code = str(status.get("name") or status.get("id") or "")
            error_message = str(status.get("description") or "")
        done_at = str(item.get("doneAt") or "")
        extra: dict[str, Any] = {}
        pricing = item.get("price") if isinstance(item.get("price"), dict) else {}
        if pricing.get("pricePerMessage") is not None:
            extra["price"] = str(pricing["pricePerMessage"])
            extra["currency"] = str(pricing.get("currency") or "")
        segments = as_int(item.get("messageCount", item.get("smsCount")))  # v3 / v2 (§4)
        if segments is not None:
            extra["segments"] = segments
        # `price.pricePerMessage` is the price of one SMS, and a long text is
        # `messageCount` SMS (§4): the message cost their product.
        price, currency = normalize_price(pricing.get("pricePerMessage"), pricing.get("currency"))
        if price and segments and segments > 1:
            price = format((Decimal(price) * segments).normalize(), "f")
        for key, name in (("mccMnc", "mcc_mnc"), ("bulkId", "bulk_id")):
            if item.get(key):
                extra[name] = str(item[key])
        if error and "permanent" in error:
            extra["error_permanent"] = bool(error["permanent"])
        return StatusUpdate(
            provider_message_id=message_id,
            status=normalized,
            raw_status=raw_status,
            occurred_at=parse_time(done_at),
            error_code=error_code,
            error_message=error_message,
            # We send our id as both messageId and callbackData (§2a).
            our_message_id=canonical_uuid(item.get("callbackData")) or canonical_uuid(message_id),
            dedup_key=f"{message_id}:{status.get('id', '')}:{done_at}",
            extra=extra,
            price=price,
            currency=currency if price else "",
        )

    # --- health ------------------------------------------------------------
    def probe(self, account: AccountConfig) -> HealthResult:
        """Check the key with `GET /account/1/balance`, then `/sms/3/logs` if it lacks that scope (§1)."""
        response = self.request(account, "GET", self.api_url(account, BALANCE_PATH))
        if response.status_code == 200:
            try:
                data = response.json()
                return HealthResult("ok", f"Balance: {data['balance']} {data.get('currency', '')}".strip())
            except (ValueError, KeyError, TypeError):
                return HealthResult("ok", "Infobip accepted the API key.")
        if response.status_code == 401:
            return HealthResult("bad_credentials", "Infobip refused the API key (HTTP 401).")
        if response.status_code == 403:
            # §1: a key without the balance scope gets 403; the SMS logs need SMS scopes only.
            fallback = self.request(account, "GET", self.api_url(account, LOGS_PATH), params={"limit": 1})
            if fallback.status_code == 200:
                return HealthResult("ok", "Infobip accepted the API key (it has no balance scope).")
            if fallback.status_code in (401, 403):
                return HealthResult("bad_credentials", "The API key lacks the SMS scope (HTTP 403).")
            return HealthResult("unreachable", f"Infobip answered HTTP {fallback.status_code}.")
        return HealthResult("unreachable", f"Infobip answered HTTP {response.status_code}.")


# --- helpers -----------------------------------------------------------------


def parse_error_body(response: requests.Response) -> tuple[str, str]:
    """Return (code, text) from either error envelope of §3, or ("", "")."""
    data = ProviderAdapter.json_object(response)
    request_error = data.get("requestError")
    service = request_error.get("serviceException") if isinstance(request_error, dict) else None
    if isinstance(service, dict):
        text = str(service.get("text") or "")
        problems = service.get("validationErrors")
        if isinstance(problems, dict) and problems:
            details = "; ".join(
                f"{field}: {', '.join(map(str, issues)) if isinstance(issues, list) else issues}"
                for field, issues in problems.items()
            )
            text = f"{text} ({details})" if text else details
        return str(service.get("messageId") or ""), text
    if "errorCode" in data or "violations" in data or "description" in data:
        text = str(data.get("description") or "")
        violations = data.get("violations")
        if isinstance(violations, list) and violations:
            details = "; ".join(
                f"{v.get('property', '')}: {v.get('violation', '')}" if isinstance(v, dict) else str(v)
                for v in violations
            )
            text = f"{text} ({details})" if text else details
        return str(data.get("errorCode") or ""), text
    return "", ""


def parse_time(value: str) -> datetime | None:
    """Return the aware datetime of an Infobip time (`yyyy-MM-dd'T'HH:mm:ss.SSS+ZZZZ`), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # §4 always gives an offset; a time without one is taken as UTC.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def basic_password(header: str) -> str:
    """Return the password of an `Authorization: Basic` header, or ""."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]
