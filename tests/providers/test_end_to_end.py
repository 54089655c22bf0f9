"""From `POST /api/v1/messages` to the provider's wire and back to `sent`, for each real provider.

Each provider account points (`api_base_url`) at a local HTTP server on
127.0.0.1 that answers as the provider documents (shared/providers/*.md and
the recorded answers in tests/payloads/). The test asserts what the server
received, and what the message became.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from messaging import media as media_signing
from messaging.dispatch import dispatch
from messaging.models import ConversationWindow, MediaFile, Message, Status, Template
from messaging.template_sync import sync_templates
from tests.conftest import celery_eager
from tests.factories import make_account
from tests.messaging.conftest import assert_error

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
PUBLIC_BASE_URL = "https://jood.example.com"
TO = "+966501234567"
TO_DIGITS = "966501234567"

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-0123456789abcd"
INFOBIP_KEY = "infobip-api-key-0123456789"
UNIFONIC_APP_SID = "unifonic-app-sid-0123456789"
WA_TOKEN = "EAAG-test-token"
WA_PHONE_NUMBER_ID = "109876543210"
WA_WABA_ID = "102290129340398"
WA_MEDIA_ID = "1037543291543636"

# Smallest content each sniffer recognises (providers/whatsapp.py).
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 64


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


# --- a provider on 127.0.0.1 ---------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def multipart(self) -> dict[str, tuple[str | None, str, bytes]]:
        """Return {field: (filename, content type, bytes)} of a multipart/form-data body."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        parsed = email.message_from_bytes(head + self.body, policy=email.policy.HTTP)
        parts = {}
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            parts[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        return parts


Answer = tuple[int, dict, bytes]


@dataclass
class FakeProvider:
    """An HTTP server thread that records every request and answers from its routes."""

    routes: dict[tuple[str, str], Callable[[Received], Answer]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                fake.received.append(request)
                answer = fake.routes.get((self.command, split.path))
                status, headers, body = answer(request) if answer else (404, {}, b'{"error": "no such route"}')
                self.send_response(status)
                headers = {"Content-Type": "application/json", **headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _handle

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, method: str, path: str, status: int = 200, body=None, headers: dict | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[(method, path)] = lambda request: (status, headers or {}, raw)

    def calls(self, method: str, path: str) -> list[Received]:
        return [r for r in self.received if r.method == method and r.path == path]


@pytest.fixture
def fake():
    server = FakeProvider()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the fake provider listens on 127.0.0.1
    # Dispatch runs in-process after commit on both backends (with REDIS_URL tasks are not eager).
    with celery_eager(propagate=True):
        yield


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """Return a function that posts a message through the API and dispatches it; (response, message)."""

    def run(api, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/v1/messages", {"to": TO, **fields}, format="json")
        if response.status_code != 202:
            return response, None
        message = Message.objects.get(public_id=response.json()["id"])
        dispatch([message.pk])  # a no-op when the on-commit task has sent it already
        message.refresh_from_db()
        return response, message

    return run


def upload(api, name: str, data: bytes, **fields):
    return api.post("/api/v1/media", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")


# --- Twilio ------------------------------------------------------------------------

TWILIO_PATH = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def twilio_created(request: Received) -> Answer:
    """Twilio's 201 for a created message (twilio.md §2)."""
    form = request.form()
    sid = ("MM" if "MediaUrl" in form else "SM") + uuid.uuid4().hex
    body = {
        "sid": sid,
        "status": "queued",
        "direction": "outbound-api",
        "account_sid": TWILIO_SID,
        "from": form.get("From", [""])[0],
        "to": form["To"][0],
        "body": form.get("Body", [""])[0],
        "num_segments": "1",
        "num_media": str(len(form.get("MediaUrl", []))),
        "price": None,
        "error_code": None,
        "error_message": None,
    }
    return 201, {}, json.dumps(body).encode()


@pytest.fixture
def twilio(acme, fake):
    fake.routes[("POST", TWILIO_PATH)] = twilio_created
    return make_account(
        acme,
        provider="twilio",
        credentials={"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
        api_base_url=f"{fake.url}/2010-04-01",
        default_sender="+14155550100",
        messages_per_second=0,
    )


def test_a_twilio_sms_goes_out_form_encoded_with_basic_auth_and_the_status_callback(acme_api, twilio, fake, send):
    response, message = send(acme_api, body="Your code is 4821")
    assert response.status_code == 202, response.content

    [call] = fake.calls("POST", TWILIO_PATH)
    basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert call.headers["authorization"] == f"Basic {basic}"
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    form = call.form()
    assert form["To"] == [TO]
    assert form["From"] == ["+14155550100"]
    assert form["Body"] == ["Your code is 4821"]
    # Our id rides in the callback URL: a callback settles a send whose answer timed out.
    assert form["StatusCallback"] == [f"{twilio.callback_url}?m={message.public_id}"]
    assert twilio.callback_url == f"{PUBLIC_BASE_URL}/webhooks/twilio/{twilio.public_id}/"

    assert message.status == Status.SENT
    assert message.provider == "twilio" and message.provider_account == twilio
    assert message.provider_message_id.startswith("SM")
    assert message.sent_at is not None


def test_a_twilio_mms_carries_a_signed_url_to_our_download_view_that_serves_the_file(
    acme_api, twilio, fake, send, client
):
    uploaded = upload(acme_api, "logo.png", PNG)
    assert uploaded.status_code == 201, uploaded.content
    media_id = uploaded.json()["id"]

    response, message = send(
        acme_api, body="Our logo", media=[{"media_id": media_id}], provider_account=str(twilio.public_id)
    )
    assert response.status_code == 202, response.content
    assert message.status == Status.SENT
    assert message.provider_message_id.startswith("MM")

    [call] = fake.calls("POST", TWILIO_PATH)
    [media_url] = call.form()["MediaUrl"]
    assert media_url.startswith(f"{PUBLIC_BASE_URL}/media/signed/")

    # What Twilio fetches: the file itself, no credentials needed.
    fetched = client.get(urlsplit(media_url).path)
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == PNG
    assert fetched["Content-Type"] == "image/png"
    assert fetched["X-Content-Type-Options"] == "nosniff"

    token = urlsplit(media_url).path.split("/")[3]
    assert client.get(f"/media/signed/{token}x/").status_code == 404  # tampered
    assert client.get(f"/media/signed/{uuid.uuid4()}/").status_code == 404  # never signed


def test_a_signed_media_url_stops_working_when_it_expires(acme_api, acme, client, monkeypatch):
    media = MediaFile.objects.get(public_id=upload(acme_api, "logo.png", PNG).json()["id"])
    url_path = urlsplit(media_signing.signed_url(media)).path
    assert client.get(url_path).status_code == 200
    monkeypatch.setattr(media_signing, "URL_MAX_AGE", -1)
    assert client.get(url_path).status_code == 404


def test_a_twilio_error_fails_the_message_with_twilios_code(acme_api, twilio, fake, send):
    fake.answer(
        "POST",
        TWILIO_PATH,
        status=400,
        body={"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400},
    )
    response, message = send(acme_api, body="Hello")
    assert response.status_code == 202
    assert message.status == Status.FAILED
    assert message.error_code == "21211"
    assert "not a valid phone number" in message.error_message


# --- Infobip -----------------------------------------------------------------------


def infobip_accepted(request: Received) -> Answer:
    """Infobip's 200: the messageId we gave, PENDING_ACCEPTED (infobip.md §2a)."""
    answer = payload("infobip/send__pending_accepted.json")
    destination = request.json()["messages"][0]["destinations"][0]
    answer["messages"][0]["messageId"] = destination["messageId"]
    answer["messages"][0]["destination"] = destination["to"]
    return 200, {}, json.dumps(answer).encode()


@pytest.fixture
def infobip(acme, fake):
    fake.routes[("POST", "/sms/3/messages")] = infobip_accepted
    return make_account(
        acme,
        provider="infobip",
        credentials={"api_key": INFOBIP_KEY, "base_url": "https://x1y2z3.api.infobip.com"},
        api_base_url=fake.url,
        default_sender="Acme",
        messages_per_second=0,
    )


def test_an_infobip_sms_carries_our_message_id_and_the_delivery_url(acme_api, infobip, fake, send):
    response, message = send(acme_api, body="Your code is 4821")
    assert response.status_code == 202, response.content

    [call] = fake.calls("POST", "/sms/3/messages")
    assert call.headers["authorization"] == f"App {INFOBIP_KEY}"
    body = call.json()
    [item] = body["messages"]
    # Infobip dedups on messageId: a resend of this message cannot go out twice.
    assert item["destinations"] == [{"to": TO_DIGITS, "messageId": str(message.public_id)}]
    assert item["sender"] == "Acme"
    assert item["content"] == {"text": "Your code is 4821"}
    assert item["webhooks"]["callbackData"] == str(message.public_id)
    assert item["webhooks"]["delivery"]["url"] == infobip.callback_url
    assert infobip.callback_url == f"{PUBLIC_BASE_URL}/webhooks/infobip/{infobip.public_id}/?t={infobip.webhook_secret}"

    assert message.status == Status.SENT
    assert message.provider == "infobip"
    assert message.provider_message_id == str(message.public_id)


# --- Unifonic ----------------------------------------------------------------------


def unifonic_queued(request: Received) -> Answer:
    """Unifonic's success envelope, ER-00 with an integer MessageID (unifonic.md §2)."""
    answer = payload("unifonic/send__queued.json")
    answer["data"]["CorrelationID"] = request.form()["CorrelationID"][0]
    return 200, {}, json.dumps(answer).encode()


@pytest.fixture
def unifonic(acme, fake):
    fake.routes[("POST", "/rest/SMS/messages")] = unifonic_queued
    return make_account(
        acme,
        provider="unifonic",
        credentials={"app_sid": UNIFONIC_APP_SID},
        api_base_url=fake.url,
        default_sender="Acme",
        messages_per_second=0,
    )


def test_a_unifonic_sms_carries_our_id_as_correlation_id_and_the_status_callback(acme_api, unifonic, fake, send):
    response, message = send(acme_api, body="Your code is 4821")
    assert response.status_code == 202, response.content

    [call] = fake.calls("POST", "/rest/SMS/messages")
    assert call.query == {}  # the AppSid and the text stay out of URLs and access logs
    form = {name: values[0] for name, values in call.form().items()}
    assert form["AppSid"] == UNIFONIC_APP_SID
    assert form["Recipient"] == TO_DIGITS
    assert form["Body"] == "Your code is 4821"
    assert form["SenderID"] == "Acme"
    assert form["responseType"] == "JSON"
    assert form["CorrelationID"] == message.public_id.hex
    assert form["statusCallback"] == unifonic.callback_url
    assert "?t=" in unifonic.callback_url

    assert message.status == Status.SENT
    assert message.provider == "unifonic"
    assert message.provider_message_id == "3200017889310"
    assert message.segments == 1


# --- WhatsApp Cloud ----------------------------------------------------------------

WA_MESSAGES = f"/v21.0/{WA_PHONE_NUMBER_ID}/messages"
WA_MEDIA = f"/v21.0/{WA_PHONE_NUMBER_ID}/media"
WA_TEMPLATES = f"/v21.0/{WA_WABA_ID}/message_templates"


def whatsapp_accepted(request: Received) -> Answer:
    """Meta's 200 (whatsapp-cloud.md §2); templates add message_status."""
    kind = "template_accepted" if request.json()["type"] == "template" else "text"
    name = f"whatsapp/send__{kind}.json"
    return 200, {}, json.dumps(payload(name)).encode()


@pytest.fixture
def whatsapp(acme, fake):
    fake.routes[("POST", WA_MESSAGES)] = whatsapp_accepted
    fake.answer("POST", WA_MEDIA, body={"id": WA_MEDIA_ID})

    def templates(request: Received) -> Answer:
        # Two pages, the second through paging.next on the same host (§6).
        if request.query.get("after") == ["QVFIU2"]:
            return 200, {}, json.dumps(payload("whatsapp/templates__page2.json")).encode()
        page = payload("whatsapp/templates__page1.json")
        page["paging"]["next"] = f"{fake.url}{WA_TEMPLATES}?limit=100&after=QVFIU2"
        return 200, {}, json.dumps(page).encode()

    fake.routes[("GET", WA_TEMPLATES)] = templates
    return make_account(
        acme,
        provider="whatsapp",
        channel="whatsapp",
        credentials={
            "access_token": WA_TOKEN,
            "phone_number_id": WA_PHONE_NUMBER_ID,
            "waba_id": WA_WABA_ID,
            "app_secret": "meta-app-secret",
            "verify_token": "verify-me",
        },
        api_base_url=f"{fake.url}/v21.0",
        default_sender="+966920000000",
        messages_per_second=0,
    )


def open_window(organization, phone: str = TO, hours_ago: float = 1) -> None:
    ConversationWindow.objects.create(
        organization=organization, phone=phone, last_inbound_at=timezone.now() - timedelta(hours=hours_ago)
    )


ORDER_SHIPPED_PARAMETERS = {
    "header": [{"type": "image", "image": {"link": "https://cdn.acme.example/m/abc.jpg"}}],
    "body": ["Sara", "#4821"],
    "buttons": ["4821"],
}


def test_a_synced_approved_template_goes_out_with_its_components(acme_api, whatsapp, fake, send):
    assert sync_templates(whatsapp) == {"created": 2, "updated": 0, "removed": 0, "skipped": 0}
    [first_page, second_page] = fake.calls("GET", WA_TEMPLATES)
    assert first_page.headers["authorization"] == f"Bearer {WA_TOKEN}"
    assert second_page.query["after"] == ["QVFIU2"]

    response, message = send(
        acme_api, channel="whatsapp", template="order_shipped", language="ar", parameters=ORDER_SHIPPED_PARAMETERS
    )
    assert response.status_code == 202, response.content

    [call] = fake.calls("POST", WA_MESSAGES)
    assert call.headers["authorization"] == f"Bearer {WA_TOKEN}"
    body = call.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["to"] == TO_DIGITS
    assert body["type"] == "template"
    assert body["biz_opaque_callback_data"] == str(message.public_id)
    assert body["template"] == {
        "name": "order_shipped",
        "language": {"code": "ar"},
        "components": [
            {"type": "header", "parameters": ORDER_SHIPPED_PARAMETERS["header"]},
            {"type": "body", "parameters": [{"type": "text", "text": "Sara"}, {"type": "text", "text": "#4821"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "4821"}]},
        ],
    }
    # Sent outside any conversation window: templates need none.
    assert not ConversationWindow.objects.exists()

    assert message.status == Status.SENT
    assert message.provider == "whatsapp"
    assert message.provider_message_id == payload("whatsapp/send__template_accepted.json")["messages"][0]["id"]
    assert message.template.external_id == "594425479261596"


def test_a_template_that_is_not_approved_is_refused_before_sending(acme_api, whatsapp, fake, send):
    sync_templates(whatsapp)
    assert Template.objects.get(name="welcome_named").approval_status == "PAUSED"

    response, message = send(
        acme_api,
        channel="whatsapp",
        template="welcome_named",
        parameters={
            "header": [{"type": "text", "text": "Sara", "parameter_name": "first_name"}],
            "body": [
                {"type": "text", "text": "Sara", "parameter_name": "first_name"},
                {"type": "text", "text": "JOOD10", "parameter_name": "code"},
            ],
        },
    )
    assert message is None
    assert_error(response, 400, "template_not_approved")
    assert not fake.calls("POST", WA_MESSAGES)
    assert not Message.objects.exists()


def test_a_template_with_the_wrong_parameter_count_is_refused_before_sending(acme_api, whatsapp, fake, send):
    sync_templates(whatsapp)
    wrong = {**ORDER_SHIPPED_PARAMETERS, "body": ["Sara"]}  # the body has {{1}} and {{2}}

    response, message = send(acme_api, channel="whatsapp", template="order_shipped", language="ar", parameters=wrong)
    error = assert_error(response, 400, "template_parameters")
    assert "expects 2" in error["message"]
    assert not fake.calls("POST", WA_MESSAGES)
    assert not Message.objects.exists()


def test_a_template_gone_from_meta_can_no_longer_be_sent(acme_api, whatsapp, fake, send):
    sync_templates(whatsapp)
    fake.answer("GET", WA_TEMPLATES, body={"data": [], "paging": {"cursors": {}}})
    assert sync_templates(whatsapp)["removed"] == 2

    response, _ = send(
        acme_api, channel="whatsapp", template="order_shipped", language="ar", parameters=ORDER_SHIPPED_PARAMETERS
    )
    assert_error(response, 400, "template_not_approved")
    assert not fake.calls("POST", WA_MESSAGES)


def test_free_form_text_outside_the_24_hour_window_is_rejected_without_calling_meta(
    acme, acme_api, whatsapp, fake, send
):
    open_window(acme, hours_ago=25)

    response, message = send(acme_api, channel="whatsapp", body="Are you still there?")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "rejected"
    assert response.json()["error"]["code"] == "whatsapp_window_closed"
    assert message.status == Status.REJECTED
    assert message.error_code == "whatsapp_window_closed"
    assert fake.received == []


def test_free_form_text_inside_the_24_hour_window_is_sent(acme, acme_api, whatsapp, fake, send):
    open_window(acme, hours_ago=23)

    response, message = send(acme_api, channel="whatsapp", body="Your order is on its way")
    assert response.status_code == 202, response.content

    [call] = fake.calls("POST", WA_MESSAGES)
    assert call.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO_DIGITS,
        "biz_opaque_callback_data": str(message.public_id),
        "type": "text",
        "text": {"body": "Your order is on its way", "preview_url": False},
    }
    assert message.status == Status.SENT
    assert message.provider_message_id == payload("whatsapp/send__text.json")["messages"][0]["id"]


def test_media_is_uploaded_to_meta_first_then_sent_by_its_id(acme, acme_api, whatsapp, fake, send):
    open_window(acme)
    uploaded = upload(acme_api, "parcel.jpg", JPEG)
    assert uploaded.status_code == 201, uploaded.content
    media_id = uploaded.json()["id"]

    response, message = send(
        acme_api, channel="whatsapp", body="Your parcel", media=[{"media_id": media_id, "kind": "image"}]
    )
    assert response.status_code == 202, response.content
    assert [(r.method, r.path) for r in fake.received] == [("POST", WA_MEDIA), ("POST", WA_MESSAGES)]

    upload_call, send_call = fake.received
    assert upload_call.headers["authorization"] == f"Bearer {WA_TOKEN}"
    parts = upload_call.multipart()
    assert parts["messaging_product"][2] == b"whatsapp"
    assert parts["type"][2] == b"image/jpeg"
    assert parts["file"] == ("parcel.jpg", "image/jpeg", JPEG)

    body = send_call.json()
    assert body["type"] == "image"
    assert body["image"] == {"id": WA_MEDIA_ID, "caption": "Your parcel"}
    assert message.status == Status.SENT

    # Meta's id is kept per account: the next message does not upload again.
    stored = MediaFile.objects.get(public_id=media_id)
    assert stored.provider_media_ids[str(whatsapp.public_id)]["id"] == WA_MEDIA_ID
    send(acme_api, channel="whatsapp", media=[{"media_id": media_id, "kind": "image"}])
    assert len(fake.calls("POST", WA_MEDIA)) == 1
    assert len(fake.calls("POST", WA_MESSAGES)) == 2


def test_a_meta_error_fails_the_message_with_metas_code(acme, acme_api, whatsapp, fake, send):
    open_window(acme)
    fake.answer("POST", WA_MESSAGES, status=400, body=payload("whatsapp/error__window_closed.json"))

    response, message = send(acme_api, channel="whatsapp", body="Hello")
    assert response.status_code == 202
    assert message.status == Status.FAILED
    assert message.error_code == "131047"


# --- media upload limits, through the API -------------------------------------------


def test_a_pdf_named_like_a_photo_is_refused_as_an_image(acme_api):
    response = upload(acme_api, "photo.jpg", PDF, kind="image")
    error = assert_error(response, 400, "media_refused")
    assert "application/pdf" in error["message"]
    assert not MediaFile.objects.exists()


def test_the_type_comes_from_the_content_not_the_name(acme_api):
    response = upload(acme_api, "photo.jpg", PDF)
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "document"
    assert response.json()["content_type"] == "application/pdf"
    assert response.json()["filename"] == "photo.jpg"


def test_a_program_named_like_a_document_is_refused(acme_api):
    program = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(range(256)) * 4
    assert_error(upload(acme_api, "report.pdf", program), 400, "media_refused")
    assert not MediaFile.objects.exists()


def test_an_image_over_5_mb_is_refused(acme_api):
    big = JPEG + b"\x00" * 5_000_000
    error = assert_error(upload(acme_api, "big.jpg", big), 400, "media_refused")
    assert "5,000,000" in error["message"]
    assert not MediaFile.objects.exists()
    # The same size is fine as a document, where WhatsApp allows 100 MB.
    assert upload(acme_api, "big.pdf", PDF + b"0" * 5_000_000).status_code == 201


def test_a_failed_media_upload_to_meta_is_handled_like_a_failed_send(acme, acme_api, whatsapp, fake, send):
    open_window(acme)
    fake.answer(
        "POST", WA_MEDIA, status=400, body={"error": {"message": "(#131053) Media upload error", "code": 131053}}
    )
    media_id = upload(acme_api, "parcel.jpg", JPEG).json()["id"]

    response, message = send(acme_api, channel="whatsapp", media=[{"media_id": media_id, "kind": "image"}])
    assert response.status_code == 202
    assert not fake.calls("POST", WA_MESSAGES)
    assert message.status == Status.FAILED
    assert message.error_code == "131053"


def test_a_document_sent_by_media_id_alone_goes_out_as_a_document(acme, acme_api, whatsapp, fake, send):
    open_window(acme)
    media_id = upload(acme_api, "invoice.pdf", PDF).json()["id"]

    response, message = send(acme_api, channel="whatsapp", media=[{"media_id": media_id}])
    assert response.status_code == 202
    body = fake.calls("POST", WA_MESSAGES)[0].json()
    assert body["type"] == "document"
    assert body["document"] == {"id": WA_MEDIA_ID, "filename": "invoice.pdf"}
