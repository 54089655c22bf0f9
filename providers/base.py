"""The adapter base: small dataclasses in and out, one exception, pooled sessions.

Adapters never touch the ORM or Django requests. `messaging` turns a
`ProviderAccount` row into an `AccountConfig` and a `Message` row into an
`OutboundMessage`; `webhooks` turns an HTTP request into a `WebhookRequest`.
To add a provider, see providers/README.md.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import threading
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import requests

from jood.outbound import UnsafeDestination, guarded_session

# Normalized statuses an adapter may report (DESIGN.md "Message lifecycle").
QUEUED = "queued"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
UNDELIVERED = "undelivered"
FAILED = "failed"
CANCELED = "canceled"

# The query parameter of a callback URL that carries the account's token, for
# providers that sign nothing (`ProviderAdapter.callback_token_in_url`).
CALLBACK_TOKEN_PARAM = "t"
# The query parameter of a per-message callback URL that carries our message id
# (Twilio calls the URL back as given), so a callback finds a message whose send
# timed out before we learnt the provider's id.
OUR_ID_PARAM = "m"


@dataclass(frozen=True)
class AccountConfig:
    """What an adapter knows of a provider account."""

    id: str  # the account's public id (appears in the callback URL)
    provider: str
    channel: str  # "sms" or "whatsapp"
    credentials: dict[str, str]
    sender: str = ""
    api_base_url: str = ""  # empty: the adapter's public default
    callback_url: str = ""  # PUBLIC_BASE_URL + /webhooks/<provider>/<id>/ (+ ?t=token)
    webhook_secret: str = ""  # per-account token (Infobip, Unifonic, sandbox)
    # Tokens before a rotation, still accepted for a grace period (verify only; never sent or signed with).
    previous_webhook_secrets: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # per-provider options (sandbox rates)

    def base_url(self, default: str) -> str:
        return (self.api_base_url or default).rstrip("/")

    def webhook_secrets(self) -> list[str]:
        """Every token a callback may carry now: the current one, then those in their grace period."""
        return [s for s in (self.webhook_secret, *self.previous_webhook_secrets) if s]


@dataclass(frozen=True)
class MediaRef:
    """A media attachment: a public (signed) URL, or a provider media id."""

    kind: str  # image, document, audio, video
    url: str = ""
    provider_media_id: str = ""
    content_type: str = ""
    filename: str = ""
    caption: str = ""


@dataclass(frozen=True)
class TemplateRef:
    """A provider-side template (WhatsApp) with its parameters."""

    name: str
    language: str
    # Meta's `components` array, already built (header/body/button parameters).
    components: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class OutboundMessage:
    id: str  # our public id (UUID string); sent where the provider dedups or echoes it
    channel: str
    to: str  # E.164
    sender: str = ""
    body: str = ""
    template: TemplateRef | None = None
    media: tuple[MediaRef, ...] = ()
    status_callback_url: str = ""  # per-message callback, where the provider takes one
    segments: int = 1


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = SENT  # normalized accepted state (QUEUED or SENT)
    raw_status: str = ""
    segments: int | None = None
    # What the provider charged, where the send answer says (Unifonic): a positive
    # decimal string (see `normalize_price`) and an ISO 4217 code; "" when unknown.
    price: str = ""
    currency: str = ""


@dataclass(frozen=True)
class PriceReport:
    """A price fetched after the send (Twilio prices a message only once it is sent)."""

    provider_message_id: str
    price: str = ""  # "" while the provider has not priced it yet
    currency: str = ""
    final: bool = False  # True when the provider will not price it later (e.g. never sent)


@dataclass(frozen=True)
class StatusUpdate:
    """One status report from a provider callback, normalized."""

    provider_message_id: str
    status: str | None  # normalized; None for a value we do not know (recorded, no move)
    raw_status: str
    occurred_at: datetime | None = None  # the provider's own time, where it gives one
    error_code: str = ""
    error_message: str = ""
    our_message_id: str = ""  # where the provider echoes our id (Infobip, Unifonic, WhatsApp)
    dedup_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # pricing, conversation, segments
    # The price the report carries (Infobip `price.pricePerMessage`), as in SendResult.
    price: str = ""
    currency: str = ""


@dataclass(frozen=True)
class InboundMessage:
    provider_message_id: str
    channel: str
    from_number: str  # E.164
    to_number: str
    body: str = ""
    received_at: datetime | None = None
    media: tuple[MediaRef, ...] = ()
    profile_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request as the provider sent it."""

    method: str
    url: str  # the public URL the provider called, with query string
    headers: dict[str, str]  # lower-cased names
    body: bytes
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)  # parsed urlencoded body, if any

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def query_value(self, name: str) -> str:
        """Return a query parameter of the URL the provider called ("" if absent)."""
        if name in self.query:
            return str(self.query[name] or "")
        for key, value in parse_qsl(urlsplit(self.url).query, keep_blank_values=True):
            if key == name:
                return value
        return ""


@dataclass(frozen=True)
class HealthResult:
    status: str  # "ok", "bad_credentials", "unreachable"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ProviderError(Exception):
    """A send or read that the provider refused or that did not reach it.

    `permanent` errors fail the message at once; the others are retried with
    backoff (honouring `retry_after`, in seconds) and then failed over.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str = "",
        http_status: int | None = None,
        retry_after: float | None = None,
        already_sent: bool = False,
        kind: str = "",
        outcome_unknown: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = str(code) if code is not None else ""
        self.http_status = http_status
        self.retry_after = retry_after
        # The provider says it has this message already (Infobip duplicate
        # messageId, Unifonic duplicate): do not send again.
        self.already_sent = already_sent
        # The adapter's classification of the cause: "opted_out", "bad_credentials",
        # "invalid_recipient", "rate_limited"... ("" when it has none).
        self.kind = kind
        # The request was written and no answer came (a read timeout): the
        # provider may have the message. Never resent blindly.
        self.outcome_unknown = outcome_unknown

    def __repr__(self) -> str:
        kind = "permanent" if self.permanent else "retryable"
        return f"ProviderError({kind}, code={self.code!r}, {self.message!r})"


class UnsupportedFeature(ProviderError):
    """The provider cannot do what the message asks (never a silent drop)."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True, code="unsupported")


def parse_retry_after(value: str | None) -> float | None:
    """Return seconds from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def constant_time_in(candidate: str, secrets: list[str] | tuple[str, ...]) -> bool:
    """True if candidate equals one of secrets; compares in constant time."""
    ok = False
    for secret in secrets:
        if secret and hmac.compare_digest(candidate.encode(), secret.encode()):
            ok = True
    return ok


def body_signature(secret: str, body: bytes) -> str:
    """Return `sha256=<hex HMAC-SHA256 of body>`: Meta's X-Hub-Signature-256, which the sandbox copies."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_signed(given: str, body: bytes, secrets: list[str] | tuple[str, ...]) -> bool:
    """True if `given` is the `body_signature` of body under one of secrets; compares in constant time."""
    scheme, _, digest = (given or "").strip().partition("=")
    if scheme != "sha256" or not digest:
        return False
    return constant_time_in(f"sha256={digest.lower()}", [body_signature(secret, body) for secret in secrets if secret])


def recipient_digits(number: str) -> str:
    """Return a number as digits only, without `+` or `00` (Infobip §2a, Unifonic §2 `Recipient`)."""
    digits = re.sub(r"\D", "", number or "")
    if not (number or "").strip().startswith("+") and digits.startswith("00"):
        digits = digits[2:]
    return digits


def canonical_uuid(value: Any) -> str:
    """Return `value` (with or without dashes) as a canonical UUID string, or "" if it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return ""


def normalize_price(value: Any, currency: Any = "") -> tuple[str, str]:
    """Return (amount, currency) as a positive decimal string and an upper-case code, or ("", "").

    Twilio reports a charge as a negative amount ("-0.00750"); Infobip and
    Unifonic as a positive number. None, "" and non-numbers mean "not priced".
    """
    from decimal import Decimal, InvalidOperation

    if value is None or isinstance(value, bool) or str(value).strip() == "":
        return "", ""
    try:
        amount = abs(Decimal(str(value).strip()))
    except InvalidOperation:
        return "", ""
    if not amount.is_finite():
        return "", ""
    code = str(currency or "").strip().upper()[:3]
    return format(amount.normalize(), "f"), code


def as_int(value: Any) -> int | None:
    """Return `value` as an int, or None if it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class ErrorInfo:
    """What we know of one provider error code (an entry of providers/errors.toml)."""

    kind: str = ""  # why: "opted_out", "bad_credentials", "rate_limited", "payload"...
    retryable: bool | None = None  # None: the HTTP status decides (429 and 5xx retry)
    text: str = ""  # our readable text, where the provider's own is missing or unreliable
    retry_after: float | None = None  # a pace the doc gives, in seconds; the answer's Retry-After wins


ERRORS_FILE = Path(__file__).with_name("errors.toml")


@functools.cache
def _error_tables() -> dict[str, tuple[dict[str, ErrorInfo], list[tuple[int, int, ErrorInfo]]]]:
    """Read providers/errors.toml once: per provider, {code: info} and the (low, high, info) ranges."""
    with ERRORS_FILE.open("rb") as file:
        data = tomllib.load(file)
    tables = {}
    for provider, entries in data.items():
        codes: dict[str, ErrorInfo] = {}
        ranges: list[tuple[int, int, ErrorInfo]] = []
        for key, entry in entries.items():
            entry = dict(entry)
            alias = entry.pop("name", "")
            info = ErrorInfo(**entry)
            low, dash, high = key.partition("-")
            if dash:
                ranges.append((int(low), int(high), info))
            else:
                codes[key] = info
            if alias:
                codes[alias] = info
        tables[provider] = (codes, ranges)
    return tables


def error_info(provider: str, code: Any) -> ErrorInfo | None:
    """Return what providers/errors.toml says of a provider's error code, or None if it says nothing."""
    codes, ranges = _error_tables().get(provider, ({}, []))
    code = "" if code is None else str(code)
    if code in codes:
        return codes[code]
    number = as_int(code) if code.isdigit() else None
    for low, high, info in ranges:
        if number is not None and low <= number <= high:
            return info
    return None


_sessions: dict[tuple[str, str], requests.Session] = {}
_sessions_lock = threading.Lock()


class ProviderAdapter:
    """Base of every adapter. Override the class attributes and the methods.

    Subclasses set `name`, `label`, `channels`, what a message may carry
    (`supports_templates`, `max_media`, `supports_mms`), `default_base_url`,
    `required_credentials` (and `optional_credentials`), and implement
    `send`, `error_from_response`, `parse_status_callback`, `probe`, and
    `parse_inbound` where the provider has inbound messages; `verify` where
    callbacks are signed (the default checks the `?t=` token). Error codes
    and their classes are data: the provider's table in providers/errors.toml.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""  # the name people read (model choices, portal)
    channels: ClassVar[tuple[str, ...]] = ("sms",)
    # What a message may carry (`refuse_unsupported`): provider-side templates, attachments.
    supports_templates: ClassVar[bool] = False
    max_media: ClassVar[int] = 0
    # Whether media go out on SMS (MMS): routing sends an SMS with media only to these.
    supports_mms: ClassVar[bool] = False
    default_base_url: ClassVar[str] = ""
    required_credentials: ClassVar[tuple[str, ...]] = ()
    optional_credentials: ClassVar[tuple[str, ...]] = ()
    # Credential fields that are identifiers, not secrets (an account SID, a base URL):
    # shown in full and kept in the form; every other field stays write-only.
    public_credentials: ClassVar[tuple[str, ...]] = ()
    # The body and content type of our 200 to a verified webhook (Twilio wants TwiML).
    webhook_ack: ClassVar[tuple[str, str]] = ("", "text/plain")
    # (connect, read) seconds: every call has a timeout.
    timeout: ClassVar[tuple[float, float]] = (3.05, 15.0)
    # Whether the provider signs nothing, so its callbacks carry a per-account
    # token in the callback URL (`?t=`), which the default `verify` checks.
    callback_token_in_url: ClassVar[bool] = False
    # Whether the provider refuses a second message with our id (Infobip
    # messageId, Unifonic CorrelationID): then an unknown outcome is a plain retry.
    dedupes_on_our_id: ClassVar[bool] = False
    # Whether our id must ride in the per-message callback URL (`?m=`, OUR_ID_PARAM)
    # because the provider echoes no id of ours in its callbacks (Twilio).
    our_id_in_callback_url: ClassVar[bool] = False

    # --- credentials -------------------------------------------------------
    @classmethod
    def validate_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """Return {field: error} for missing or malformed credentials."""
        errors = {}
        for name in cls.required_credentials:
            if not str(credentials.get(name, "")).strip():
                errors[name] = "This field is required."
        unknown = set(credentials) - set(cls.required_credentials) - set(cls.optional_credentials)
        for name in sorted(unknown):
            errors[name] = "Unknown credential field for this provider."
        return errors

    @classmethod
    def mask(cls, credentials: dict[str, str]) -> dict[str, str]:
        """Return a hint per field that never reveals a secret (last 4 characters at most; public fields in full)."""
        hints = {}
        for key, value in credentials.items():
            value = str(value or "")
            if key in cls.public_credentials:
                hints[key] = value
                continue
            hints[key] = ("•" * 4 + value[-4:]) if len(value) > 8 else ("•" * 4 if value else "")
        return hints

    # --- HTTP --------------------------------------------------------------
    def session(self, account: AccountConfig) -> requests.Session:
        """Return the pooled session of this account (one per account and credentials)."""
        digest = hashlib.sha256(repr(sorted(account.credentials.items())).encode()).hexdigest()
        key = (account.id, digest)
        with _sessions_lock:
            session = _sessions.get(key)
            if session is None:
                # Every request goes through the address guard (jood/outbound.py):
                # `api_base_url` or a credential never reaches a private address.
                # No urllib3 retries: the dispatcher retries with backoff kept in
                # the database, so a retry never blocks a worker.
                session = guarded_session(user_agent="JoodNotifications/1.0", pool_connections=4, pool_maxsize=32)
                self.prepare_session(session, account)
                _sessions[key] = session
        return session

    def prepare_session(self, session: requests.Session, account: AccountConfig) -> None:
        """Set auth headers on a new session. Override."""

    def timeouts(self, account: AccountConfig) -> tuple[float, float]:
        """(connect, read) seconds: the adapter's, or the account's `read_timeout_seconds` setting for the read.

        At most 60 s: a chunk's sends must end well inside the dispatcher's lease.
        """
        connect, read = self.timeout
        try:
            read = min(60.0, max(0.1, float((account.settings or {}).get("read_timeout_seconds") or read)))
        except (TypeError, ValueError):
            pass
        return connect, read

    def request(self, account: AccountConfig, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one HTTP request; map transport failures to retryable errors.

        HTTP status handling stays in the adapter (each provider's error body
        differs); only 429 and 5xx without a recognised body are mapped here
        by `http_error`.
        """
        kwargs.setdefault("timeout", self.timeouts(account))
        kwargs.setdefault("allow_redirects", False)
        try:
            return self.session(account).request(method, url, **kwargs)
        except UnsafeDestination as exc:
            # An operator's api_base_url (or a provider-given URL) pointing inside: never retried.
            raise ProviderError(f"{self.name}: refused: {exc}", permanent=True, code="unsafe_destination") from None
        except requests.ConnectTimeout as exc:
            # No connection, so nothing was written: a plain retry.
            raise ProviderError(f"{self.name}: timed out connecting", permanent=False, code="connect_timeout") from exc
        except requests.Timeout as exc:
            # The request went out and no answer came: the provider may have acted on it.
            raise ProviderError(
                f"{self.name}: timed out waiting for the answer",
                permanent=False,
                code="read_timeout",
                outcome_unknown=True,
            ) from exc
        except requests.ConnectionError as exc:
            if _before_request_written(exc):
                raise ProviderError(
                    f"{self.name}: could not connect", permanent=False, code="connection_error"
                ) from exc
            # Reset or closed mid-exchange: the request may have been read.
            raise ProviderError(
                f"{self.name}: the connection broke before the answer",
                permanent=False,
                code="connection_lost",
                outcome_unknown=True,
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(
                f"{self.name}: {exc.__class__.__name__}", permanent=False, code="request_error"
            ) from exc

    def call(
        self, account: AccountConfig, method: str, url: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[requests.Response, Any]:
        """Send one request; return the answer and its JSON body.

        An answer with a status not in `ok` raises `error_from_response`; a
        body that is not JSON raises the retryable `malformed`.
        """
        response = self.request(account, method, url, **kwargs)
        if response.status_code not in ok:
            raise self.error_from_response(response)
        return response, self.json(response)

    def error_from_response(self, response: requests.Response) -> ProviderError:
        """Return the error for an answer that is not a success. Override to read the provider's error body."""
        return self.coded_error(response, f"{self.name}: HTTP {response.status_code}", "")

    def coded_error(self, response: requests.Response, message: str, code: str) -> ProviderError:
        """Return the error for an answer naming the provider's `code` ("" for none).

        The code's entry in providers/errors.toml decides whether a retry can
        help and names the kind; for a code it does not know, the HTTP status
        decides (429 and 5xx retry). A retry waits the answer's Retry-After,
        else the entry's pace.
        """
        status = response.status_code
        info = self.error_info(code) if code else None
        if info is not None and info.retryable is not None:
            permanent = not info.retryable
        else:
            permanent = not (status == 429 or status >= 500)
        retry_after = None
        if not permanent:
            retry_after = parse_retry_after(response.headers.get("Retry-After")) or (info and info.retry_after)
        return ProviderError(
            message,
            permanent=permanent,
            code=code or str(status),
            http_status=status,
            retry_after=retry_after,
            kind=info.kind if info else "",
        )

    def error_info(self, code: Any) -> ErrorInfo | None:
        """Return this provider's entry of providers/errors.toml for `code`, or None."""
        return error_info(self.name, code)

    def error_text(self, code: Any) -> str:
        """Return our readable text for `code` from providers/errors.toml, or ""."""
        info = self.error_info(code)
        return info.text if info else ""

    def http_error(self, response: requests.Response) -> ProviderError | None:
        """Return the generic retryable error for 429 and 5xx, None for any other status."""
        if response.status_code == 429:
            return self.retryable_error(response, "rate limited (HTTP 429)")
        if response.status_code >= 500:
            return self.retryable_error(response, f"server error (HTTP {response.status_code})")
        return None

    def retryable_error(self, response: requests.Response, detail: str, code: str = "") -> ProviderError:
        """Return a retryable error for this answer, honouring its Retry-After (code: the HTTP status by default)."""
        return ProviderError(
            f"{self.name}: {detail}",
            permanent=False,
            code=code or str(response.status_code),
            http_status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def malformed(self, response: requests.Response, what: str = "") -> ProviderError:
        """Return the retryable error for an answer we cannot read: the send may not have happened."""
        return ProviderError(
            f"{self.name}: malformed answer ({what or f'HTTP {response.status_code}'})",
            permanent=False,
            code="malformed_response",
            http_status=response.status_code,
        )

    @staticmethod
    def json_object(response: requests.Response) -> dict[str, Any]:
        """Return the answer's JSON object, or {} if it is not one (an error body we may not be able to read)."""
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def json(self, response: requests.Response) -> Any:
        """Parse a JSON answer; a malformed one is retryable (the send may not have happened)."""
        try:
            return response.json()
        except ValueError as exc:
            raise self.malformed(response) from exc

    # --- up-front refusals -------------------------------------------------
    def refuse_unsupported(self, message: OutboundMessage) -> None:
        """Raise UnsupportedFeature for what this provider cannot send (`channels`, templates, media)."""
        if message.channel not in self.channels:
            raise UnsupportedFeature(
                f"{self.name}: channel {message.channel!r} is not supported, only {', '.join(self.channels)}"
            )
        if message.template is not None and not self.supports_templates:
            raise UnsupportedFeature(f"{self.name}: no provider-side templates; send the rendered body")
        if len(message.media) > self.max_media:
            if not self.max_media:
                raise UnsupportedFeature(f"{self.name}: messages cannot carry media")
            raise UnsupportedFeature(f"{self.name}: at most {self.max_media} media per message")

    def require_recipient(self, number: str) -> str:
        """Return the recipient as the provider takes it; refuse an empty one for good."""
        if not number:
            raise ProviderError(f"{self.name}: no recipient number", permanent=True, code="invalid_recipient")
        return number

    # --- the interface -----------------------------------------------------
    def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        raise UnsupportedFeature(f"{self.name} cannot send")

    def verify(self, request: WebhookRequest, account: AccountConfig) -> bool:
        """Return True if the callback is authentic for this account.

        The default accepts the account's `?t=` token where the provider signs
        nothing (`callback_token_in_url`); a provider that signs overrides it.
        """
        return self.callback_token_in_url and self.token_matches(account, request.query_value(CALLBACK_TOKEN_PARAM))

    @staticmethod
    def token_matches(account: AccountConfig, *candidates: str) -> bool:
        """True if a candidate is the account's webhook token (the current one, or one in its grace period)."""
        if not account.webhook_secret:
            return False
        secrets = account.webhook_secrets()
        return any(candidate and constant_time_in(candidate, secrets) for candidate in candidates)

    def parse_status_callback(
        self, request: WebhookRequest, account: AccountConfig | None = None
    ) -> list[StatusUpdate]:
        """Return the status reports of a callback. `account` is the account it came for, where known
        (Unifonic reads its report times in the account's time zone)."""
        return []

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        return []

    def check_credentials(self, account: AccountConfig) -> HealthResult:
        """Ask the provider whether the credentials work (`probe`); a request that failed says why."""
        try:
            return self.probe(account)
        except ProviderError as exc:
            # Refused before the provider answered: our own check of the credentials' shape
            # (an Infobip base URL) is the credentials'; a transport failure or a guarded address is not.
            problem = exc.permanent and exc.code != "unsafe_destination"
            return HealthResult("bad_credentials" if problem else "unreachable", exc.message)

    def probe(self, account: AccountConfig) -> HealthResult:
        """Call the provider's cheapest authenticated read and judge the answer. Override."""
        return HealthResult("unreachable", f"{self.name} has no credentials check")

    def handshake(self, request: WebhookRequest, account: AccountConfig) -> tuple[int, str] | None:
        """Answer a GET verification handshake (Meta); None where there is none."""
        return None

    # Whether `fetch_price` asks the provider for prices its callbacks do not carry.
    fetches_prices: ClassVar[bool] = False

    def fetch_price(self, account: AccountConfig, provider_message_id: str) -> PriceReport:
        """Read a sent message's price from the provider. Override where prices come after the send."""
        raise UnsupportedFeature(f"{self.name} cannot look a price up")


def _before_request_written(exc: requests.ConnectionError) -> bool:
    """True if urllib3 failed to open the connection (refused, DNS, TLS), so nothing was sent."""
    from urllib3.exceptions import NewConnectionError, SSLError

    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", None)
    return isinstance(reason, (NewConnectionError, SSLError)) or isinstance(cause, (NewConnectionError, SSLError))


@functools.cache
def _registry() -> dict[str, type[ProviderAdapter]]:
    from providers.adapters import ADAPTERS

    return {cls.name: cls for cls in ADAPTERS}


def get_adapter(name: str) -> ProviderAdapter:
    """Return the adapter for a provider name ("twilio", "sandbox", ...)."""
    try:
        return _registry()[name]()
    except KeyError:
        raise LookupError(f"unknown provider {name!r}") from None


def provider_names(**capabilities: Any) -> list[str]:
    """Return the provider names, sorted; with keywords, those whose adapter has them (`supports_mms=True`)."""
    return sorted(
        name
        for name, cls in _registry().items()
        if all(getattr(cls, attr) == value for attr, value in capabilities.items())
    )
