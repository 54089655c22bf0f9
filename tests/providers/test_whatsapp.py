"""WhatsApp Cloud adapter against the wire format of providers/whatsapp-cloud.md, HTTP mocked with `responses`."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from django.test import SimpleTestCase

from providers.base import (
    DELIVERED,
    FAILED,
    QUEUED,
    READ,
    SENT,
    UNDELIVERED,
    MediaRef,
    ProviderError,
    TemplateRef,
    UnsupportedFeature,
    WebhookRequest,
)
from providers.whatsapp import (
    MEDIA_LIMITS,
    WhatsAppAdapter,
    check_media,
    check_template_parameters,
    error_kind,
    template_parameter_count,
)
from tests import factories
from tests.providers.shared import TransportErrorChecks, closed_port_url

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "whatsapp"

TOKEN = "test-token"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PHONE_NUMBER_ID = "109876543210"
WABA_ID = "102290129340398"
BASE = "https://graph.facebook.com/v21.0"
MESSAGES_URL = f"{BASE}/{PHONE_NUMBER_ID}/messages"
CALLBACK_URL = "https://jood.example/webhooks/whatsapp/acct-wa/"
OUR_ID = "8c1f0b7e-0000-4000-8000-000000000001"
WAMID = "wamid.HBgMOTY2NTAxMjM0NTY3FQIAERgSMEY0RjJBNUM3QjE2RTlEQjA3AA=="

# Smallest content that each sniffer branch recognises.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 32
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 32
M4A = b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A isom" + b"\x00" * 32
THREE_GP = b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x02\x003gp4isom" + b"\x00" * 32
OPUS = b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead\x01\x02" + b"\x00" * 16
VORBIS = b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis" + b"\x00" * 16
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 32
MP3_BARE = b"\xff\xfb\x90\x64" + b"\x00" * 32
AAC = b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 32
AMR = b"#!AMR\n" + b"\x00" * 32
WEBP_STATIC = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
WEBP_ANIMATED = b"RIFF\x24\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
TEXT = "Order 4821\nشكرا\n".encode()
OLE_DOC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64 + "WordDocument".encode("utf-16-le") + b"\x00\x00"
OLE_XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64 + "Workbook".encode("utf-16-le") + b"\x00\x00"
OLE_PPT = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64 + "PowerPoint Document".encode("utf-16-le") + b"\x00\x00"
OOXML = "application/vnd.openxmlformats-officedocument"


def office_zip(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}/document.xml", "<x/>")
    return buffer.getvalue()


# This module's account and message, from the shared factories (tests/factories.py).
account_config = partial(
    factories.account_config,
    "whatsapp",
    id="acct-wa",
    channel="whatsapp",
    credentials={
        "access_token": TOKEN,
        "phone_number_id": PHONE_NUMBER_ID,
        "waba_id": WABA_ID,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
    },
    callback_url=CALLBACK_URL,
)
outbound_message = partial(factories.outbound_message, id=OUR_ID, channel="whatsapp")


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def meta_error(code: int, message: str = "Error", details: str = "", subcode: int | None = None) -> dict:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC123xyz"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def signed_request(body: bytes, secret: str = APP_SECRET, header: str | None = None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if header is None:
        header = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if header:
        headers["x-hub-signature-256"] = header
    return WebhookRequest(method="POST", url=CALLBACK_URL, headers=headers, body=body)


def json_request(name: str) -> WebhookRequest:
    return WebhookRequest(
        method="POST", url=CALLBACK_URL, headers={"content-type": "application/json"}, body=payload(name)
    )


def sent_json(call) -> dict:
    return json.loads(call.request.body)


class SendTests(SimpleTestCase):
    def setUp(self):
        self.adapter = WhatsAppAdapter()
        self.account = account_config()

    @responses.activate
    def test_it_posts_json_text_with_bearer_auth(self):
        responses.post(MESSAGES_URL, body=payload("send__text.json"), content_type="application/json")
        self.adapter.send(self.account, outbound_message(body="Your order has shipped"))

        call = responses.calls[0]
        self.assertEqual(call.request.method, "POST")
        self.assertEqual(call.request.url, MESSAGES_URL)
        self.assertEqual(call.request.headers["Authorization"], f"Bearer {TOKEN}")
        self.assertEqual(call.request.headers["Content-Type"], "application/json")
        self.assertEqual(
            sent_json(call),
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "966501234567",
                "biz_opaque_callback_data": OUR_ID,
                "type": "text",
                "text": {"body": "Your order has shipped", "preview_url": False},
            },
        )

    @responses.activate
    def test_a_text_send_returns_the_wamid_as_queued(self):
        responses.post(MESSAGES_URL, body=payload("send__text.json"), content_type="application/json")
        result = self.adapter.send(self.account, outbound_message())
        self.assertEqual(result.provider_message_id, WAMID)
        self.assertEqual(result.status, QUEUED)
        self.assertEqual(result.raw_status, "accepted")

    @responses.activate
    def test_a_template_is_sent_with_its_components(self):
        responses.post(MESSAGES_URL, body=payload("send__template_accepted.json"), content_type="application/json")
        components = [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.jood.example/a.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Sara"}, {"type": "text", "text": "#4821"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "4821"}]},
        ]
        template = TemplateRef(name="order_shipped", language="ar", components=components)
        result = self.adapter.send(self.account, outbound_message(body="rendered copy", template=template))
        sent = sent_json(responses.calls[0])
        self.assertEqual(sent["type"], "template")
        self.assertEqual(
            sent["template"], {"name": "order_shipped", "language": {"code": "ar"}, "components": components}
        )
        self.assertNotIn("text", sent)
        self.assertEqual(sent["biz_opaque_callback_data"], OUR_ID)
        self.assertEqual((result.status, result.raw_status), (QUEUED, "accepted"))

    @responses.activate
    def test_a_template_held_for_quality_is_queued(self):
        responses.post(MESSAGES_URL, body=payload("send__template_held.json"), content_type="application/json")
        template = TemplateRef(name="promo", language="en_US")
        result = self.adapter.send(self.account, outbound_message(template=template))
        self.assertEqual((result.status, result.raw_status), (QUEUED, "held_for_quality_assessment"))
        self.assertNotIn("components", sent_json(responses.calls[0])["template"])

    @responses.activate
    def test_media_is_sent_by_link_with_a_caption(self):
        responses.post(MESSAGES_URL, body=payload("send__text.json"), content_type="application/json")
        media = (MediaRef(kind="image", url="https://cdn.jood.example/a.jpg"),)
        self.adapter.send(self.account, outbound_message(body="Your receipt", media=media))
        sent = sent_json(responses.calls[0])
        self.assertEqual(sent["type"], "image")
        self.assertEqual(sent["image"], {"link": "https://cdn.jood.example/a.jpg", "caption": "Your receipt"})

    @responses.activate
    def test_a_document_is_sent_by_id_with_its_filename(self):
        responses.post(MESSAGES_URL, body=payload("send__text.json"), content_type="application/json")
        media = (MediaRef(kind="document", provider_media_id="1003383421387257", filename="invoice.pdf"),)
        self.adapter.send(self.account, outbound_message(body="", media=media))
        sent = sent_json(responses.calls[0])
        self.assertEqual(sent["document"], {"id": "1003383421387257", "filename": "invoice.pdf"})

    @responses.activate
    def test_video_and_audio_are_sent(self):
        responses.post(MESSAGES_URL, body=payload("send__text.json"), content_type="application/json")
        self.adapter.send(
            self.account, outbound_message(body="", media=(MediaRef(kind="video", provider_media_id="7"),))
        )
        self.adapter.send(
            self.account, outbound_message(body="", media=(MediaRef(kind="audio", url="https://a/b.ogg"),))
        )
        self.assertEqual(sent_json(responses.calls[0])["video"], {"id": "7"})
        self.assertEqual(sent_json(responses.calls[1])["audio"], {"link": "https://a/b.ogg"})

    def test_audio_with_text_is_unsupported(self):
        media = (MediaRef(kind="audio", url="https://a/b.ogg"),)
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(body="a caption", media=media))

    def test_two_media_are_unsupported(self):
        media = (MediaRef(kind="image", url="https://a/1.jpg"), MediaRef(kind="image", url="https://a/2.jpg"))
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(media=media))

    def test_a_template_with_attachments_is_unsupported(self):
        media = (MediaRef(kind="image", url="https://a/1.jpg"),)
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(template=TemplateRef("x", "en"), media=media))

    def test_text_over_4096_characters_is_unsupported(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(body="x" * 4097))

    def test_an_empty_message_is_unsupported(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(body=""))

    def test_the_sms_channel_is_unsupported(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(channel="sms"))

    @responses.activate
    def test_the_api_version_is_a_per_account_setting(self):
        url = f"https://graph.facebook.com/v23.0/{PHONE_NUMBER_ID}/messages"
        responses.post(url, body=payload("send__text.json"), content_type="application/json")
        self.adapter.send(account_config(settings={"api_version": "v23.0"}), outbound_message())
        self.assertEqual(responses.calls[0].request.url, url)


class SendErrorTests(TransportErrorChecks, SimpleTestCase):
    def setUp(self):
        self.adapter = WhatsAppAdapter()
        self.account = account_config()

    def send_error(self, **mock) -> ProviderError:
        with responses.RequestsMock() as rsps:
            rsps.post(MESSAGES_URL, **mock)
            with self.assertRaises(ProviderError) as ctx:
                self.adapter.send(self.account, outbound_message())
        return ctx.exception

    def test_retryable_codes_are_retried(self):
        # Meta throttles with HTTP 400 (doc §3): the code decides.
        for code, http in ((130429, 400), (131056, 400), (4, 400), (80007, 400), (131048, 400), (1, 400),
                           (2, 503), (131000, 500), (131016, 500), (131057, 500), (133004, 503)):  # fmt: skip
            with self.subTest(code=code):
                error = self.send_error(json=meta_error(code), status=http)
                self.assertFalse(error.permanent)
                self.assertEqual(error.code, str(code))

    def test_permanent_codes_fail_the_message(self):
        for code, http in ((131026, 400), (131021, 400), (131050, 400), (0, 401), (190, 401), (3, 500), (10, 403),
                           (200, 403), (250, 403), (299, 403), (131031, 403), (368, 403), (131047, 400),
                           (132000, 400), (132001, 404), (132005, 400), (132007, 400), (132012, 400), (132015, 400),
                           (132016, 400), (100, 400), (131008, 400), (131009, 400), (131051, 400), (131053, 400),
                           (135000, 400), (131049, 400), (131030, 400)):  # fmt: skip
            with self.subTest(code=code):
                error = self.send_error(json=meta_error(code), status=http)
                self.assertTrue(error.permanent)
                self.assertEqual(error.code, str(code))
                self.assertEqual(error.http_status, http)

    def test_the_error_carries_why_it_happened(self):
        for code, kind in ((131050, "opted_out"), (131026, "invalid_recipient"), (190, "bad_credentials")):
            with self.subTest(code=code):
                self.assertEqual(self.send_error(json=meta_error(code), status=400).kind, kind)

    def test_a_closed_window_is_explained(self):
        error = self.send_error(body=payload("error__window_closed.json"), status=400, content_type="application/json")
        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "131047")
        self.assertEqual(error_kind(error.code), "window_closed")
        self.assertIn("More than 24 hours have passed", error.message)
        self.assertIn("AbC123xyz", error.message)

    def test_the_subcode_is_kept_in_the_message(self):
        error = self.send_error(json=meta_error(100, "Invalid parameter", subcode=2494010), status=400)
        self.assertIn("2494010", error.message)

    def test_error_kinds_name_opt_outs_and_credentials(self):
        self.assertEqual(error_kind("131050"), "opted_out")
        self.assertEqual(error_kind("190"), "bad_credentials")
        self.assertEqual(error_kind("230"), "bad_credentials")
        self.assertEqual(error_kind("999999"), "")

    def test_it_retries_on_429_with_retry_after(self):
        error = self.send_error(body="Too Many Requests", status=429, headers={"Retry-After": "12"})
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "429")
        self.assertEqual(error.retry_after, 12.0)

    def test_a_throttling_code_honours_retry_after(self):
        error = self.send_error(json=meta_error(130429), status=400, headers={"Retry-After": "2"})
        self.assertFalse(error.permanent)
        self.assertEqual(error.retry_after, 2.0)

    def test_the_pair_rate_limit_waits_six_seconds_by_default(self):
        error = self.send_error(json=meta_error(131056), status=400)
        self.assertEqual(error.retry_after, 6.0)

    def test_it_retries_on_503(self):
        self.check_it_retries_on_503()

    def test_an_unknown_code_on_500_is_retried(self):
        error = self.send_error(json=meta_error(999999), status=500)
        self.assertFalse(error.permanent)

    def test_an_unknown_code_on_400_is_permanent(self):
        error = self.send_error(json=meta_error(999999), status=400)
        self.assertTrue(error.permanent)

    def test_a_non_json_400_is_permanent(self):
        error = self.send_error(body="Bad Request", status=400)
        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "400")

    def test_it_retries_on_a_timeout(self):
        self.check_it_retries_on_a_timeout()

    def test_it_retries_on_a_refused_connection(self):
        self.check_it_retries_on_a_refused_connection()

    def test_it_retries_when_a_real_port_refuses_the_connection(self):
        account = account_config(id="acct-closed", api_base_url=closed_port_url("/v21.0"))
        self.check_a_closed_port_is_retried(self.adapter, account, outbound_message())

    def test_it_retries_on_a_malformed_200(self):
        error = self.send_error(body="<html>ok</html>", status=200)
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")

    def test_it_retries_on_a_200_without_messages(self):
        error = self.send_error(json={"messaging_product": "whatsapp", "messages": []}, status=200)
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")


class CredentialTests(SimpleTestCase):
    def credentials(self, **overrides) -> dict:
        creds = dict(account_config().credentials)
        creds.update(overrides)
        return creds

    def test_complete_credentials_are_valid(self):
        self.assertEqual(WhatsAppAdapter.validate_credentials(self.credentials()), {})

    def test_every_field_is_required(self):
        errors = WhatsAppAdapter.validate_credentials({})
        self.assertEqual(set(errors), {"access_token", "phone_number_id", "waba_id", "app_secret", "verify_token"})

    def test_ids_are_digits(self):
        errors = WhatsAppAdapter.validate_credentials(self.credentials(phone_number_id="+966 50", waba_id="abc"))
        self.assertEqual(set(errors), {"phone_number_id", "waba_id"})

    def test_the_same_id_twice_is_refused(self):
        errors = WhatsAppAdapter.validate_credentials(self.credentials(waba_id=PHONE_NUMBER_ID))
        self.assertIn("waba_id", errors)

    def test_a_token_with_spaces_is_refused(self):
        errors = WhatsAppAdapter.validate_credentials(self.credentials(access_token="test token"))
        self.assertIn("access_token", errors)


class CheckCredentialsTests(SimpleTestCase):
    url = f"{BASE}/{PHONE_NUMBER_ID}"

    def setUp(self):
        self.adapter = WhatsAppAdapter()

    @responses.activate
    def test_a_readable_number_is_ok(self):
        responses.get(
            self.url,
            json={"display_phone_number": "+966 92 000 0000", "verified_name": "Jood Test", "quality_rating": "GREEN"},
        )
        result = self.adapter.check_credentials(account_config())
        self.assertEqual(result.status, "ok")
        self.assertIn("Jood Test", result.detail)
        request = responses.calls[0].request
        self.assertEqual(request.headers["Authorization"], f"Bearer {TOKEN}")
        self.assertEqual(
            parse_qs(urlsplit(request.url).query), {"fields": ["display_phone_number,verified_name,quality_rating"]}
        )

    def test_auth_errors_are_bad_credentials(self):
        for code, http in ((190, 401), (0, 401), (10, 403), (200, 403), (100, 400)):
            with self.subTest(code=code), responses.RequestsMock() as rsps:
                rsps.get(self.url, json=meta_error(code), status=http)
                self.assertEqual(self.adapter.check_credentials(account_config()).status, "bad_credentials")

    @responses.activate
    def test_a_5xx_is_unreachable(self):
        responses.get(self.url, body="oops", status=502)
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "unreachable")

    @responses.activate
    def test_a_timeout_is_unreachable(self):
        responses.get(self.url, body=requests.exceptions.ConnectTimeout("timed out"))
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "unreachable")

    @responses.activate
    def test_a_refused_connection_is_unreachable(self):
        responses.get(self.url, body=requests.exceptions.ConnectionError("refused"))
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "unreachable")


class MediaUploadTests(SimpleTestCase):
    url = f"{BASE}/{PHONE_NUMBER_ID}/media"

    def setUp(self):
        self.adapter = WhatsAppAdapter()

    @responses.activate
    def test_it_uploads_multipart_and_returns_the_media_id(self):
        responses.post(self.url, json={"id": "1003383421387256"})
        media_id = self.adapter.upload_media(account_config(), JPEG, "image/jpeg", "box.jpg")
        self.assertEqual(media_id, "1003383421387256")
        request = responses.calls[0].request
        self.assertEqual(request.headers["Authorization"], f"Bearer {TOKEN}")
        self.assertTrue(request.headers["Content-Type"].startswith("multipart/form-data; boundary="))
        body = request.body
        self.assertIn(b'name="messaging_product"\r\n\r\nwhatsapp', body)
        self.assertIn(b'name="type"\r\n\r\nimage/jpeg', body)
        self.assertIn(b'name="file"; filename="box.jpg"\r\nContent-Type: image/jpeg', body)
        self.assertIn(JPEG, body)

    @responses.activate
    def test_the_sniffed_type_is_declared_not_the_given_one(self):
        responses.post(self.url, json={"id": "1"})
        self.adapter.upload_media(account_config(), PNG, "image/jpeg", "photo.jpg")
        self.assertIn(b'name="type"\r\n\r\nimage/png', responses.calls[0].request.body)

    def test_a_refused_file_is_never_uploaded(self):
        with responses.RequestsMock(), self.assertRaisesRegex(ValueError, "application/pdf by its content"):
            self.adapter.upload_media(account_config(), PDF, "image/jpeg", "photo.jpg")

    @responses.activate
    def test_an_upload_error_is_mapped(self):
        responses.post(self.url, json=meta_error(131053, "Media upload error"), status=400)
        with self.assertRaises(ProviderError) as ctx:
            self.adapter.upload_media(account_config(), JPEG, "image/jpeg", "box.jpg")
        self.assertTrue(ctx.exception.permanent)

    @responses.activate
    def test_an_upload_answer_without_id_is_retried(self):
        responses.post(self.url, json={})
        with self.assertRaises(ProviderError) as ctx:
            self.adapter.upload_media(account_config(), JPEG, "image/jpeg", "box.jpg")
        self.assertFalse(ctx.exception.permanent)


class TemplateSyncTests(SimpleTestCase):
    url = f"{BASE}/{WABA_ID}/message_templates"

    def setUp(self):
        self.adapter = WhatsAppAdapter()

    @responses.activate
    def test_it_follows_paging_next(self):
        responses.get(self.url, body=payload("templates__page1.json"), content_type="application/json")
        responses.get(
            f"{self.url}?limit=100&after=QVFIU2", body=payload("templates__page2.json"), content_type="application/json"
        )
        templates = self.adapter.fetch_templates(account_config())
        self.assertEqual([t["name"] for t in templates], ["order_shipped", "welcome_named"])
        self.assertEqual(templates[0]["id"], "594425479261596")
        self.assertEqual(templates[0]["category"], "UTILITY")
        self.assertEqual(templates[1]["status"], "PAUSED")
        self.assertEqual(templates[1]["language"], "en_US")
        self.assertEqual(templates[0]["components"][1]["type"], "BODY")
        first = parse_qs(urlsplit(responses.calls[0].request.url).query)
        self.assertEqual(first["limit"], ["100"])
        self.assertIn("components", first["fields"][0])
        self.assertEqual(parse_qs(urlsplit(responses.calls[1].request.url).query)["after"], ["QVFIU2"])
        self.assertEqual(responses.calls[1].request.headers["Authorization"], f"Bearer {TOKEN}")

    @responses.activate
    def test_it_never_follows_a_next_link_to_another_host(self):
        page = json.loads(payload("templates__page1.json"))
        page["paging"]["next"] = "https://evil.example/steal"
        responses.get(self.url, json=page)
        self.assertEqual(len(self.adapter.fetch_templates(account_config())), 1)
        self.assertEqual(len(responses.calls), 1)

    @responses.activate
    def test_a_sync_error_is_mapped(self):
        responses.get(self.url, json=meta_error(190, "Access token expired"), status=401)
        with self.assertRaises(ProviderError) as ctx:
            self.adapter.fetch_templates(account_config())
        self.assertTrue(ctx.exception.permanent)


class MediaCheckTests(SimpleTestCase):
    def test_content_is_sniffed_per_type(self):
        cases = [
            (JPEG, "image", "image/jpeg"),
            (PNG, "image", "image/png"),
            (PDF, "document", "application/pdf"),
            (MP4, "video", "video/mp4"),
            (THREE_GP, "video", "video/3gpp"),
            (M4A, "audio", "audio/mp4"),
            (OPUS, "audio", "audio/ogg"),
            (MP3, "audio", "audio/mpeg"),
            (MP3_BARE, "audio", "audio/mpeg"),
            (AAC, "audio", "audio/aac"),
            (AMR, "audio", "audio/amr"),
            (WEBP_STATIC, "sticker", "image/webp"),
            (TEXT, "document", "text/plain"),
            (OLE_DOC, "document", "application/msword"),
            (OLE_XLS, "document", "application/vnd.ms-excel"),
            (OLE_PPT, "document", "application/vnd.ms-powerpoint"),
            (office_zip("word"), "document", f"{OOXML}.wordprocessingml.document"),
            (office_zip("xl"), "document", f"{OOXML}.spreadsheetml.sheet"),
            (office_zip("ppt"), "document", f"{OOXML}.presentationml.presentation"),
        ]
        for data, kind, content_type in cases:
            with self.subTest(content_type=content_type):
                self.assertEqual(check_media(None, data, "upload.bin"), (kind, content_type))
                self.assertEqual(check_media(kind, data, "upload.bin"), (kind, content_type))

    def test_a_pdf_named_jpg_is_refused_as_an_image(self):
        with self.assertRaisesMessage(ValueError, "application/pdf"):
            check_media("image", PDF, "photo.jpg")

    def test_a_pdf_named_jpg_is_a_document_when_no_kind_is_asked(self):
        self.assertEqual(check_media(None, PDF, "photo.jpg"), ("document", "application/pdf"))

    def test_a_gif_is_refused(self):
        with self.assertRaisesMessage(ValueError, "image/gif"):
            check_media(None, GIF, "anim.gif")

    def test_ogg_vorbis_is_refused(self):
        with self.assertRaisesMessage(ValueError, "OPUS"):
            check_media("audio", VORBIS, "voice.opus")

    def test_a_plain_zip_named_docx_is_refused(self):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("payload.exe", "MZ")
        with self.assertRaisesMessage(ValueError, "application/zip"):
            check_media("document", buffer.getvalue(), "report.docx")

    def test_binary_junk_named_txt_is_refused(self):
        with self.assertRaisesRegex(ValueError, "not a file type WhatsApp accepts"):
            check_media("document", b"\x00\x01\x02\x03binary", "notes.txt")

    def test_an_empty_file_is_refused(self):
        with self.assertRaisesMessage(ValueError, "empty"):
            check_media(None, b"", "x.jpg")

    def test_an_unknown_kind_is_refused(self):
        with self.assertRaisesRegex(ValueError, "Unknown media kind 'hologram'"):
            check_media("hologram", JPEG, "x.jpg")

    def test_an_mp4_can_be_sent_as_audio(self):
        self.assertEqual(check_media("audio", MP4, "song.m4a"), ("audio", "audio/mp4"))

    def test_an_image_over_five_megabytes_is_refused(self):
        limit = MEDIA_LIMITS["image"]["max_bytes"]
        self.assertEqual(check_media("image", JPEG + b"\x00" * (limit - len(JPEG)), "big.jpg")[0], "image")
        with self.assertRaisesMessage(ValueError, "at most"):
            check_media("image", JPEG + b"\x00" * (limit - len(JPEG) + 1), "big.jpg")

    def test_a_video_over_sixteen_megabytes_is_refused(self):
        with self.assertRaisesRegex(ValueError, "allows at most 16,000,000 bytes for video"):
            check_media("video", MP4 + b"\x00" * MEDIA_LIMITS["video"]["max_bytes"], "big.mp4")

    def test_a_static_sticker_over_100_kb_is_refused_but_an_animated_one_is_not(self):
        with self.assertRaisesRegex(ValueError, "allows at most 100,000 bytes for sticker"):
            check_media("sticker", WEBP_STATIC + b"\x00" * 100_000, "s.webp")
        self.assertEqual(check_media("sticker", WEBP_ANIMATED + b"\x00" * 100_000, "s.webp")[0], "sticker")
        with self.assertRaisesRegex(ValueError, "allows at most 500,000 bytes for sticker"):
            check_media("sticker", WEBP_ANIMATED + b"\x00" * 500_000, "s.webp")

    def test_limits_match_the_doc(self):
        self.assertEqual(MEDIA_LIMITS["image"]["types"], {"image/jpeg", "image/png"})
        self.assertEqual(MEDIA_LIMITS["video"]["types"], {"video/mp4", "video/3gpp"})
        self.assertEqual(
            MEDIA_LIMITS["audio"]["types"], {"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}
        )
        self.assertIn("application/pdf", MEDIA_LIMITS["document"]["types"])
        self.assertEqual(MEDIA_LIMITS["document"]["max_bytes"], 100_000_000)


class TemplateParameterTests(SimpleTestCase):
    def setUp(self):
        self.synced = json.loads(payload("templates__page1.json"))["data"][0]["components"]
        self.named = json.loads(payload("templates__page2.json"))["data"][0]["components"]
        self.given = [
            {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://a/b.jpg"}}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Sara"}, {"type": "text", "text": "#4821"}]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "4821"}]},
        ]

    def test_it_counts_header_body_and_url_button_parameters(self):
        self.assertEqual(template_parameter_count(self.synced), {"header": 1, "body": 2, "buttons": {0: 1}})

    def test_named_and_repeated_placeholders_count_once(self):
        self.assertEqual(template_parameter_count(self.named), {"header": 1, "body": 2, "buttons": {}})

    def test_matching_parameters_pass(self):
        check_template_parameters(self.synced, self.given)

    def test_a_quick_reply_payload_may_be_given(self):
        reply = {"type": "button", "sub_type": "quick_reply", "index": 1, "parameters": [{"type": "payload"}]}
        check_template_parameters(self.synced, [*self.given, reply])

    def test_a_missing_body_parameter_is_refused(self):
        self.given[1]["parameters"].pop()
        with self.assertRaisesMessage(ValueError, "body expects 2 parameter(s), got 1"):
            check_template_parameters(self.synced, self.given)

    def test_an_extra_body_parameter_is_refused(self):
        self.given[1]["parameters"].append({"type": "text", "text": "extra"})
        with self.assertRaisesRegex(ValueError, r"The template body expects 2 parameter\(s\), got 3"):
            check_template_parameters(self.synced, self.given)

    def test_a_missing_header_media_is_refused(self):
        with self.assertRaisesMessage(ValueError, "header expects 1"):
            check_template_parameters(self.synced, self.given[1:])

    def test_a_header_media_of_the_wrong_type_is_refused(self):
        self.given[0]["parameters"] = [{"type": "video", "video": {"link": "https://a/b.mp4"}}]
        with self.assertRaisesMessage(ValueError, "image"):
            check_template_parameters(self.synced, self.given)

    def test_a_missing_url_button_parameter_is_refused(self):
        with self.assertRaisesMessage(ValueError, "URL button 0"):
            check_template_parameters(self.synced, self.given[:2])

    def test_a_button_index_out_of_range_is_refused(self):
        extra = {"type": "button", "sub_type": "url", "index": "5", "parameters": [{"type": "text", "text": "x"}]}
        with self.assertRaisesRegex(ValueError, "The template has no button at index 5"):
            check_template_parameters(self.synced, [*self.given, extra])

    def test_named_parameters_must_carry_their_names(self):
        given = [
            {"type": "header", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Sara"}]},
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "first_name", "text": "Sara"},
                    {"type": "text", "parameter_name": "code", "text": "JOOD10"},
                ],
            },
        ]
        check_template_parameters(self.named, given)
        given[1]["parameters"][1]["parameter_name"] = "coupon"
        with self.assertRaisesMessage(ValueError, "named"):
            check_template_parameters(self.named, given)


class SignatureTests(SimpleTestCase):
    def setUp(self):
        self.adapter = WhatsAppAdapter()
        self.account = account_config()
        self.body = payload("statuses__delivered.json")

    def test_a_valid_signature_is_accepted(self):
        self.assertTrue(self.adapter.verify(signed_request(self.body), self.account))

    def test_an_uppercase_hex_signature_is_accepted(self):
        header = "sha256=" + hmac.new(APP_SECRET.encode(), self.body, hashlib.sha256).hexdigest().upper()
        self.assertTrue(self.adapter.verify(signed_request(self.body, header=header), self.account))

    def test_a_wrong_secret_is_rejected(self):
        self.assertFalse(self.adapter.verify(signed_request(self.body, secret="other-secret"), self.account))

    def test_a_missing_signature_is_rejected(self):
        self.assertFalse(self.adapter.verify(signed_request(self.body, header=""), self.account))

    def test_a_signature_without_prefix_is_rejected(self):
        bare = hmac.new(APP_SECRET.encode(), self.body, hashlib.sha256).hexdigest()
        self.assertFalse(self.adapter.verify(signed_request(self.body, header=bare), self.account))

    def test_a_changed_body_is_rejected(self):
        request = signed_request(self.body)
        changed = WebhookRequest(
            method="POST", url=CALLBACK_URL, headers=request.headers, body=self.body.replace(b"delivered", b"read")
        )
        self.assertFalse(self.adapter.verify(changed, self.account))

    def test_a_reformatted_body_is_rejected(self):
        # The signature is over the bytes as received, not the parsed JSON (doc §7).
        request = signed_request(self.body)
        compact = json.dumps(json.loads(self.body), separators=(",", ":")).encode()
        changed = WebhookRequest(method="POST", url=CALLBACK_URL, headers=request.headers, body=compact)
        self.assertFalse(self.adapter.verify(changed, self.account))

    def test_an_account_without_app_secret_rejects_everything(self):
        creds = dict(self.account.credentials, app_secret="")
        account = account_config(credentials=creds)
        self.assertFalse(self.adapter.verify(signed_request(self.body, secret=""), account))

    def test_a_replayed_callback_has_the_same_dedup_key(self):
        first = self.adapter.parse_status_callback(signed_request(self.body))
        again = self.adapter.parse_status_callback(signed_request(self.body))
        self.assertEqual([u.dedup_key for u in first], [u.dedup_key for u in again])


class HandshakeTests(SimpleTestCase):
    def setUp(self):
        self.adapter = WhatsAppAdapter()
        self.account = account_config()

    def get(self, query: dict[str, str]) -> WebhookRequest:
        return WebhookRequest(method="GET", url=CALLBACK_URL, headers={}, body=b"", query=query)

    def test_a_matching_token_gets_the_challenge(self):
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN}
        self.assertEqual(self.adapter.handshake(self.get(query), self.account), (200, "1158201444"))

    def test_the_query_is_read_from_the_url_when_not_parsed(self):
        url = f"{CALLBACK_URL}?hub.mode=subscribe&hub.challenge=42&hub.verify_token={VERIFY_TOKEN}"
        request = WebhookRequest(method="GET", url=url, headers={}, body=b"")
        self.assertEqual(self.adapter.handshake(request, self.account), (200, "42"))

    def test_a_wrong_token_is_forbidden(self):
        query = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "guess"}
        self.assertEqual(self.adapter.handshake(self.get(query), self.account)[0], 403)

    def test_a_missing_token_is_forbidden(self):
        query = {"hub.mode": "subscribe", "hub.challenge": "1"}
        self.assertEqual(self.adapter.handshake(self.get(query), self.account)[0], 403)

    def test_another_mode_is_forbidden(self):
        query = {"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN}
        self.assertEqual(self.adapter.handshake(self.get(query), self.account)[0], 403)

    def test_an_account_without_verify_token_is_forbidden(self):
        account = account_config(credentials=dict(self.account.credentials, verify_token=""))
        query = {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": ""}
        self.assertEqual(self.adapter.handshake(self.get(query), account)[0], 403)

    def test_the_webhook_secret_stands_in_for_a_missing_verify_token(self):
        account = account_config(credentials=dict(self.account.credentials, verify_token=""), webhook_secret="test-ws")
        query = {"hub.mode": "subscribe", "hub.challenge": "7", "hub.verify_token": "test-ws"}
        self.assertEqual(self.adapter.handshake(self.get(query), account), (200, "7"))

    def test_a_post_is_no_handshake(self):
        self.assertIsNone(self.adapter.handshake(signed_request(b"{}"), self.account))


class StatusCallbackTests(SimpleTestCase):
    def setUp(self):
        self.adapter = WhatsAppAdapter()

    def parse_one(self, name: str):
        updates = self.adapter.parse_status_callback(json_request(name))
        self.assertEqual(len(updates), 1)
        return updates[0]

    def test_every_native_status_maps_per_the_readme(self):
        expected = {
            "statuses__sent.json": ("sent", SENT),
            "statuses__delivered.json": ("delivered", DELIVERED),
            "statuses__read.json": ("read", READ),
            "statuses__played.json": ("played", READ),
            "statuses__failed_window_closed.json": ("failed", FAILED),
            "statuses__unknown.json": ("deleted", None),
        }
        for name, (raw, status) in expected.items():
            with self.subTest(name=name):
                update = self.parse_one(name)
                self.assertEqual(update.raw_status, raw)
                self.assertEqual(update.status, status)
                self.assertEqual(update.provider_message_id, WAMID)

    def test_delivered_callback_maps_to_delivered(self):
        update = self.parse_one("statuses__delivered.json")
        self.assertEqual(update.status, DELIVERED)
        self.assertEqual(update.occurred_at, datetime.fromtimestamp(1795000020, tz=UTC))
        self.assertEqual(update.our_message_id, OUR_ID)
        self.assertEqual(update.dedup_key, f"{WAMID}:delivered")

    def test_sent_keeps_pricing_and_conversation(self):
        update = self.parse_one("statuses__sent.json")
        self.assertEqual(update.extra["pricing"]["category"], "utility")
        self.assertEqual(update.extra["conversation"]["origin"], {"type": "utility"})
        self.assertEqual(update.extra["phone_number_id"], "109876543210")
        self.assertEqual(update.extra["recipient_id"], "966501234567")

    def test_failed_undeliverable_maps_to_undelivered(self):
        update = self.parse_one("statuses__failed_undeliverable.json")
        self.assertEqual(update.status, UNDELIVERED)
        self.assertEqual(update.raw_status, "failed")
        self.assertEqual(update.error_code, "131026")
        self.assertIn("Message undeliverable", update.error_message)

    def test_failed_marketing_cap_maps_to_undelivered(self):
        update = self.parse_one("statuses__failed_marketing_cap.json")
        self.assertEqual(update.status, UNDELIVERED)
        self.assertEqual(update.error_code, "131049")

    def test_failed_window_closed_stays_failed_with_details(self):
        update = self.parse_one("statuses__failed_window_closed.json")
        self.assertEqual(update.status, FAILED)
        self.assertEqual(update.error_code, "131047")
        self.assertIn("More than 24 hours", update.error_message)
        self.assertEqual(update.extra["errors"][0]["code"], 131047)

    def test_statuses_next_to_contacts_are_read(self):
        self.assertEqual(self.parse_one("statuses__with_contacts.json").status, DELIVERED)

    def test_a_batch_yields_every_status_of_every_entry(self):
        updates = self.adapter.parse_status_callback(json_request("statuses__batch.json"))
        self.assertEqual(
            [(u.provider_message_id, u.raw_status, u.our_message_id) for u in updates],
            [
                ("wamid.A1", "sent", "our-a"),
                ("wamid.A1", "delivered", "our-a"),
                ("wamid.B2", "read", "our-b"),
                ("wamid.C3", "failed", "our-c"),
            ],
        )
        self.assertEqual(updates[3].extra["phone_number_id"], "109876543211")
        self.assertEqual(updates[3].extra["waba_id"], "102290129340399")

    def test_a_template_status_update_is_no_message_status(self):
        request = json_request("template_status_update__approved.json")
        self.assertEqual(self.adapter.parse_status_callback(request), [])
        self.assertEqual(self.adapter.parse_inbound(request), [])

    def test_an_inbound_message_is_no_status_update(self):
        self.assertEqual(self.adapter.parse_status_callback(json_request("messages__text.json")), [])


class InboundTests(SimpleTestCase):
    def setUp(self):
        self.adapter = WhatsAppAdapter()

    def parse_one(self, name: str):
        messages = self.adapter.parse_inbound(json_request(name))
        self.assertEqual(len(messages), 1)
        return messages[0]

    def test_a_text_message_is_parsed_with_the_profile_name(self):
        message = self.parse_one("messages__text.json")
        self.assertEqual(message.provider_message_id, "wamid.IN1")
        self.assertEqual(message.channel, "whatsapp")
        self.assertEqual(message.from_number, "+966501234567")
        self.assertEqual(message.to_number, "+966920000000")
        self.assertEqual(message.body, "STOP")
        self.assertEqual(message.profile_name, "Sara")
        self.assertEqual(message.received_at, datetime.fromtimestamp(1795000000, tz=UTC))
        self.assertEqual(message.extra["phone_number_id"], "109876543210")
        self.assertEqual(message.extra["type"], "text")

    def test_a_reply_keeps_its_context(self):
        message = self.parse_one("messages__text_reply.json")
        self.assertEqual(message.extra["context"]["id"], WAMID)

    def test_media_messages_carry_the_media_id(self):
        cases = {
            "messages__image.json": ("image", "image/jpeg", "The damaged box"),
            "messages__document.json": ("document", "application/pdf", "Invoice"),
            "messages__audio.json": ("audio", "audio/ogg; codecs=opus", ""),
            "messages__video.json": ("video", "video/mp4", ""),
            "messages__sticker.json": ("image", "image/webp", ""),
        }
        for name, (kind, content_type, caption) in cases.items():
            with self.subTest(name=name):
                message = self.parse_one(name)
                [media] = message.media
                self.assertEqual(media.kind, kind)
                self.assertEqual(media.content_type, content_type)
                self.assertTrue(media.provider_media_id.isdigit())
                self.assertEqual(message.body, caption)
        self.assertEqual(self.parse_one("messages__document.json").media[0].filename, "invoice-4821.pdf")
        self.assertEqual(self.parse_one("messages__sticker.json").extra["type"], "sticker")
        self.assertTrue(self.parse_one("messages__audio.json").extra["voice"])

    def test_a_template_button_tap_keeps_its_payload(self):
        message = self.parse_one("messages__button.json")
        self.assertEqual(message.body, "Stop promotions")
        self.assertEqual(message.extra["payload"], "STOP_PROMO")

    def test_interactive_replies_keep_their_ids(self):
        button = self.parse_one("messages__interactive_button_reply.json")
        self.assertEqual((button.body, button.extra["reply_id"]), ("Confirm", "confirm-4821"))
        listed = self.parse_one("messages__interactive_list_reply.json")
        self.assertEqual((listed.body, listed.extra["reply_id"]), ("Tomorrow 10-12", "slot-2"))

    def test_a_reaction_names_the_message(self):
        message = self.parse_one("messages__reaction.json")
        self.assertEqual(message.body, "\U0001f44d")
        self.assertEqual(message.extra["reaction"]["message_id"], WAMID)

    def test_a_location_is_kept(self):
        self.assertEqual(self.parse_one("messages__location.json").extra["location"]["name"], "Warehouse")

    def test_an_unsupported_message_keeps_its_errors(self):
        message = self.parse_one("messages__unsupported.json")
        self.assertEqual(message.body, "")
        self.assertEqual(message.extra["errors"][0]["code"], 131051)

    def test_a_status_webhook_is_no_inbound_message(self):
        self.assertEqual(self.adapter.parse_inbound(json_request("statuses__delivered.json")), [])
