"""Twilio Programmable Messaging (SMS and MMS).

Wire format: /work/shared/providers/twilio.md (sections cited as "doc §n")
and the normalized maps in providers/README (status map, error classes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import requests

from providers.base import (
    CANCELED,
    DELIVERED,
    FAILED,
    OUR_ID_PARAM,
    QUEUED,
    READ,
    SENT,
    UNDELIVERED,
    AccountConfig,
    HealthResult,
    InboundMessage,
    MediaRef,
    OutboundMessage,
    PriceReport,
    ProviderAdapter,
    ProviderError,
    SendResult,
    StatusUpdate,
    UnsupportedFeature,
    WebhookRequest,
    canonical_uuid,
    normalize_price,
)

SIGNATURE_HEADER = "x-twilio-signature"

# What an inbound webhook is answered with so that Twilio sends no reply (doc §6).
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY_SID_RE = re.compile(r"^SK[0-9a-fA-F]{32}$")

# Twilio's MessageStatus to ours (README "Normalized status mapping").
# `receiving`/`received` belong to inbound messages, so a status callback
# carrying them moves nothing.
STATUS_MAP: dict[str, str | None] = {
    "accepted": QUEUED,
    "scheduled": QUEUED,
    "queued": QUEUED,
    "sending": QUEUED,
    "sent": SENT,
    "delivered": DELIVERED,
    # Multi-part or group message: treated as delivered (README, unconfirmed).
    "partially_delivered": DELIVERED,
    "read": READ,
    "undelivered": UNDELIVERED,
    "failed": FAILED,
    "canceled": CANCELED,
    "receiving": None,
    "received": None,
}

# Send errors and the asynchronous codes of failed/undelivered callbacks:
# the `twilio` table of providers/errors.toml (doc §3, README "Error classes").

# Callback fields kept on the event (doc §4, §6); everything else stays in the raw body.
_STATUS_EXTRA_FIELDS = (
    "AccountSid",
    "MessagingServiceSid",
    "From",
    "To",
    "NumSegments",
    "NumMedia",
    "ApiVersion",
    "RawDlrDoneDate",
    "ErrorMessage",
    "ChannelPrefix",
    "ChannelInstallSid",
    "ChannelStatusMessage",
    "EventType",
)
_INBOUND_EXTRA_FIELDS = (
    "AccountSid",
    "MessagingServiceSid",
    "NumSegments",
    "NumMedia",
    "OptOutType",
    "FromCity",
    "FromState",
    "FromZip",
    "FromCountry",
    "ToCity",
    "ToState",
    "ToZip",
    "ToCountry",
)


def compute_signature(auth_token: str, url: str, params: dict[str, list[str]] | None = None) -> str:
    """Return Twilio's X-Twilio-Signature for a URL and its POST params (doc §5)."""
    payload = url
    for name in sorted(params or {}):
        for value in sorted(set((params or {})[name])):
            payload += name + value
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_without_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port is None:
        return url
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = hostport.rsplit(":", 1)[0]
    return urlunsplit(parts._replace(netloc=userinfo + at + host))


def _url_with_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.port is not None:
        return url
    port = 443 if parts.scheme == "https" else 80
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))


def _params(request: WebhookRequest) -> dict[str, list[str]]:
    """Return every POST parameter with all its values.

    The raw body is preferred: Twilio signs over every field it sent,
    repeated ones included (doc §5).
    """
    content_type = request.header("content-type").lower()
    if request.body and "application/x-www-form-urlencoded" in content_type:
        return parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    if request.form:
        return {name: [value] for name, value in request.form.items()}
    if request.body and not content_type:
        return parse_qs(request.body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {}


def _fields(request: WebhookRequest) -> dict[str, str]:
    return {name: values[0] for name, values in _params(request).items() if values}


def is_inbound(request: WebhookRequest) -> bool:
    """Tell an inbound SMS/MMS (True) from a status callback (False).

    Inbound webhooks carry `SmsStatus=received` and no `MessageStatus`
    (doc §6); status callbacks always carry `MessageStatus` (doc §4).
    """
    fields = _fields(request)
    status = fields.get("MessageStatus", "")
    if status in ("received", "receiving"):
        return True
    if status:
        return False
    return fields.get("SmsStatus", "received") in ("received", "receiving")


def parse_raw_dlr_done_date(value: str) -> datetime | None:
    """Return RawDlrDoneDate (`YYMMDDhhmm`, no time zone, doc §4) read as UTC, or None."""
    value = (value or "").strip()
    if not re.fullmatch(r"\d{10}", value):
        return None
    try:
        return datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None


def _media_kind(content_type: str) -> str:
    major = content_type.split("/", 1)[0].lower()
    return major if major in ("image", "video", "audio") else "document"


class TwilioAdapter(ProviderAdapter):
    name = "twilio"
    label = "Twilio"
    channels = ("sms",)
    max_media = 10  # doc §2: MediaUrl repeats at most 10 times
    supports_mms = True
    default_base_url = "https://api.twilio.com/2010-04-01"
    required_credentials = ("account_sid", "auth_token")
    # An API key sends; the primary Auth Token is still needed to verify
    # callbacks, since an API key secret cannot (doc §5).
    optional_credentials = ("api_key_sid", "api_key_secret")
    public_credentials = ("account_sid", "api_key_sid")
    webhook_ack = (EMPTY_TWIML, "text/xml")
    # Twilio echoes no id of ours: it rides in the per-message StatusCallback URL.
    our_id_in_callback_url = True

    # --- credentials -------------------------------------------------------
    @classmethod
    def validate_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """Return {field: error}; checks the SID shapes and the allowed combinations."""
        errors = super().validate_credentials(credentials)
        account_sid = str(credentials.get("account_sid", "")).strip()
        key_sid = str(credentials.get("api_key_sid", "")).strip()
        key_secret = str(credentials.get("api_key_secret", "")).strip()
        if account_sid and not ACCOUNT_SID_RE.match(account_sid):
            if API_KEY_SID_RE.match(account_sid):
                errors["account_sid"] = "This is an API key SID (SK…); the Account SID starts with AC."
            else:
                errors["account_sid"] = "An Account SID starts with AC and has 34 characters."
        if key_sid and not API_KEY_SID_RE.match(key_sid):
            errors["api_key_sid"] = "An API key SID starts with SK and has 34 characters."
        if key_sid and not key_secret:
            errors["api_key_secret"] = "Enter the secret of this API key."
        if key_secret and not key_sid:
            errors["api_key_sid"] = "Enter the SID (SK…) of this API key secret."
        return errors

    @staticmethod
    def _uses_api_key(account: AccountConfig) -> bool:
        creds = account.credentials
        return bool(str(creds.get("api_key_sid", "")).strip() and str(creds.get("api_key_secret", "")).strip())

    @staticmethod
    def _account_sid(account: AccountConfig) -> str:
        return quote(str(account.credentials.get("account_sid", "")).strip(), safe="")

    # --- HTTP --------------------------------------------------------------
    def prepare_session(self, session: requests.Session, account: AccountConfig) -> None:
        """Set Basic auth: the API key where there is one, else AccountSid:AuthToken (doc §1)."""
        creds = account.credentials
        if self._uses_api_key(account):
            session.auth = (str(creds["api_key_sid"]).strip(), str(creds["api_key_secret"]).strip())
        else:
            session.auth = (str(creds.get("account_sid", "")).strip(), str(creds.get("auth_token", "")).strip())
        session.headers["Accept"] = "application/json"

    def error_from_response(self, response: requests.Response) -> ProviderError:
        """Return the ProviderError for a non-success answer (doc §3); the body's code decides first."""
        status = response.status_code
        body = self.json_object(response)
        code = text = more_info = ""
        if body.get("code") is not None:
            code = str(body.get("code"))
            # Classic body has `message`; the RFC 9457 one has `title`/`detail`.
            text = str(body.get("message") or body.get("detail") or body.get("title") or "")
            more_info = str(body.get("more_info") or body.get("type") or "")
        message = f"twilio: {text or f'HTTP {status}'}"
        if code:
            message += f" (code {code})"
        if more_info:
            message += f" {more_info}"
        # A 429 with 20429, a 400 with 21611: see the `twilio` table of providers/errors.toml.
        return self.coded_error(response, message, code)

    # --- send --------------------------------------------------------------
    def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        """Send one SMS or MMS; return Twilio's sid and accepted status (doc §2)."""
        self.refuse_unsupported(message)
        for media in message.media:
            if not media.url:
                # MediaUrl must be publicly fetchable (doc §2): a provider media id has no meaning here.
                raise UnsupportedFeature("twilio: media must be sent by URL")

        sender = message.sender or account.sender
        data: list[tuple[str, str]] = [("To", message.to)]
        if sender.startswith("MG"):
            data.append(("MessagingServiceSid", sender))
        elif sender:
            data.append(("From", sender))
        if message.body:
            data.append(("Body", message.body))
        for media in message.media:
            data.append(("MediaUrl", media.url))
        # Twilio echoes no id of ours, so the callback URL is how a callback
        # finds its account (README "At a glance").
        # The dispatcher adds our message id to the URL (`?m=`), so a callback
        # settles a send whose answer we never read (a timeout).
        callback = message.status_callback_url or account.callback_url
        if callback:
            data.append(("StatusCallback", callback))

        url = f"{account.base_url(self.default_base_url)}/Accounts/{self._account_sid(account)}/Messages.json"
        response, body = self.call(account, "POST", url, ok=(200, 201), data=data)
        sid = body.get("sid") if isinstance(body, dict) else None
        if not sid:
            raise self.malformed(response, "no sid")
        raw_status = str(body.get("status") or "")
        try:
            segments = int(body.get("num_segments") or 0) or None  # "0" until a service sender is set
        except (TypeError, ValueError):
            segments = None
        # `price` is null at creation (doc §2): Twilio prices a message once it is
        # sent, and `fetch_price` reads it later from the Message resource.
        price, currency = normalize_price(body.get("price"), body.get("price_unit"))
        return SendResult(
            provider_message_id=str(sid),
            # Twilio says `queued` or `accepted` at creation (doc §2); only `sent` is sent.
            status=SENT if raw_status == "sent" else QUEUED,
            raw_status=raw_status,
            segments=segments,
            price=price,
            currency=currency if price else "",
        )

    fetches_prices = True

    def fetch_price(self, account: AccountConfig, provider_message_id: str) -> PriceReport:
        """Read `price` and `price_unit` of the Message resource (`GET …/Messages/{Sid}.json`, doc §2)."""
        base = account.base_url(self.default_base_url)
        url = f"{base}/Accounts/{self._account_sid(account)}/Messages/{provider_message_id}.json"
        response, body = self.call(account, "GET", url)
        if not isinstance(body, dict):
            raise self.malformed(response, "not an object")
        price, currency = normalize_price(body.get("price"), body.get("price_unit"))
        # A message that never left Twilio is never priced: stop asking.
        final = bool(price) or str(body.get("status") or "") in ("failed", "canceled")
        return PriceReport(provider_message_id, price, currency if price else "", final=final)

    # --- webhooks ----------------------------------------------------------
    def verify(self, request: WebhookRequest, account: AccountConfig) -> bool:
        """Check X-Twilio-Signature with the account's primary Auth Token (doc §5)."""
        given = request.header(SIGNATURE_HEADER)
        token = str(account.credentials.get("auth_token", "")).strip()
        if not given or not token:
            return False
        query = parse_qs(urlsplit(request.url).query)
        if "bodySHA256" in query:
            # JSON-bodied webhooks: the body is pinned by its hash and no params are signed.
            body_ok = hmac.compare_digest(hashlib.sha256(request.body).hexdigest(), query["bodySHA256"][0])
            params: dict[str, list[str]] = {}
        else:
            body_ok = True
            params = _params(request) if request.method.upper() == "POST" else {}
        # Twilio's SDK accepts the URL with the port stripped or with :443/:80 added.
        ok = False
        for url in (_url_without_port(request.url), _url_with_port(request.url)):
            if hmac.compare_digest(compute_signature(token, url, params).encode(), given.encode()):
                ok = True
        return ok and body_ok

    def is_inbound(self, request: WebhookRequest) -> bool:
        """Tell an inbound message from a status callback; see `is_inbound`."""
        return is_inbound(request)

    def parse_status_callback(
        self, request: WebhookRequest, account: AccountConfig | None = None
    ) -> list[StatusUpdate]:
        """Return the one status report of a callback; [] for an inbound message."""
        fields = _fields(request)
        sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
        if not sid or is_inbound(request):
            return []
        raw = fields.get("MessageStatus") or fields.get("SmsStatus") or ""
        error_code = fields.get("ErrorCode", "")
        raw_dlr = fields.get("RawDlrDoneDate", "")
        error_message = ""
        if error_code:
            error_message = (
                self.error_text(error_code) or fields.get("ErrorMessage", "") or fields.get("ChannelStatusMessage", "")
            )
        extra: dict[str, Any] = {name: fields[name] for name in _STATUS_EXTRA_FIELDS if fields.get(name)}
        if fields.get("NumSegments", "").isdigit():
            extra["segments"] = int(fields["NumSegments"])
        # Callbacks carry no price as documented (doc §4), but Twilio adds
        # parameters without notice: take `Price`/`PriceUnit` where present.
        price, currency = normalize_price(fields.get("Price"), fields.get("PriceUnit"))
        return [
            StatusUpdate(
                provider_message_id=sid,
                status=STATUS_MAP.get(raw),
                raw_status=raw,
                # The only provider time there is; absent, the caller uses its receipt time (doc §4).
                occurred_at=parse_raw_dlr_done_date(raw_dlr),
                error_code=error_code,
                error_message=error_message,
                our_message_id=canonical_uuid(request.query_value(OUR_ID_PARAM)),
                dedup_key=f"{sid}:{raw}:{error_code}:{raw_dlr}",
                extra=extra,
                price=price,
                currency=currency if price else "",
            )
        ]

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Return the inbound SMS/MMS of a webhook; [] for a status callback (doc §6)."""
        if not is_inbound(request):
            return []
        fields = _fields(request)
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid") or ""
        if not sid:
            return []
        try:
            num_media = int(fields.get("NumMedia") or 0)
        except ValueError:
            num_media = 0
        media = []
        for index in range(num_media):
            url = fields.get(f"MediaUrl{index}", "")
            if not url:
                continue
            content_type = fields.get(f"MediaContentType{index}", "")
            media.append(MediaRef(kind=_media_kind(content_type), url=url, content_type=content_type))
        return [
            InboundMessage(
                provider_message_id=sid,
                channel="sms",
                from_number=fields.get("From", ""),
                to_number=fields.get("To", ""),
                body=fields.get("Body", ""),
                media=tuple(media),
                extra={name: fields[name] for name in _INBOUND_EXTRA_FIELDS if fields.get(name)},
            )
        ]

    # --- health ------------------------------------------------------------
    def probe(self, account: AccountConfig) -> HealthResult:
        """Read the account (or, with an API key, one message) to test the credentials (doc §1)."""
        errors = self.validate_credentials(dict(account.credentials))
        if errors:
            return HealthResult("bad_credentials", "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())))
        base = f"{account.base_url(self.default_base_url)}/Accounts/{self._account_sid(account)}"
        if self._uses_api_key(account):
            # Standard and Restricted keys may not read /Accounts (doc §1).
            url, params = f"{base}/Messages.json", {"PageSize": "1"}
        else:
            url, params = f"{base}.json", None
        response = self.request(account, "GET", url, params=params)
        if response.status_code == 200:
            body = self.json(response)
            state = body.get("status") if isinstance(body, dict) else None
            if state and state != "active" and not self._uses_api_key(account):
                return HealthResult("bad_credentials", f"The Twilio account is {state}.")
            return HealthResult("ok", "Twilio accepted the credentials.")
        error = self.error_from_response(response)
        if response.status_code in (401, 403, 404) or error.code in ("20003", "20404"):
            return HealthResult("bad_credentials", error.message)
        return HealthResult("unreachable", error.message)
