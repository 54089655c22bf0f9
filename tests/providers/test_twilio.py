"""Twilio adapter against the wire format of providers/twilio.md, HTTP mocked with `responses`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlencode

import requests
import responses
from django.test import SimpleTestCase

from providers.base import (
    CANCELED,
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
from providers.twilio import TwilioAdapter, is_inbound
from tests import factories
from tests.providers.shared import TransportErrorChecks, closed_port_url

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "twilio"

ACCOUNT_SID = "AC" + "0" * 32
API_KEY_SID = "SK" + "0" * 32
AUTH_TOKEN = "test-token"
BASE = "https://api.twilio.com/2010-04-01"
MESSAGES_URL = f"{BASE}/Accounts/{ACCOUNT_SID}/Messages.json"
CALLBACK_URL = "https://jood.example/webhooks/twilio/acct-1/"
SID = "SM5b1e0c4f2a9d4e7b8c6a1f2e3d4c5b6a"


# This module's account and message, from the shared factories (tests/factories.py).
account_config = partial(
    factories.account_config,
    "twilio",
    id="acct-1",
    credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
    sender="+14155550100",
    callback_url=CALLBACK_URL,
)
outbound_message = factories.outbound_message


def created(status: str = "queued", **overrides) -> dict:
    body = {
        "sid": SID,
        "status": status,
        "direction": "outbound-api",
        "account_sid": ACCOUNT_SID,
        "from": "+14155550100",
        "to": "+966501234567",
        "body": "Hi",
        "num_segments": "1",
        "num_media": "0",
        "error_code": None,
        "error_message": None,
        "price": None,
        "price_unit": "USD",
        "api_version": "2010-04-01",
    }
    body.update(overrides)
    return body


def twilio_error(code: int, http: int, message: str = "Refused") -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": http}


def sign_by_hand(token: str, url: str, pairs: list[tuple[str, str]]) -> str:
    """Twilio's algorithm written out: URL, then name+value for sorted names and values."""
    grouped: dict[str, set[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, set()).add(value)
    text = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes().strip()


def form_request(body: bytes, url: str = CALLBACK_URL, signature: str | None = None) -> WebhookRequest:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest(
        method="POST", url=url, headers=headers, body=body, form=dict(parse_qsl(body.decode(), keep_blank_values=True))
    )


def sent_form(call) -> dict[str, list[str]]:
    return parse_qs(call.request.body, keep_blank_values=True)


class SendTests(SimpleTestCase):
    def setUp(self):
        self.adapter = TwilioAdapter()
        self.account = account_config()

    @responses.activate
    def test_it_posts_a_form_encoded_message_with_basic_auth(self):
        responses.post(MESSAGES_URL, json=created(), status=201)
        self.adapter.send(self.account, outbound_message(body="Your code is 4821"))

        call = responses.calls[0]
        self.assertEqual(call.request.method, "POST")
        self.assertEqual(call.request.url, MESSAGES_URL)
        self.assertEqual(call.request.headers["Content-Type"], "application/x-www-form-urlencoded")
        expected_auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        self.assertEqual(call.request.headers["Authorization"], expected_auth)
        self.assertEqual(
            sent_form(call),
            {
                "To": ["+966501234567"],
                "From": ["+14155550100"],
                "Body": ["Your code is 4821"],
                "StatusCallback": [CALLBACK_URL],
            },
        )

    @responses.activate
    def test_it_returns_the_sid_segments_and_queued_status(self):
        responses.post(MESSAGES_URL, json=created(num_segments="2", price="-0.00750"), status=201)
        result = self.adapter.send(self.account, outbound_message())
        self.assertEqual(result.provider_message_id, SID)
        self.assertEqual(result.status, QUEUED)
        self.assertEqual(result.raw_status, "queued")
        self.assertEqual(result.segments, 2)
        # Twilio reports a charge as a negative amount; we keep what was paid.
        self.assertEqual((result.price, result.currency), ("0.0075", "USD"))

    @responses.activate
    def test_accepted_from_a_messaging_service_maps_to_queued(self):
        responses.post(MESSAGES_URL, json=created(status="accepted", num_segments="0"), status=201)
        result = self.adapter.send(self.account, outbound_message())
        self.assertEqual(result.status, QUEUED)
        self.assertEqual(result.raw_status, "accepted")
        self.assertIsNone(result.segments)  # "0" until the service picks a sender (doc §2)
        self.assertEqual((result.price, result.currency), ("", ""))  # price null: not priced yet

    @responses.activate
    def test_sent_in_the_answer_maps_to_sent(self):
        responses.post(MESSAGES_URL, json=created(status="sent"), status=201)
        self.assertEqual(self.adapter.send(self.account, outbound_message()).status, SENT)

    @responses.activate
    def test_an_mg_sender_goes_as_messaging_service_sid(self):
        responses.post(MESSAGES_URL, json=created(status="accepted"), status=201)
        service = "MG" + "0" * 32
        self.adapter.send(self.account, outbound_message(sender=service))
        form = sent_form(responses.calls[0])
        self.assertEqual(form["MessagingServiceSid"], [service])
        self.assertNotIn("From", form)

    @responses.activate
    def test_the_message_callback_url_overrides_the_account_one(self):
        responses.post(MESSAGES_URL, json=created(), status=201)
        own = "https://jood.example/webhooks/twilio/acct-1/?m=1"
        self.adapter.send(self.account, outbound_message(status_callback_url=own))
        self.assertEqual(sent_form(responses.calls[0])["StatusCallback"], [own])

    @responses.activate
    def test_media_urls_repeat_the_media_url_key(self):
        responses.post(MESSAGES_URL, json=created(sid="MM" + "1" * 32), status=201)
        media = (
            MediaRef(kind="image", url="https://cdn.jood.example/m/a.jpg"),
            MediaRef(kind="document", url="https://cdn.jood.example/m/b.pdf"),
        )
        result = self.adapter.send(self.account, outbound_message(body="", media=media))
        form = sent_form(responses.calls[0])
        self.assertEqual(form["MediaUrl"], ["https://cdn.jood.example/m/a.jpg", "https://cdn.jood.example/m/b.pdf"])
        self.assertNotIn("Body", form)
        self.assertEqual(result.provider_message_id, "MM" + "1" * 32)

    @responses.activate
    def test_an_api_key_authenticates_but_the_path_keeps_the_account_sid(self):
        responses.post(MESSAGES_URL, json=created(), status=201)
        creds = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_key_sid": API_KEY_SID,
            "api_key_secret": "test-key-secret",
        }
        self.adapter.send(account_config(id="acct-key", credentials=creds), outbound_message())
        expected_auth = "Basic " + base64.b64encode(f"{API_KEY_SID}:test-key-secret".encode()).decode()
        self.assertEqual(responses.calls[0].request.headers["Authorization"], expected_auth)
        self.assertEqual(responses.calls[0].request.url, MESSAGES_URL)

    @responses.activate
    def test_it_uses_the_account_base_url(self):
        edge = "https://api.dublin.ie1.twilio.com/2010-04-01/"
        responses.post(f"{edge}Accounts/{ACCOUNT_SID}/Messages.json", json=created(), status=201)
        self.adapter.send(account_config(id="acct-edge", api_base_url=edge), outbound_message())
        self.assertEqual(len(responses.calls), 1)

    def test_media_without_a_url_is_unsupported(self):
        media = (MediaRef(kind="image", provider_media_id="123"),)
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(media=media))

    def test_more_than_ten_media_is_unsupported(self):
        media = tuple(MediaRef(kind="image", url=f"https://cdn.jood.example/{i}.jpg") for i in range(11))
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(media=media))

    def test_a_template_is_unsupported(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(template=TemplateRef(name="x", language="en")))

    def test_the_whatsapp_channel_is_unsupported(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(channel="whatsapp"))


class SendErrorTests(TransportErrorChecks, SimpleTestCase):
    def setUp(self):
        self.adapter = TwilioAdapter()
        self.account = account_config()

    def send_error(self, **mock) -> ProviderError:
        with responses.RequestsMock() as rsps:
            rsps.post(MESSAGES_URL, **mock)
            with self.assertRaises(ProviderError) as ctx:
                self.adapter.send(self.account, outbound_message())
        return ctx.exception

    def test_permanent_codes_fail_the_message(self):
        for code in (21211, 21612, 21614, 21610, 21408, 21602, 21603, 21604, 21606, 21608, 21617):
            with self.subTest(code=code):
                error = self.send_error(json=twilio_error(code, 400), status=400)
                self.assertTrue(error.permanent)
                self.assertEqual(error.code, str(code))
                self.assertEqual(error.http_status, 400)

    def test_an_invalid_number_keeps_twilios_message_and_link(self):
        body = twilio_error(21211, 400, "The 'To' number +1555 is not a valid phone number.")
        error = self.send_error(json=body, status=400)
        self.assertIn("The 'To' number +1555 is not a valid phone number.", error.message)
        self.assertIn("https://www.twilio.com/docs/errors/21211", error.message)

    def test_bad_credentials_are_permanent(self):
        error = self.send_error(json=twilio_error(20003, 401, "Authenticate"), status=401)
        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "20003")

    def test_a_wrong_account_sid_is_permanent(self):
        error = self.send_error(json=twilio_error(20404, 404), status=404)
        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "20404")

    def test_it_retries_on_20429_with_retry_after(self):
        error = self.send_error(
            json=twilio_error(20429, 429, "Too Many Requests"), status=429, headers={"Retry-After": "7"}
        )
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "20429")
        self.assertEqual(error.retry_after, 7.0)

    def test_it_retries_on_a_bare_429(self):
        error = self.send_error(body="slow down", status=429, headers={"Retry-After": "3"})
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "429")
        self.assertEqual(error.retry_after, 3.0)

    def test_it_retries_when_the_sender_queue_is_full(self):
        error = self.send_error(json=twilio_error(21611, 400), status=400)
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "21611")

    def test_it_retries_on_503(self):
        self.check_it_retries_on_503()

    def test_it_retries_on_500_with_a_twilio_body(self):
        error = self.send_error(json=twilio_error(20500, 500, "Internal Server Error"), status=500)
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "20500")

    def test_an_unknown_400_code_is_permanent(self):
        error = self.send_error(json=twilio_error(21999, 400), status=400)
        self.assertTrue(error.permanent)

    def test_a_non_json_400_falls_back_to_the_http_status(self):
        error = self.send_error(body="Bad Request", status=400)
        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "400")

    def test_an_rfc_9457_body_is_read(self):
        body = {
            "type": "https://www.twilio.com/docs/errors/21211",
            "title": "Invalid 'To' Phone Number",
            "status": 400,
            "code": 21211,
            "detail": "The 'To' number is not valid.",
            "instance": "/Messages",
        }
        error = self.send_error(json=body, status=400)
        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "21211")
        self.assertIn("The 'To' number is not valid.", error.message)

    def test_it_retries_on_a_timeout(self):
        self.check_it_retries_on_a_timeout()

    def test_it_retries_on_a_refused_connection(self):
        self.check_it_retries_on_a_refused_connection()

    def test_a_connection_broken_mid_exchange_is_unknown(self):
        self.check_a_connection_broken_mid_exchange_is_unknown()

    def test_the_error_carries_why_it_happened(self):
        kinds = {21610: "opted_out", 21211: "invalid_recipient", 20003: "bad_credentials", 21611: "sender_queue_full"}
        for code, kind in {**kinds, 21999: ""}.items():
            with self.subTest(code=code):
                self.assertEqual(self.send_error(json=twilio_error(code, 400), status=400).kind, kind)

    def test_it_retries_when_a_real_port_refuses_the_connection(self):
        account = account_config(id="acct-closed", api_base_url=closed_port_url("/2010-04-01"))
        self.check_a_closed_port_is_retried(self.adapter, account, outbound_message())

    def test_it_retries_on_a_malformed_201(self):
        error = self.send_error(body="<html>ok</html>", status=201)
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")

    def test_it_retries_on_a_201_without_sid(self):
        error = self.send_error(json={"status": "queued"}, status=201)
        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")


class CredentialTests(SimpleTestCase):
    def test_an_account_sid_and_token_are_valid(self):
        self.assertEqual(TwilioAdapter.validate_credentials({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}), {})

    def test_an_api_key_with_the_auth_token_is_valid(self):
        creds = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_key_sid": API_KEY_SID,
            "api_key_secret": "test-key-secret",
        }
        self.assertEqual(TwilioAdapter.validate_credentials(creds), {})

    def test_the_auth_token_is_required_even_with_an_api_key(self):
        creds = {"account_sid": ACCOUNT_SID, "api_key_sid": API_KEY_SID, "api_key_secret": "test-key-secret"}
        self.assertIn("auth_token", TwilioAdapter.validate_credentials(creds))

    def test_a_malformed_account_sid_is_refused(self):
        for sid in ("AC123", "XX" + "0" * 32, "AC" + "g" * 32, "AC" + "0" * 33):
            with self.subTest(sid=sid):
                errors = TwilioAdapter.validate_credentials({"account_sid": sid, "auth_token": AUTH_TOKEN})
                self.assertIn("account_sid", errors)

    def test_an_api_key_sid_in_the_account_field_is_explained(self):
        errors = TwilioAdapter.validate_credentials({"account_sid": API_KEY_SID, "auth_token": AUTH_TOKEN})
        self.assertIn("API key", errors["account_sid"])

    def test_a_malformed_api_key_sid_is_refused(self):
        creds = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_key_sid": "SK1", "api_key_secret": "s"}
        self.assertIn("api_key_sid", TwilioAdapter.validate_credentials(creds))

    def test_an_api_key_sid_without_secret_is_refused(self):
        creds = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_key_sid": API_KEY_SID}
        self.assertIn("api_key_secret", TwilioAdapter.validate_credentials(creds))

    def test_an_api_key_secret_without_sid_is_refused(self):
        creds = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "api_key_secret": "test-key-secret"}
        self.assertIn("api_key_sid", TwilioAdapter.validate_credentials(creds))

    def test_missing_and_unknown_fields_are_reported(self):
        errors = TwilioAdapter.validate_credentials({"password": "x"})
        self.assertEqual(set(errors), {"account_sid", "auth_token", "password"})


class CheckCredentialsTests(SimpleTestCase):
    def setUp(self):
        self.adapter = TwilioAdapter()

    @responses.activate
    def test_a_readable_active_account_is_ok(self):
        responses.get(f"{BASE}/Accounts/{ACCOUNT_SID}.json", json={"sid": ACCOUNT_SID, "status": "active"})
        result = self.adapter.check_credentials(account_config())
        self.assertEqual(result.status, "ok")
        self.assertTrue(responses.calls[0].request.headers["Authorization"].startswith("Basic "))

    @responses.activate
    def test_with_an_api_key_it_reads_one_message_instead(self):
        responses.get(MESSAGES_URL, json={"messages": [], "page_size": 1})
        creds = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "api_key_sid": API_KEY_SID,
            "api_key_secret": "test-key-secret",
        }
        result = self.adapter.check_credentials(account_config(id="acct-key", credentials=creds))
        self.assertEqual(result.status, "ok")
        self.assertEqual(parse_qs(responses.calls[0].request.url.split("?", 1)[1]), {"PageSize": ["1"]})

    @responses.activate
    def test_a_401_is_bad_credentials(self):
        responses.get(f"{BASE}/Accounts/{ACCOUNT_SID}.json", json=twilio_error(20003, 401, "Authenticate"), status=401)
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "bad_credentials")

    @responses.activate
    def test_a_403_is_bad_credentials(self):
        responses.get(f"{BASE}/Accounts/{ACCOUNT_SID}.json", body="Forbidden", status=403)
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "bad_credentials")

    @responses.activate
    def test_a_suspended_account_is_bad_credentials(self):
        responses.get(f"{BASE}/Accounts/{ACCOUNT_SID}.json", json={"sid": ACCOUNT_SID, "status": "suspended"})
        result = self.adapter.check_credentials(account_config())
        self.assertEqual(result.status, "bad_credentials")
        self.assertIn("suspended", result.detail)

    @responses.activate
    def test_a_5xx_is_unreachable(self):
        responses.get(f"{BASE}/Accounts/{ACCOUNT_SID}.json", body="oops", status=502)
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "unreachable")

    @responses.activate
    def test_a_timeout_is_unreachable(self):
        responses.get(f"{BASE}/Accounts/{ACCOUNT_SID}.json", body=requests.exceptions.ConnectTimeout("timed out"))
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "unreachable")

    @responses.activate
    def test_a_refused_connection_is_unreachable(self):
        responses.get(f"{BASE}/Accounts/{ACCOUNT_SID}.json", body=requests.exceptions.ConnectionError("refused"))
        self.assertEqual(self.adapter.check_credentials(account_config()).status, "unreachable")

    def test_malformed_credentials_are_bad_without_a_call(self):
        account = account_config(credentials={"account_sid": "AC1", "auth_token": AUTH_TOKEN})
        with responses.RequestsMock():  # any request would fail: none is expected
            self.assertEqual(self.adapter.check_credentials(account).status, "bad_credentials")


class SignatureTests(SimpleTestCase):
    def setUp(self):
        self.adapter = TwilioAdapter()
        self.account = account_config()
        self.body = payload("status_callback__delivered.txt")
        self.pairs = parse_qsl(self.body.decode(), keep_blank_values=True)

    def test_a_valid_signature_is_accepted(self):
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, self.pairs)
        self.assertTrue(self.adapter.verify(form_request(self.body, signature=signature), self.account))

    def test_a_wrong_signature_is_rejected(self):
        signature = sign_by_hand("other-token", CALLBACK_URL, self.pairs)
        self.assertFalse(self.adapter.verify(form_request(self.body, signature=signature), self.account))

    def test_a_missing_signature_is_rejected(self):
        self.assertFalse(self.adapter.verify(form_request(self.body), self.account))

    def test_an_empty_signature_is_rejected(self):
        self.assertFalse(self.adapter.verify(form_request(self.body, signature=""), self.account))

    def test_a_changed_body_is_rejected(self):
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, self.pairs)
        changed = self.body.replace(b"MessageStatus=delivered", b"MessageStatus=read")
        self.assertFalse(self.adapter.verify(form_request(changed, signature=signature), self.account))

    def test_an_added_parameter_is_rejected(self):
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, self.pairs)
        changed = self.body + b"&ErrorCode=30003"
        self.assertFalse(self.adapter.verify(form_request(changed, signature=signature), self.account))

    def test_another_url_is_rejected(self):
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, self.pairs)
        request = form_request(self.body, url="https://jood.example/webhooks/twilio/acct-2/", signature=signature)
        self.assertFalse(self.adapter.verify(request, self.account))

    def test_an_account_without_auth_token_rejects_everything(self):
        signature = sign_by_hand("", CALLBACK_URL, self.pairs)
        account = account_config(credentials={"account_sid": ACCOUNT_SID, "auth_token": ""})
        self.assertFalse(self.adapter.verify(form_request(self.body, signature=signature), account))

    def test_the_query_string_is_part_of_the_signed_url(self):
        url = CALLBACK_URL + "?m=8c1f0b7e"
        signature = sign_by_hand(AUTH_TOKEN, url, self.pairs)
        self.assertTrue(self.adapter.verify(form_request(self.body, url=url, signature=signature), self.account))
        self.assertFalse(self.adapter.verify(form_request(self.body, signature=signature), self.account))

    def test_a_signature_made_with_the_default_port_is_accepted(self):
        signature = sign_by_hand(AUTH_TOKEN, "https://jood.example:443/webhooks/twilio/acct-1/", self.pairs)
        self.assertTrue(self.adapter.verify(form_request(self.body, signature=signature), self.account))

    def test_a_signature_made_without_the_port_is_accepted(self):
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, self.pairs)
        url = "https://jood.example:443/webhooks/twilio/acct-1/"
        self.assertTrue(self.adapter.verify(form_request(self.body, url=url, signature=signature), self.account))

    def test_repeated_and_empty_parameters_are_signed(self):
        body = urlencode([("MediaUrl", "https://b.example"), ("MediaUrl", "https://a.example"), ("Body", "")]).encode()
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, parse_qsl(body.decode(), keep_blank_values=True))
        self.assertTrue(self.adapter.verify(form_request(body, signature=signature), self.account))

    def test_utf8_bodies_are_signed_as_utf8(self):
        body = payload("inbound__arabic.txt")
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, parse_qsl(body.decode(), keep_blank_values=True))
        self.assertTrue(self.adapter.verify(form_request(body, signature=signature), self.account))

    def test_a_json_webhook_is_checked_against_body_sha256(self):
        body = json.dumps({"hello": "world"}).encode()
        url = CALLBACK_URL + "?bodySHA256=" + hashlib.sha256(body).hexdigest()
        signature = sign_by_hand(AUTH_TOKEN, url, [])
        headers = {"content-type": "application/json", "x-twilio-signature": signature}
        good = WebhookRequest(method="POST", url=url, headers=headers, body=body)
        self.assertTrue(self.adapter.verify(good, self.account))
        bad = WebhookRequest(method="POST", url=url, headers=headers, body=body + b" ")
        self.assertFalse(self.adapter.verify(bad, self.account))

    def test_a_replayed_callback_has_the_same_dedup_key(self):
        signature = sign_by_hand(AUTH_TOKEN, CALLBACK_URL, self.pairs)
        first = self.adapter.parse_status_callback(form_request(self.body, signature=signature))
        again = self.adapter.parse_status_callback(form_request(self.body, signature=signature))
        self.assertEqual(first[0].dedup_key, again[0].dedup_key)


class StatusCallbackTests(SimpleTestCase):
    def setUp(self):
        self.adapter = TwilioAdapter()

    def parse(self, name: str):
        updates = self.adapter.parse_status_callback(form_request(payload(name)))
        self.assertEqual(len(updates), 1)
        return updates[0]

    def test_every_native_status_maps_per_the_readme(self):
        expected = {
            "accepted": QUEUED,
            "scheduled": QUEUED,
            "queued": QUEUED,
            "sending": QUEUED,
            "sent": SENT,
            "delivered": DELIVERED,
            "partially_delivered": DELIVERED,
            "read": READ,
            "undelivered": UNDELIVERED,
            "failed": FAILED,
            "canceled": CANCELED,
            "teleported": None,  # status_callback__unknown.txt
        }
        for raw, status in expected.items():
            name = "unknown" if raw == "teleported" else raw
            with self.subTest(raw=raw):
                update = self.parse(f"status_callback__{name}.txt")
                self.assertEqual(update.status, status)
                self.assertEqual(update.raw_status, raw)
                self.assertEqual(update.provider_message_id, SID)

    def test_delivered_callback_maps_to_delivered_at_the_dlr_time(self):
        update = self.parse("status_callback__delivered.txt")
        self.assertEqual(update.status, DELIVERED)
        self.assertEqual(update.occurred_at, datetime(2026, 11, 24, 10, 3, tzinfo=UTC))
        self.assertEqual(update.dedup_key, f"{SID}:delivered::2611241003")
        self.assertEqual(update.error_code, "")

    def test_a_callback_without_dlr_date_has_no_time(self):
        update = self.parse("status_callback__delivered_without_dlr_date.txt")
        self.assertIsNone(update.occurred_at)
        self.assertEqual(update.dedup_key, f"{SID}:delivered::")

    def test_a_malformed_dlr_date_is_ignored(self):
        self.assertIsNone(self.parse("status_callback__bad_dlr_date.txt").occurred_at)

    def test_undelivered_callback_carries_the_error_code(self):
        update = self.parse("status_callback__undelivered.txt")
        self.assertEqual(update.status, UNDELIVERED)
        self.assertEqual(update.error_code, "30003")
        self.assertEqual(update.error_message, "Unreachable destination handset")
        self.assertEqual(update.dedup_key, f"{SID}:undelivered:30003:2611241003")

    def test_failed_callback_carries_the_error_code(self):
        update = self.parse("status_callback__failed.txt")
        self.assertEqual(update.status, FAILED)
        self.assertEqual(update.error_code, "30008")

    def test_extra_keeps_segments_and_the_service(self):
        self.assertEqual(self.parse("status_callback__sent.txt").extra["segments"], 2)
        accepted = self.parse("status_callback__accepted.txt")
        self.assertEqual(accepted.extra["MessagingServiceSid"], "MG" + "0" * 32)
        self.assertEqual(accepted.extra["AccountSid"], ACCOUNT_SID)

    def test_a_callback_carries_no_price_unless_twilio_adds_one(self):
        update = self.parse("status_callback__delivered.txt")
        self.assertEqual((update.price, update.currency), ("", ""))
        fields = dict(parse_qsl(payload("status_callback__delivered.txt").decode()))
        fields.update(Price="-0.04500", PriceUnit="usd")
        update = self.adapter.parse_status_callback(form_request(urlencode(fields).encode()))[0]
        self.assertEqual((update.price, update.currency), ("0.045", "USD"))

    def test_read_callback_keeps_the_channel_fields(self):
        update = self.parse("status_callback__read.txt")
        self.assertEqual(update.extra["EventType"], "READ")
        self.assertEqual(update.extra["ChannelPrefix"], "rcs")

    def test_inbound_only_statuses_are_no_status_updates(self):
        for name in ("received", "receiving"):
            with self.subTest(name=name):
                updates = self.adapter.parse_status_callback(form_request(payload(f"status_callback__{name}.txt")))
                self.assertEqual(updates, [])

    def test_an_inbound_message_is_no_status_update(self):
        self.assertEqual(self.adapter.parse_status_callback(form_request(payload("inbound__sms.txt"))), [])

    def test_the_raw_body_is_read_when_form_is_empty(self):
        body = payload("status_callback__sent.txt")
        request = WebhookRequest(
            method="POST", url=CALLBACK_URL, headers={"content-type": "application/x-www-form-urlencoded"}, body=body
        )
        self.assertEqual(self.adapter.parse_status_callback(request)[0].status, SENT)


class InboundTests(SimpleTestCase):
    def setUp(self):
        self.adapter = TwilioAdapter()

    def test_it_tells_inbound_from_status_callbacks(self):
        for name in ("inbound__sms.txt", "inbound__mms.txt", "status_callback__received.txt"):
            with self.subTest(name=name):
                self.assertTrue(is_inbound(form_request(payload(name))))
        for name in ("status_callback__delivered.txt", "status_callback__queued.txt"):
            with self.subTest(name=name):
                self.assertFalse(self.adapter.is_inbound(form_request(payload(name))))

    def test_an_inbound_sms_is_parsed(self):
        [message] = self.adapter.parse_inbound(form_request(payload("inbound__sms.txt")))
        self.assertEqual(message.provider_message_id, "SM" + "a" * 32)
        self.assertEqual(message.channel, "sms")
        self.assertEqual(message.from_number, "+966501234567")
        self.assertEqual(message.to_number, "+14155550100")
        self.assertEqual(message.body, "Hello, is my order on its way?")
        self.assertEqual(message.media, ())
        self.assertEqual(message.extra["FromCountry"], "SA")
        self.assertEqual(message.extra["NumSegments"], "1")

    def test_an_inbound_mms_lists_its_media(self):
        [message] = self.adapter.parse_inbound(form_request(payload("inbound__mms.txt")))
        self.assertEqual(message.provider_message_id, "MM" + "b" * 32)
        self.assertEqual([m.kind for m in message.media], ["image", "document"])
        self.assertEqual([m.content_type for m in message.media], ["image/jpeg", "application/pdf"])
        self.assertTrue(message.media[0].url.endswith("/Media/ME" + "1" * 32))

    def test_an_opt_out_keeps_the_opt_out_type(self):
        [message] = self.adapter.parse_inbound(form_request(payload("inbound__opt_out.txt")))
        self.assertEqual(message.body, "STOP")
        self.assertEqual(message.extra["OptOutType"], "STOP")

    def test_an_arabic_body_is_decoded(self):
        [message] = self.adapter.parse_inbound(form_request(payload("inbound__arabic.txt")))
        self.assertEqual(message.body, "شكرا، وصلت الطلبية")

    def test_a_status_callback_is_no_inbound_message(self):
        self.assertEqual(self.adapter.parse_inbound(form_request(payload("status_callback__delivered.txt"))), [])


class FetchPriceTests(SimpleTestCase):
    """The price arrives after the send: read from the Message resource (doc §2 "Fetch one message")."""

    def setUp(self):
        self.adapter = TwilioAdapter()
        self.account = account_config()
        self.url = f"{BASE}/Accounts/{ACCOUNT_SID}/Messages/{SID}.json"

    @responses.activate
    def test_it_reads_price_and_price_unit_of_the_message(self):
        responses.get(self.url, json=created(status="delivered", price="-0.05000", price_unit="EUR"))
        report = self.adapter.fetch_price(self.account, SID)
        self.assertEqual((report.price, report.currency, report.final), ("0.05", "EUR", True))
        self.assertTrue(responses.calls[0].request.headers["Authorization"].startswith("Basic "))

    @responses.activate
    def test_a_message_not_priced_yet_is_asked_again_later(self):
        responses.get(self.url, json=created(status="sent", price=None))
        report = self.adapter.fetch_price(self.account, SID)
        self.assertEqual((report.price, report.final), ("", False))

    @responses.activate
    def test_a_failed_message_is_never_priced(self):
        responses.get(self.url, json=created(status="failed", price=None))
        self.assertTrue(self.adapter.fetch_price(self.account, SID).final)

    @responses.activate
    def test_an_unknown_sid_is_a_permanent_error(self):
        responses.get(self.url, json=twilio_error(20404, 404, "not found"), status=404)
        with self.assertRaises(ProviderError) as caught:
            self.adapter.fetch_price(self.account, SID)
        self.assertTrue(caught.exception.permanent)
