"""Unifonic NextGen SMS adapter.

Wire format: shared/providers/unifonic.md, the least certain of our providers:
send and errors are medium confidence, the delivery report payload low, so
parsing is lenient (§4) and classification falls back on the message text (§3).

Parameters go as a form body rather than the query string the spec declares
(§1: both work; the body keeps the text and the AppSid out of access logs).
We send our message id, without dashes, as `CorrelationID` (§2), which
Unifonic echoes back and most likely dedups on (409).

Time zone: Unifonic gives `SCTS` in the account's time zone with no offset
(§4). Set it as the `timezone` credential, or `timezone` in the account's
settings (an IANA name such as "Asia/Riyadh"); without one, UTC is assumed.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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

SEND_PATH = "/rest/SMS/messages"
DETAILS_PATH = "/rest/SMS/Messages/GetMessagesDetails"
SUCCESS_CODE = "ER-00"
SUCCESS_STATUSES = tuple(range(200, 300))

# README "Normalized status mapping", Unifonic column; matched case-insensitively
# (§4). UNDELIVERABLE is undelivered as the README has it, although §4 lists
# the SMPP name under failed. UNKNOWN is "no change", so it maps to None.
STATUS_MAP: dict[str, str | None] = {
    "queued": QUEUED,
    "scheduled": QUEUED,
    "sent": SENT,
    "enroute": SENT,
    "accepted": SENT,
    "pending": SENT,
    "delivery not confirmed": SENT,
    "delivered": DELIVERED,
    "undeliverable": UNDELIVERED,
    "undelivered": UNDELIVERED,
    "expired": UNDELIVERED,
    "deleted": UNDELIVERED,
    "rejected": FAILED,
    "failed": FAILED,
    "skipped": FAILED,
    "unknown": None,
}

# §3: Unifonic answers most failures with its own HTTP status codes; their texts and classes
# are the `unifonic` table of providers/errors.toml.
DUPLICATE_STATUS = 409


def normalize_status(value: str) -> str | None:
    """Return our status for a Unifonic `Status` / `DLR` value, or None if unknown."""
    return STATUS_MAP.get(" ".join(str(value or "").lower().split()))


def correlation_id(message_id: str) -> str:
    """Return our message id as sent in `CorrelationID`: a UUID without dashes (§2)."""
    try:
        return uuid.UUID(message_id).hex
    except (ValueError, TypeError, AttributeError):
        return message_id


class UnifonicAdapter(ProviderAdapter):
    name = "unifonic"
    label = "Unifonic"
    channels = ("sms",)  # text SMS only: no media, no provider-side templates
    default_base_url = "https://el.cloud.unifonic.com"
    # A second send with the same CorrelationID is refused as a duplicate (§3).
    dedupes_on_our_id = True
    required_credentials = ("app_sid",)
    # §1: Basic auth is declared but no client sends it; keep it optional.
    # `sender_id` is the default SenderID when the account has no sender.
    optional_credentials = ("sender_id", "username", "password", "timezone")
    public_credentials = ("sender_id", "username", "timezone")
    callback_token_in_url = True

    # --- credentials -------------------------------------------------------
    @classmethod
    def validate_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """Return {field: error}; also checks the AppSid, Basic auth pair and time zone."""
        errors = super().validate_credentials(credentials)
        app_sid = str(credentials.get("app_sid", "")).strip()
        if app_sid and re.search(r"\s", app_sid):
            errors["app_sid"] = "Paste the AppSid alone, without spaces."
        username = str(credentials.get("username", "") or "").strip()
        password = str(credentials.get("password", "") or "")
        if bool(username) != bool(password):
            errors["password" if username else "username"] = "Enter both the username and the password, or neither."
        zone = str(credentials.get("timezone", "") or "").strip()
        if zone and _zone(zone) is None:
            errors["timezone"] = "Enter a time zone name such as Asia/Riyadh."
        return errors

    def prepare_session(self, session: requests.Session, account: AccountConfig) -> None:
        session.headers["Accept"] = "application/json"
        username = str(account.credentials.get("username", "") or "").strip()
        password = str(account.credentials.get("password", "") or "")
        if username and password:
            session.auth = (username, password)

    def api_url(self, account: AccountConfig, path: str) -> str:
        """Return the URL of `path` on the account's base URL (the public one by default)."""
        return account.base_url(self.default_base_url) + path

    # --- send --------------------------------------------------------------
    def build_params(self, account: AccountConfig, message: OutboundMessage) -> dict[str, str]:
        """Return the form parameters of `POST /rest/SMS/messages` for one message (§2)."""
        self.refuse_unsupported(message)
        recipient = self.require_recipient(recipient_digits(message.to))
        params = {
            "AppSid": str(account.credentials.get("app_sid", "")).strip(),
            "Recipient": recipient,
            "Body": message.body,
            "responseType": "JSON",
            "CorrelationID": correlation_id(message.id),
        }
        # §2: without a SenderID the app's default sender applies.
        sender = message.sender or account.sender or str(account.credentials.get("sender_id", "") or "").strip()
        if sender:
            params["SenderID"] = sender
        callback = message.status_callback_url or account.callback_url
        if callback:
            params["statusCallback"] = callback
        # `async` and `baseEncode` are left off (§1, §2): we want the MessageID
        # in the answer, and plain values.
        return params

    def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        """Send one SMS; raise ProviderError classified as in §3 and the README's error table.

        An unreadable answer is retryable: a resend carries the same CorrelationID.
        """
        params = self.build_params(account, message)
        response, body = self.call(account, "POST", self.api_url(account, SEND_PATH), ok=SUCCESS_STATUSES, data=params)
        if not isinstance(body, dict):
            raise self.malformed(response)
        if not is_success(body):
            raise self.error_from_envelope(body, response.status_code)
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        if data.get("MessageID") in (None, ""):
            raise self.malformed(response)
        raw_status = str(data.get("Status") or "")
        normalized = normalize_status(raw_status)
        if normalized in (FAILED, UNDELIVERED):
            # §2: Rejected / Failed at send time are final and not charged.
            raise ProviderError(
                f"unifonic: message {raw_status.lower()} by Unifonic",
                permanent=True,
                code=raw_status,
                http_status=response.status_code,
            )
        units = as_int(data.get("NumberOfUnits"))
        # `Cost` in `CurrencyCode` (§2); with 0 units the message is not priced yet,
        # so its 0 cost is not a price.
        price, currency = normalize_price(data.get("Cost"), data.get("CurrencyCode")) if units else ("", "")
        return SendResult(
            provider_message_id=str(data["MessageID"]),
            status=normalized if normalized in (QUEUED, SENT) else QUEUED,
            raw_status=raw_status,
            segments=units or None,  # 0 until priced (§2)
            price=price,
            currency=currency,
        )

    def error_from_response(self, response: requests.Response) -> ProviderError:
        """Return the error for a non-2xx answer: by HTTP status first, then the message text (§3)."""
        status = response.status_code
        body = self.json_object(response)
        text = str(body.get("message") or "").strip()
        envelope_code = str(body.get("errorCode") or "").strip()
        known = self.error_info(status)
        detail = text or (known.text if known else "") or f"HTTP {status}"
        if envelope_code:
            detail = f"{detail} ({envelope_code})"
        if status == DUPLICATE_STATUS or "duplicate" in text.lower():
            return _already_sent(detail, status)
        if status == 429 or status >= 500:
            if not body:
                return self.http_error(response)
            return self.retryable_error(response, detail)
        if known is None and "too many requests" in text.lower():
            return ProviderError(f"unifonic: {detail}", permanent=False, code=str(status), http_status=status)
        # Every other 4xx is our credentials, our payload or the number: a retry would not help.
        return self.coded_error(response, f"unifonic: {detail}", str(status))

    def error_from_envelope(self, body: dict[str, Any], http_status: int) -> ProviderError:
        """Return the error for a 2xx answer whose envelope says it failed (§3)."""
        text = str(body.get("message") or "").strip()
        code = str(body.get("errorCode") or "").strip() or "unknown"
        lowered = text.lower()
        if "duplicate" in lowered:
            return _already_sent(f"{text} ({code})", http_status)
        if "too many requests" in lowered:
            return ProviderError(f"unifonic: {text}", permanent=False, code=code, http_status=http_status)
        return ProviderError(
            f"unifonic: {text or 'request refused'}", permanent=True, code=code, http_status=http_status
        )

    # --- callbacks ---------------------------------------------------------
    # `verify` is the base's: the callback URL carries the account's `?t=` token (§5: nothing is signed).

    def parse_status_callback(
        self, request: WebhookRequest, account: AccountConfig | None = None
    ) -> list[StatusUpdate]:
        """Return the StatusUpdates of a delivery report, JSON or form (§4).

        Pass `account` so that `SCTS` is read in the account's time zone;
        without it, UTC is assumed.
        """
        zone = account_zone(account)
        updates = []
        for fields in callback_records(request):
            update = self.parse_record(fields, zone)
            if update is not None:
                updates.append(update)
        return updates

    def parse_record(self, fields: dict[str, str], zone: tzinfo = UTC) -> StatusUpdate | None:
        """Return the StatusUpdate of one report with lower-cased keys, or None if it names no message."""
        message_id = fields.get("messageid", "")
        our_id = canonical_uuid(fields.get("correlationid", ""))
        if not message_id and not our_id:
            return None
        raw_status = fields.get("dlr") or fields.get("status") or ""
        scts = fields.get("scts", "")
        error_code = fields.get("errorcode", "")
        if error_code.upper() in (SUCCESS_CODE, "0"):
            error_code = ""
        extra: dict[str, Any] = {}
        for key, name in (("timecreated", "time_created"), ("dlrtimestamp", "dlr_timestamp")):
            if fields.get(key):
                extra[name] = fields[key]
        units = as_int(fields.get("numberofunits"))
        if units:
            extra["segments"] = units
        return StatusUpdate(
            provider_message_id=message_id,
            status=normalize_status(raw_status),
            raw_status=raw_status,
            # SCTS is the operator's report time; DLRTimestamp (Unifonic's push) is the fallback.
            occurred_at=parse_local_time(scts, zone) or parse_local_time(fields.get("dlrtimestamp", ""), zone),
            error_code=error_code,
            error_message=fields.get("errormessage", ""),
            our_message_id=our_id,
            dedup_key=f"{message_id}:{raw_status}:{scts}",
            extra=extra,
        )

    # --- health and look-up -----------------------------------------------
    def probe(self, account: AccountConfig) -> HealthResult:
        """Check the AppSid with `POST /rest/SMS/Messages/GetMessagesDetails`, Limit=1 (§1)."""
        params = {"AppSid": str(account.credentials.get("app_sid", "")).strip(), "Limit": "1", "responseType": "JSON"}
        response = self.request(account, "POST", self.api_url(account, DETAILS_PATH), data=params)
        status = response.status_code
        body = self.json_object(response)
        text = str(body.get("message") or "").strip()
        if 200 <= status < 300 and is_success(body):
            return HealthResult("ok", "Unifonic accepted the AppSid.")
        if status in (401, 402, 403) or "authentication" in text.lower():
            return HealthResult("bad_credentials", f"Unifonic refused the AppSid: {text or self.error_text(status)}")
        return HealthResult("unreachable", f"Unifonic answered HTTP {status}" + (f": {text}" if text else "."))


# --- helpers -----------------------------------------------------------------
def is_success(body: dict[str, Any]) -> bool:
    """Return True for a success envelope: errorCode ER-00, else `success` true or "true" (§2)."""
    code = str(body.get("errorCode") or "").strip().upper()
    if code:
        return code == SUCCESS_CODE
    return body.get("success") is True or str(body.get("success")).lower() == "true"


def callback_records(request: WebhookRequest) -> list[dict[str, str]]:
    """Return each report of a callback as {lower-cased key: text}.

    §4: the body may be JSON (an object or a list of them) or a form, and
    fields may come in the query string; the body wins over the query.
    """
    base = {
        key.lower(): value
        for key, value in parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        if key != CALLBACK_TOKEN_PARAM
    }
    base.update({key.lower(): str(value) for key, value in request.query.items() if key != CALLBACK_TOKEN_PARAM})
    body = request.body.strip()
    content_type = request.header("content-type").lower()
    if not body:
        return [base] if base else []
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ValueError("unifonic: delivery report is not valid JSON") from exc
        items = data if isinstance(data, list) else [data]
        records = []
        for item in items:
            if isinstance(item, dict):
                records.append({**base, **{str(key).lower(): _text(value) for key, value in item.items()}})
        return records
    form = request.form
    if not form:
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise ValueError("unifonic: delivery report is not UTF-8") from exc
    return [{**base, **{key.lower(): str(value) for key, value in form.items()}}]


def account_zone(account: AccountConfig | None) -> tzinfo:
    """Return the account's time zone: settings, then the `timezone` credential, else UTC."""
    if account is None:
        return UTC
    name = str((account.settings or {}).get("timezone") or account.credentials.get("timezone") or "").strip()
    return (_zone(name) if name else None) or UTC


def parse_local_time(value: str, zone: tzinfo = UTC) -> datetime | None:
    """Return the aware UTC datetime of `yyyy-mm-dd hh:mm:ss` in `zone`, or None (§4)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _already_sent(detail: str, http_status: int) -> ProviderError:
    # README "Already sent": Unifonic has this CorrelationID; do not resend.
    return ProviderError(
        f"unifonic: {detail}",
        permanent=True,
        code=str(DUPLICATE_STATUS),
        http_status=http_status,
        already_sent=True,
    )


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)
