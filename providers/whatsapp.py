"""Meta WhatsApp Business Cloud API.

Wire format: /work/shared/providers/whatsapp-cloud.md (sections cited as
"doc §n") and the normalized maps in providers/README (status map, error
classes).
"""

from __future__ import annotations

import codecs
import io
import json
import re
import zipfile
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import filetype
import requests

from jood import placeholders
from providers.base import (
    DELIVERED,
    FAILED,
    QUEUED,
    READ,
    SENT,
    UNDELIVERED,
    AccountConfig,
    HealthResult,
    InboundMessage,
    MediaRef,
    OutboundMessage,
    ProviderAdapter,
    ProviderError,
    SendResult,
    StatusUpdate,
    UnsupportedFeature,
    WebhookRequest,
    body_signed,
    constant_time_in,
    error_info,
)

# Meta retires Graph versions (doc §1): the version is a per-account setting
# (`settings["api_version"]`), this is only the default.
DEFAULT_API_VERSION = "v21.0"
GRAPH_HOST = "https://graph.facebook.com"
SIGNATURE_HEADER = "x-hub-signature-256"

# statuses[].status to ours (README "Normalized status mapping").
STATUS_MAP: dict[str, str] = {
    "sent": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "played": READ,  # a voice message was played
    "failed": FAILED,
}
# Meta reports every non-delivery as `failed`; these codes mean it tried and
# gave up on that recipient, which is our `undelivered` (README, optional rule).
UNDELIVERED_ERROR_CODES = {"131026", "131049"}

# Send errors by Meta code, their classes and backoff hints: the `whatsapp`
# table of providers/errors.toml (doc §3, §8, README "Error classes").


def error_kind(code: str) -> str:
    """Return why a Meta error code happened ("opted_out", "window_closed", ...) or ""."""
    info = error_info("whatsapp", code)
    return info.kind if info else ""


# --- media ----------------------------------------------------------------

# Decimal megabytes: the stricter reading of Meta's "5 MB" (doc §5).
_MB = 1_000_000
_OOXML = "application/vnd.openxmlformats-officedocument"
MEDIA_LIMITS: dict[str, dict[str, Any]] = {
    "image": {"types": {"image/jpeg", "image/png"}, "max_bytes": 5 * _MB},
    "video": {"types": {"video/mp4", "video/3gpp"}, "max_bytes": 16 * _MB},
    "audio": {
        # audio/ogg only with the OPUS codec (doc §5); the sniffer enforces it.
        "types": {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"},
        "max_bytes": 16 * _MB,
    },
    "document": {
        "types": {
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            f"{_OOXML}.wordprocessingml.document",
            f"{_OOXML}.spreadsheetml.sheet",
            f"{_OOXML}.presentationml.presentation",
        },
        "max_bytes": 100 * _MB,
    },
    # 100 KB static, 500 KB animated: max_bytes is the animated limit.
    "sticker": {"types": {"image/webp"}, "max_bytes": 500_000, "max_bytes_static": 100_000},
}
# An MP4 container holds audio or video: the same bytes fit either kind.
_SAME_CONTAINER = {("video/mp4", "audio"): "audio/mp4", ("audio/mp4", "video"): "video/mp4"}
# Every type some kind accepts: the package's answer is kept for these even when the bytes also read as text.
_ACCEPTED_TYPES = frozenset().union(*(limits["types"] for limits in MEDIA_LIMITS.values()))
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_STREAMS = (
    ("WordDocument", "application/msword"),
    ("Workbook", "application/vnd.ms-excel"),
    ("Book", "application/vnd.ms-excel"),
    ("PowerPoint Document", "application/vnd.ms-powerpoint"),
)
_OLE_BY_EXTENSION = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
}


def _sniff_ole(data: bytes, declared_name: str) -> str:
    for stream, content_type in _OLE_STREAMS:
        if stream.encode("utf-16-le") + b"\x00\x00" in data:
            return content_type
    # An Office container whose directory we could not read: the name only
    # chooses among the three Office types, never across families.
    extension = declared_name.rsplit(".", 1)[-1].lower() if "." in declared_name else ""
    return _OLE_BY_EXTENSION.get(extension, "application/x-ole-storage")


def _sniff_zip(data: bytes) -> str:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return "application/zip"
    if "[Content_Types].xml" in names:
        for prefix, content_type in (
            ("word/", f"{_OOXML}.wordprocessingml.document"),
            ("xl/", f"{_OOXML}.spreadsheetml.sheet"),
            ("ppt/", f"{_OOXML}.presentationml.presentation"),
        ):
            if any(name.startswith(prefix) for name in names):
                return content_type
    return "application/zip"


def _looks_like_text(data: bytes) -> bool:
    head = data[:65536]
    if b"\x00" in head:
        return False
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=len(data) <= len(head))
    except UnicodeDecodeError:
        return False
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls == 0


def sniff_content_type(data: bytes, declared_name: str = "") -> str:
    """Return the MIME type read from the content, or "" if unknown.

    The `filetype` package reads the magic bytes; the checks below are only
    for what it cannot tell, each with its reason (BENCHMARKS.md "Media types"
    compares the answers with the sniffer this replaced).
    """
    guessed = filetype.guess_mime(data) or ""
    if data[:8] == _OLE_MAGIC:
        # Legacy Office: filetype reads fixed offsets that depend on the writer's layout; the directory
        # names the document's stream wherever it is.
        return _sniff_ole(data, declared_name)
    if guessed == "application/zip":
        # filetype looks at the first five entries only; an Office file may name its folder later.
        return _sniff_zip(data)
    if data[4:8] == b"ftyp" and guessed in ("", "video/mp4"):
        # filetype looks for the 3GP brand at the wrong offset, and knows MP4 only by its
        # mp41/mp42/isom brands; the other ISO brands (iso2-iso6, avc1, mmp4, dash) are MP4 too.
        brand = data[8:12]
        return "video/3gpp" if brand.startswith(b"3gp") else "video/3gpp2" if brand.startswith(b"3g2") else "video/mp4"
    if guessed == "audio/ogg" and b"OpusHead" not in data[:512]:
        # WhatsApp takes Ogg only with the OPUS codec (doc §5); filetype calls every Ogg audio/ogg.
        return "application/ogg"
    if guessed not in _ACCEPTED_TYPES and _looks_like_text(data):
        # Text has no magic bytes, and two letters can look like one ("BM..." is a bitmap to filetype).
        return "text/plain"
    return guessed


def _webp_is_animated(data: bytes) -> bool:
    # VP8X header flags, animation bit (RIFF WebP container spec).
    return data[12:16] == b"VP8X" and len(data) > 20 and bool(data[20] & 0x02)


def check_media(kind: str | None, data: bytes, declared_name: str) -> tuple[str, str]:
    """Return (kind, content_type) read from the content; raise ValueError if WhatsApp refuses it.

    The name is never trusted: a PDF called photo.jpg is a document.
    """
    label = repr(declared_name or "the file")
    if kind is not None and kind not in MEDIA_LIMITS:
        raise ValueError(f"Unknown media kind {kind!r}; use one of {', '.join(sorted(MEDIA_LIMITS))}.")
    if not data:
        raise ValueError(f"{label} is empty.")
    content_type = sniff_content_type(data, declared_name)
    if not content_type:
        raise ValueError(f"{label}: its content is not a file type WhatsApp accepts.")
    if kind is None:
        kinds = [name for name, limits in MEDIA_LIMITS.items() if content_type in limits["types"]]
        if not kinds:
            hint = " (OGG audio must use the OPUS codec)" if content_type == "application/ogg" else ""
            raise ValueError(f"{label} is {content_type} by its content, which WhatsApp does not accept{hint}.")
        kind = kinds[0]
    elif content_type not in MEDIA_LIMITS[kind]["types"]:
        content_type = _SAME_CONTAINER.get((content_type, kind), content_type)
        if content_type not in MEDIA_LIMITS[kind]["types"]:
            allowed = ", ".join(sorted(MEDIA_LIMITS[kind]["types"]))
            hint = " (OGG audio must use the OPUS codec)" if content_type == "application/ogg" else ""
            raise ValueError(
                f"{label} is {content_type} by its content, which WhatsApp does not accept as {kind}{hint}; "
                f"allowed: {allowed}."
            )
    limits = MEDIA_LIMITS[kind]
    max_bytes = limits["max_bytes"]
    if kind == "sticker" and not _webp_is_animated(data):
        max_bytes = limits["max_bytes_static"]
    if len(data) > max_bytes:
        raise ValueError(f"{label} is {len(data):,} bytes; WhatsApp allows at most {max_bytes:,} bytes for {kind}.")
    return kind, content_type


# --- templates ------------------------------------------------------------

_MEDIA_HEADER_FORMATS = {"IMAGE", "VIDEO", "DOCUMENT"}


def template_parameter_count(components: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the parameters a synced template expects: {"header": n, "body": n, "buttons": {index: n}}.

    Counts `{{n}}`/`{{name}}` in HEADER and BODY text, one media parameter for
    an IMAGE/VIDEO/DOCUMENT header, one location for a LOCATION header, and
    one per URL button whose url has a placeholder (doc §6).
    """
    counts: dict[str, Any] = {"header": 0, "body": 0, "buttons": {}}
    for component in components or []:
        ctype = str(component.get("type", "")).upper()
        if ctype == "HEADER":
            fmt = str(component.get("format", "TEXT")).upper()
            if fmt in _MEDIA_HEADER_FORMATS or fmt == "LOCATION":
                counts["header"] = 1
            else:
                counts["header"] = len(placeholders.names(component.get("text", "")))
        elif ctype == "BODY":
            counts["body"] = len(placeholders.names(component.get("text", "")))
        elif ctype == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                if str(button.get("type", "")).upper() == "URL" and placeholders.names(button.get("url", "")):
                    counts["buttons"][index] = 1
    return counts


def check_template_parameters(
    template_components: list[dict[str, Any]], given_components: list[dict[str, Any]]
) -> None:
    """Raise ValueError when the send components do not fit the synced template (Meta's 132000)."""
    expected = template_parameter_count(template_components)
    synced = {str(c.get("type", "")).upper(): c for c in template_components or []}
    buttons = (synced.get("BUTTONS") or {}).get("buttons") or []
    given_header: list[dict[str, Any]] = []
    given_body: list[dict[str, Any]] = []
    given_buttons: dict[int, tuple[str, list[dict[str, Any]]]] = {}
    for component in given_components or []:
        ctype = str(component.get("type", "")).lower()
        parameters = list(component.get("parameters") or [])
        if ctype == "header":
            given_header = parameters
        elif ctype == "body":
            given_body = parameters
        elif ctype == "button":
            try:
                index = int(component.get("index"))
            except (TypeError, ValueError):
                raise ValueError("A button component needs its 0-based index.") from None
            if not 0 <= index < len(buttons):
                raise ValueError(f"The template has no button at index {index}.")
            given_buttons[index] = (str(component.get("sub_type", "")).lower(), parameters)
        else:
            raise ValueError(f"Unknown template component type {component.get('type')!r}.")

    for part, given in (("header", given_header), ("body", given_body)):
        if len(given) != expected[part]:
            raise ValueError(f"The template {part} expects {expected[part]} parameter(s), got {len(given)}.")
        text = (synced.get(part.upper()) or {}).get("text", "")
        names = [n for n in placeholders.names(text) if not n.isdigit()]
        if names:
            # NAMED templates: each text parameter carries its parameter_name (doc §2).
            given_names = sorted(str(p.get("parameter_name", "")) for p in given)
            if given_names != sorted(names):
                raise ValueError(f"The template {part} expects parameters named {', '.join(names)}.")
    header_format = str((synced.get("HEADER") or {}).get("format", "TEXT")).upper()
    if header_format in _MEDIA_HEADER_FORMATS and given_header:
        wanted = header_format.lower()
        if given_header[0].get("type") != wanted:
            raise ValueError(f"The template header expects a {wanted} parameter.")
    for index, count in expected["buttons"].items():
        got = len(given_buttons.get(index, ("", []))[1])
        if got != count:
            raise ValueError(f"The template's URL button {index} expects {count} parameter(s), got {got}.")
    for index, (sub_type, parameters) in given_buttons.items():
        if sub_type == "url" and parameters and index not in expected["buttons"]:
            raise ValueError(f"The template's button {index} takes no URL parameter.")


# --- helpers --------------------------------------------------------------


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number or "")


def _plus(number: str) -> str:
    digits = _digits(number)
    return f"+{digits}" if digits else ""


def _from_unix(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _changes(request: WebhookRequest) -> list[tuple[str, dict[str, Any]]]:
    """Return (WABA id, value) of every `messages` change in a webhook (doc §7)."""
    data = json.loads(request.body or b"{}")
    if not isinstance(data, dict):
        return []
    out = []
    for entry in data.get("entry") or []:
        for change in entry.get("changes") or []:
            if change.get("field", "messages") != "messages":
                continue  # template status updates and the like are not messages
            value = change.get("value")
            if isinstance(value, dict):
                out.append((str(entry.get("id") or ""), value))
    return out


def _inbound_body_and_media(message: dict[str, Any]) -> tuple[str, tuple[MediaRef, ...], dict[str, Any]]:
    mtype = str(message.get("type") or "")
    extra: dict[str, Any] = {}
    body = ""
    media: tuple[MediaRef, ...] = ()
    part = message.get(mtype) if isinstance(message.get(mtype), dict) else {}
    if mtype == "text":
        body = str(part.get("body") or "")
    elif mtype in ("image", "video", "audio", "document", "sticker"):
        body = str(part.get("caption") or "")
        media = (
            MediaRef(
                # Our media kinds are four; a sticker is a WEBP image (extra["type"] keeps "sticker").
                kind="image" if mtype == "sticker" else mtype,
                provider_media_id=str(part.get("id") or ""),
                content_type=str(part.get("mime_type") or ""),
                filename=str(part.get("filename") or ""),
                caption=str(part.get("caption") or ""),
            ),
        )
        if part.get("sha256"):
            extra["sha256"] = part["sha256"]
        if part.get("voice") is not None:
            extra["voice"] = part["voice"]
    elif mtype == "button":
        # A template quick-reply tap.
        body = str(part.get("text") or "")
        extra["payload"] = part.get("payload", "")
    elif mtype == "interactive":
        reply = part.get("button_reply") or part.get("list_reply") or {}
        body = str(reply.get("title") or "")
        extra["reply_id"] = reply.get("id", "")
        extra["interactive_type"] = part.get("type", "")
        if reply.get("description"):
            extra["reply_description"] = reply["description"]
    elif mtype == "reaction":
        body = str(part.get("emoji") or "")
        extra["reaction"] = part
    elif mtype == "system":
        body = str(part.get("body") or "")
        extra["system"] = part
    elif mtype in ("location", "order", "referral"):
        extra[mtype] = part
    elif mtype == "contacts":
        extra["contacts"] = message.get("contacts")
    for key in ("context", "referral", "errors"):
        if message.get(key):
            extra[key] = message[key]
    return body, media, extra


class WhatsAppAdapter(ProviderAdapter):
    name = "whatsapp"
    label = "WhatsApp Cloud API"
    channels = ("whatsapp",)
    supports_templates = True
    max_media = 1  # one media file per message
    default_base_url = f"{GRAPH_HOST}/{DEFAULT_API_VERSION}"
    # Token and number id send; WABA id syncs templates; app secret and verify
    # token authenticate webhooks (doc §1).
    required_credentials = ("access_token", "phone_number_id", "waba_id", "app_secret", "verify_token")
    public_credentials = ("phone_number_id", "waba_id")

    # --- credentials -------------------------------------------------------
    @classmethod
    def validate_credentials(cls, credentials: dict[str, str]) -> dict[str, str]:
        """Return {field: error}; ids are digits, secrets have no spaces."""
        errors = super().validate_credentials(credentials)
        for name in ("phone_number_id", "waba_id"):
            value = str(credentials.get(name, "")).strip()
            if value and not value.isdigit():
                errors[name] = "Meta ids are digits only (App Dashboard → WhatsApp → API Setup)."
        for name in ("access_token", "app_secret"):
            value = str(credentials.get(name, "")).strip()
            if value and re.search(r"\s", value):
                errors[name] = "This value has no spaces; paste it again."
        phone_number_id = str(credentials.get("phone_number_id", "")).strip()
        if phone_number_id and phone_number_id == str(credentials.get("waba_id", "")).strip():
            # A common slip: both ids sit side by side in API Setup.
            errors["waba_id"] = "The WhatsApp Business Account id differs from the phone number id."
        return errors

    def base(self, account: AccountConfig) -> str:
        """Return the Graph base URL with the account's API version."""
        version = str((account.settings or {}).get("api_version") or "").strip()
        default = f"{GRAPH_HOST}/{version}" if version else self.default_base_url
        return account.base_url(default)

    @staticmethod
    def _id(account: AccountConfig, name: str) -> str:
        return quote(str(account.credentials.get(name, "")).strip(), safe="")

    # --- HTTP --------------------------------------------------------------
    def prepare_session(self, session: requests.Session, account: AccountConfig) -> None:
        """Set the Bearer token (doc §1)."""
        session.headers["Authorization"] = f"Bearer {str(account.credentials.get('access_token', '')).strip()}"

    def error_from_response(self, response: requests.Response) -> ProviderError:
        """Return the ProviderError for a Graph error answer (doc §3).

        Meta throttles with HTTP 400, and some permission errors come as 500:
        the code decides, HTTP only where the code is unknown (doc §3).
        """
        status = response.status_code
        error = self.json_object(response).get("error")
        if not isinstance(error, dict) or error.get("code") is None:
            return self.coded_error(response, f"whatsapp: HTTP {status}", "")
        error_data = error.get("error_data")
        details = error_data.get("details") if isinstance(error_data, dict) else None
        message = f"whatsapp: {error.get('message') or f'HTTP {status}'}"
        if details:
            message += f": {details}"
        if error.get("error_subcode") is not None:
            message += f" (subcode {error['error_subcode']})"
        if error.get("fbtrace_id"):
            message += f" [fbtrace_id {error['fbtrace_id']}]"
        return self.coded_error(response, message, str(error.get("code")))

    # --- send --------------------------------------------------------------
    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        """Return the JSON body of POST /{phone-number-id}/messages (doc §2).

        A template carries its own header media and text, so `body` is not
        sent with one (it is our rendered copy of the template).
        """
        self.refuse_unsupported(message)
        to = self.require_recipient(_digits(message.to))
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            # Echoed in status webhooks, so a callback can find our message
            # before the wamid is committed (README "At a glance").
            "biz_opaque_callback_data": message.id,
        }
        if message.template is not None:
            if message.media:
                raise UnsupportedFeature("whatsapp: template media go in the header component, not as attachments")
            template: dict[str, Any] = {"name": message.template.name, "language": {"code": message.template.language}}
            if message.template.components:
                template["components"] = message.template.components
            payload.update(type="template", template=template)
        elif message.media:
            media = message.media[0]
            if media.kind not in MEDIA_LIMITS:
                raise UnsupportedFeature(f"whatsapp: media kind {media.kind!r} is not supported")
            if media.provider_media_id:
                obj: dict[str, Any] = {"id": media.provider_media_id}
            elif media.url:
                obj = {"link": media.url}
            else:
                raise UnsupportedFeature("whatsapp: media needs a URL or a media id")
            caption = media.caption or message.body
            if caption:
                if media.kind not in ("image", "video", "document"):
                    raise UnsupportedFeature(f"whatsapp: {media.kind} takes no caption or text")
                obj["caption"] = caption
            if media.kind == "document" and media.filename:
                obj["filename"] = media.filename
            payload.update({"type": media.kind, media.kind: obj})
        elif message.body:
            if len(message.body) > 4096:
                raise UnsupportedFeature("whatsapp: text longer than 4,096 characters")
            payload.update(type="text", text={"body": message.body, "preview_url": False})
        else:
            raise UnsupportedFeature("whatsapp: nothing to send (no text, media or template)")
        return payload

    def send(self, account: AccountConfig, message: OutboundMessage) -> SendResult:
        """Send one text, media or template message; return the wamid (doc §2)."""
        payload = self.build_payload(message)
        url = f"{self.base(account)}/{self._id(account, 'phone_number_id')}/messages"
        response, body = self.call(account, "POST", url, json=payload)
        if isinstance(body, dict) and "error" in body:
            raise self.error_from_response(response)
        try:
            first = body["messages"][0]
            wamid = str(first["id"])
        except (KeyError, IndexError, TypeError):
            raise self.malformed(response, "no messages[0].id") from None
        if not wamid:
            raise self.malformed(response, "empty messages[0].id")
        # 200 means accepted, not sent: `sent` comes by webhook (README, queued row).
        raw_status = str(first.get("message_status") or "accepted")
        return SendResult(provider_message_id=wamid, status=QUEUED, raw_status=raw_status)

    def upload_media(self, account: AccountConfig, data: bytes, content_type: str, filename: str) -> str:
        """Upload a file for sending by id; return Meta's media id (doc §5).

        The content is checked first (`check_media`, ValueError if refused),
        and the type read from it is the one declared to Meta.
        """
        kind = next((k for k, limits in MEDIA_LIMITS.items() if content_type in limits["types"]), None)
        _, sniffed = check_media(kind, data, filename)
        url = f"{self.base(account)}/{self._id(account, 'phone_number_id')}/media"
        response, body = self.call(
            account,
            "POST",
            url,
            data={"messaging_product": "whatsapp", "type": sniffed},
            files={"file": (filename or "file", data, sniffed)},
        )
        media_id = body.get("id") if isinstance(body, dict) else None
        if not media_id:
            raise self.malformed(response, "no media id")
        return str(media_id)

    def fetch_templates(self, account: AccountConfig) -> list[dict[str, Any]]:
        """Return every template of the WABA, following `paging.next` (doc §6)."""
        base = self.base(account)
        url: str | None = f"{base}/{self._id(account, 'waba_id')}/message_templates"
        params: dict[str, str] | None = {
            "fields": "id,name,language,status,category,components,parameter_format",
            "limit": "100",
        }
        host = urlsplit(base).netloc
        templates: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url:
            response, body = self.call(account, "GET", url, params=params)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise self.malformed(response, "no data[]")
            for item in body["data"]:
                templates.append(
                    {
                        "id": str(item.get("id") or ""),
                        "name": item.get("name", ""),
                        "language": item.get("language", ""),
                        "category": item.get("category", ""),
                        "status": item.get("status", ""),
                        "components": item.get("components") or [],
                        "parameter_format": item.get("parameter_format", ""),
                    }
                )
            next_url = (body.get("paging") or {}).get("next")
            # The token goes only to Meta's own host, and a repeated page ends the loop.
            if not next_url or urlsplit(next_url).netloc != host or next_url in seen:
                break
            seen.add(next_url)
            url, params = next_url, None
        return templates

    # --- webhooks ----------------------------------------------------------
    def verify(self, request: WebhookRequest, account: AccountConfig) -> bool:
        """Check X-Hub-Signature-256 over the raw body with the app secret (doc §7)."""
        secret = str(account.credentials.get("app_secret", "")).strip()
        return body_signed(request.header(SIGNATURE_HEADER), request.body, [secret])

    def handshake(self, request: WebhookRequest, account: AccountConfig) -> tuple[int, str] | None:
        """Answer Meta's GET verification: (200, challenge) or (403, reason) (doc §7)."""
        if request.method.upper() != "GET":
            return None
        query = dict(request.query) or {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        # Our own random string (doc §1); the account's webhook secret stands in when none was entered.
        token = str(account.credentials.get("verify_token", "")).strip() or account.webhook_secret
        if query.get("hub.mode") != "subscribe":
            return 403, "hub.mode is not subscribe"
        if not token or not constant_time_in(query.get("hub.verify_token", ""), [token]):
            return 403, "verify token does not match"
        challenge = query.get("hub.challenge", "")
        if not challenge:
            return 403, "no hub.challenge"
        return 200, challenge

    def parse_status_callback(
        self, request: WebhookRequest, account: AccountConfig | None = None
    ) -> list[StatusUpdate]:
        """Return every `statuses[]` item of a webhook, in order (doc §7)."""
        updates = []
        for waba_id, value in _changes(request):
            phone_number_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
            for item in value.get("statuses") or []:
                wamid = str(item.get("id") or "")
                raw = str(item.get("status") or "")
                errors = item.get("errors") or []
                first = errors[0] if errors and isinstance(errors[0], dict) else {}
                error_code = str(first.get("code") or "") if first else ""
                status = STATUS_MAP.get(raw)
                if status == FAILED and error_code in UNDELIVERED_ERROR_CODES:
                    status = UNDELIVERED
                error_message = ""
                if first:
                    parts = [str(first.get("title") or first.get("message") or "")]
                    details = (first.get("error_data") or {}).get("details")
                    if details:
                        parts.append(str(details))
                    error_message = ": ".join(p for p in parts if p)
                extra: dict[str, Any] = {"phone_number_id": phone_number_id, "waba_id": waba_id}
                for key in ("recipient_id", "pricing", "conversation", "errors"):
                    if item.get(key):
                        extra[key] = item[key]
                updates.append(
                    StatusUpdate(
                        provider_message_id=wamid,
                        status=status,
                        raw_status=raw,
                        occurred_at=_from_unix(item.get("timestamp")),
                        error_code=error_code,
                        error_message=error_message,
                        our_message_id=str(item.get("biz_opaque_callback_data") or ""),
                        dedup_key=f"{wamid}:{raw}",
                        extra=extra,
                    )
                )
        return updates

    def parse_inbound(self, request: WebhookRequest) -> list[InboundMessage]:
        """Return every `messages[]` item of a webhook with the sender's profile name (doc §7)."""
        inbound = []
        for waba_id, value in _changes(request):
            metadata = value.get("metadata") or {}
            names = {
                str(c.get("wa_id") or ""): str((c.get("profile") or {}).get("name") or "")
                for c in value.get("contacts") or []
            }
            for message in value.get("messages") or []:
                sender = str(message.get("from") or "")
                body, media, extra = _inbound_body_and_media(message)
                extra.update(
                    type=str(message.get("type") or ""),
                    phone_number_id=str(metadata.get("phone_number_id") or ""),
                    waba_id=waba_id,
                )
                inbound.append(
                    InboundMessage(
                        provider_message_id=str(message.get("id") or ""),
                        channel="whatsapp",
                        from_number=_plus(sender),
                        to_number=_plus(str(metadata.get("display_phone_number") or "")),
                        body=body,
                        received_at=_from_unix(message.get("timestamp")),
                        media=media,
                        profile_name=names.get(sender, ""),
                        extra=extra,
                    )
                )
        return inbound

    # --- health ------------------------------------------------------------
    def probe(self, account: AccountConfig) -> HealthResult:
        """Read the phone number's name and quality to test the token and id (doc §1)."""
        for name in ("access_token", "phone_number_id"):
            if not str(account.credentials.get(name, "")).strip():
                return HealthResult("bad_credentials", f"{name} is missing.")
        url = f"{self.base(account)}/{self._id(account, 'phone_number_id')}"
        response = self.request(
            account, "GET", url, params={"fields": "display_phone_number,verified_name,quality_rating"}
        )
        if response.status_code == 200:
            body = self.json(response)
            if not isinstance(body, dict) or "error" in body:
                raise self.malformed(response)
            detail = (
                " ".join(str(body[k]) for k in ("verified_name", "display_phone_number") if body.get(k))
                or "Meta accepted the credentials."
            )
            if body.get("quality_rating"):
                detail += f" (quality {body['quality_rating']})"
            return HealthResult("ok", detail)
        error = self.error_from_response(response)
        if error_kind(error.code) == "bad_credentials" or error.code == "100" or response.status_code in (401, 403):
            # 100 here: no phone number with that id for this token.
            return HealthResult("bad_credentials", error.message)
        if not error.permanent:
            return HealthResult("unreachable", error.message)
        return HealthResult("bad_credentials", error.message)
