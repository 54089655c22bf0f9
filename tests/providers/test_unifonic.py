"""The Unifonic adapter against HTTP answers shaped as shared/providers/unifonic.md documents them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs

import requests
import responses
from django.test import SimpleTestCase

from providers.base import (
    DELIVERED,
    FAILED,
    QUEUED,
    SENT,
    UNDELIVERED,
    AccountConfig,
    MediaRef,
    ProviderError,
    UnsupportedFeature,
    WebhookRequest,
    get_adapter,
)
from providers.unifonic import UnifonicAdapter
from tests import factories
from tests.providers.shared import TransportErrorChecks, UrlTokenVerifyTests, closed_port_url

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "unifonic"
BASE = "https://el.cloud.unifonic.com"
SEND_URL = BASE + "/rest/SMS/messages"
DETAILS_URL = BASE + "/rest/SMS/Messages/GetMessagesDetails"
OUR_ID = "8c1f0b7e-2f4a-4c55-9a0e-3b1d2f6a7c90"
CORRELATION = "8c1f0b7e2f4a4c559a0e3b1d2f6a7c90"
TOKEN = "test-webhook-token"
CALLBACK = f"https://jood.example/webhooks/unifonic/acc_test/?t={TOKEN}"


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


# This module's account and message, from the shared factories (tests/factories.py).
account_config = partial(
    factories.account_config,
    "unifonic",
    credentials={"app_sid": "test-app-sid"},
    sender="JoodCo",
    callback_url=CALLBACK,
    webhook_secret=TOKEN,
)
outbound_message = partial(
    factories.outbound_message, id=OUR_ID, body="Your code is 4821", status_callback_url=CALLBACK
)


def webhook(
    body: bytes,
    content_type: str = "application/json",
    url: str = CALLBACK,
    query: dict | None = None,
    form: dict | None = None,
) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={"content-type": content_type},
        body=body,
        query={"t": TOKEN} if query is None else query,
        form=form or {},
    )


def sent_form(call) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(call.request.body, keep_blank_values=True).items()}


class MockedHTTPTestCase(SimpleTestCase):
    def setUp(self):
        self.http = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.http.start()
        self.addCleanup(self.http.stop)
        self.addCleanup(self.http.reset)
        self.adapter = UnifonicAdapter()
        self.account = account_config()


class UnifonicSendRequestTests(MockedHTTPTestCase):
    def setUp(self):
        super().setUp()
        self.http.post(SEND_URL, body=payload("send__queued.json"), content_type="application/json")

    def test_it_posts_a_form_to_rest_sms_messages(self):
        self.adapter.send(self.account, outbound_message())

        request = self.http.calls[0].request
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.url, SEND_URL)
        self.assertEqual(request.headers["Content-Type"], "application/x-www-form-urlencoded")
        self.assertEqual(request.headers["Accept"], "application/json")
        self.assertNotIn("Authorization", request.headers)

    def test_it_sends_the_parameters_exactly_as_section_2_gives_them(self):
        self.adapter.send(self.account, outbound_message())

        self.assertEqual(
            sent_form(self.http.calls[0]),
            {
                "AppSid": "test-app-sid",
                "SenderID": "JoodCo",
                "Recipient": "966501234567",
                "Body": "Your code is 4821",
                "responseType": "JSON",
                "CorrelationID": CORRELATION,
                "statusCallback": CALLBACK,
            },
        )

    def test_it_keeps_the_app_sid_and_the_text_out_of_the_url(self):
        self.adapter.send(self.account, outbound_message())

        self.assertNotIn("?", self.http.calls[0].request.url)

    def test_it_sends_arabic_text_as_utf8(self):
        self.adapter.send(self.account, outbound_message(body="رمزك 4821"))

        self.assertEqual(sent_form(self.http.calls[0])["Body"], "رمزك 4821")

    def test_it_sends_the_recipient_as_digits_without_plus_or_00(self):
        for number in ("+966 50 123 4567", "00966501234567"):
            with self.subTest(number):
                self.http.calls.reset()
                self.adapter.send(self.account, outbound_message(to=number))

                self.assertEqual(sent_form(self.http.calls[0])["Recipient"], "966501234567")

    def test_the_sender_id_credential_is_the_last_default(self):
        account = account_config(sender="", credentials={"app_sid": "test-app-sid", "sender_id": "DefaultCo"})

        self.adapter.send(account, outbound_message())

        self.assertEqual(sent_form(self.http.calls[0])["SenderID"], "DefaultCo")

    def test_without_any_sender_the_app_default_applies(self):
        self.adapter.send(account_config(sender=""), outbound_message())

        self.assertNotIn("SenderID", sent_form(self.http.calls[0]))

    def test_without_a_callback_url_there_is_no_status_callback(self):
        self.adapter.send(account_config(callback_url=""), outbound_message(status_callback_url=""))

        self.assertNotIn("statusCallback", sent_form(self.http.calls[0]))

    def test_basic_auth_is_sent_only_when_both_parts_are_set(self):
        account = account_config(
            id="acc_basic", credentials={"app_sid": "test-app-sid", "username": "test-user", "password": "test-pass"}
        )

        self.adapter.send(account, outbound_message())

        self.assertTrue(self.http.calls[0].request.headers["Authorization"].startswith("Basic "))

    def test_api_base_url_overrides_the_default(self):
        self.http.post("http://127.0.0.1:9/rest/SMS/messages", body=payload("send__queued.json"))

        self.adapter.send(account_config(api_base_url="http://127.0.0.1:9"), outbound_message())

        self.assertEqual(self.http.calls[0].request.url, "http://127.0.0.1:9/rest/SMS/messages")


class UnifonicSendResultTests(MockedHTTPTestCase):
    def test_it_returns_the_message_id_as_a_string_with_units_and_status(self):
        self.http.post(SEND_URL, body=payload("send__queued.json"))

        result = self.adapter.send(self.account, outbound_message())

        self.assertEqual(result.provider_message_id, "3200017889310")
        self.assertEqual(result.status, QUEUED)
        self.assertEqual(result.raw_status, "Queued")
        self.assertEqual(result.segments, 1)
        self.assertEqual((result.price, result.currency), ("0.03", "SAR"))  # Cost, CurrencyCode (§2)

    def test_a_string_success_and_sent_status_are_understood(self):
        self.http.post(SEND_URL, body=payload("send__sent_string_success.json"))

        result = self.adapter.send(self.account, outbound_message())

        self.assertEqual(result.provider_message_id, "3200017889312")
        self.assertEqual(result.status, SENT)
        self.assertIsNone(result.segments)  # 0 units: not priced yet
        self.assertEqual(result.price, "")  # so its Cost is no price either

    def test_a_rejected_status_in_the_answer_is_permanent(self):
        self.http.post(SEND_URL, body=payload("send__rejected.json"))

        with self.assertRaises(ProviderError) as caught:
            self.adapter.send(self.account, outbound_message())

        self.assertTrue(caught.exception.permanent)
        self.assertEqual(caught.exception.code, "Rejected")


class UnifonicSendErrorTests(TransportErrorChecks, MockedHTTPTestCase):
    def send_error(self, **mock) -> ProviderError:
        if mock:
            self.http.post(SEND_URL, **mock)
        with self.assertRaises(ProviderError) as caught:
            self.adapter.send(self.account, outbound_message())
        return caught.exception

    def test_bad_credentials_are_permanent(self):
        for status in (401, 402, 403, 480):
            with self.subTest(status):
                self.http.reset()
                self.http.post(SEND_URL, status=status, body=payload("error__401_authentication_failed.json"))

                error = self.send_error()

                self.assertTrue(error.permanent)
                self.assertFalse(error.already_sent)
                self.assertEqual(error.code, str(status))

    def test_a_401_reads_the_provider_message(self):
        self.http.post(SEND_URL, status=401, body=payload("error__401_authentication_failed.json"))

        self.assertEqual(self.send_error().message, "unifonic: Authentication failed (ER-01)")

    def test_an_invalid_recipient_is_permanent(self):
        for status in (481, 482, 483, 410):
            with self.subTest(status):
                self.http.reset()
                self.http.post(SEND_URL, status=status, body=payload("error__482_invalid_destination.json"))

                error = self.send_error()

                self.assertTrue(error.permanent)
                self.assertEqual(error.code, str(status))

    def test_payload_errors_are_permanent_even_without_a_body(self):
        for status in (406, 412, 417, 419, 421, 422, 440, 449, 450, 456, 459, 460):
            with self.subTest(status):
                self.http.reset()
                self.http.post(SEND_URL, status=status, body="")

                error = self.send_error()

                self.assertTrue(error.permanent)
                self.assertEqual(error.http_status, status)

    def test_a_409_duplicate_is_already_sent(self):
        self.http.post(SEND_URL, status=409, body=payload("error__409_duplicate.json"))

        error = self.send_error()

        self.assertTrue(error.already_sent)
        self.assertEqual(error.code, "409")

    def test_a_duplicate_in_a_200_envelope_is_already_sent(self):
        self.http.post(SEND_URL, status=200, body=payload("error__200_duplicate.json"))

        self.assertTrue(self.send_error().already_sent)

    def test_a_failed_200_envelope_is_permanent_with_its_error_code(self):
        self.http.post(SEND_URL, status=200, body=payload("error__402_missing_appsid.json"))

        error = self.send_error()

        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "ER-02")

    def test_it_retries_on_429(self):
        self.http.post(SEND_URL, status=429, body=payload("error__429_too_many_requests.json"))

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "429")
        self.assertIsNone(error.retry_after)

    def test_it_honours_a_retry_after_on_429_should_one_come(self):
        self.http.post(SEND_URL, status=429, body="", headers={"Retry-After": "30"})

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.retry_after, 30.0)

    def test_it_retries_on_599(self):
        self.http.post(
            SEND_URL, status=599, body='{"success": false, "message": "Request failed", "errorCode": "ER-99"}'
        )

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "599")

    def test_it_retries_on_503(self):
        self.check_it_retries_on_503()

    def test_it_retries_on_a_timeout(self):
        self.check_it_retries_on_a_timeout()

    def test_a_malformed_answer_is_retryable(self):
        self.http.post(SEND_URL, status=200, body="<html>maintenance</html>")

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")

    def test_a_success_without_a_message_id_is_retryable(self):
        self.http.post(SEND_URL, status=200, json={"success": True, "errorCode": "ER-00", "data": {}})

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")

    def test_media_is_an_unsupported_feature(self):
        message = outbound_message(media=(MediaRef(kind="image", url="https://jood.example/m.png"),))

        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, message)

    def test_whatsapp_is_an_unsupported_feature(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(channel="whatsapp"))


class UnifonicConnectionRefusedTests(TransportErrorChecks, SimpleTestCase):
    def closed_port_account(self) -> AccountConfig:
        return account_config(id="acc_refused", api_base_url=closed_port_url())

    def test_it_retries_when_the_connection_is_refused(self):
        self.check_a_closed_port_is_retried(UnifonicAdapter(), self.closed_port_account(), outbound_message())

    def test_a_refused_connection_makes_check_credentials_unreachable(self):
        self.assertEqual(UnifonicAdapter().check_credentials(self.closed_port_account()).status, "unreachable")


class UnifonicCheckCredentialsTests(MockedHTTPTestCase):
    def test_a_success_envelope_means_ok(self):
        self.http.post(DETAILS_URL, body=payload("details__one_message.json"))

        result = self.adapter.check_credentials(self.account)

        self.assertTrue(result.ok)
        form = sent_form(self.http.calls[0])
        self.assertEqual(form["AppSid"], "test-app-sid")
        self.assertEqual(form["Limit"], "1")

    def test_a_401_means_bad_credentials(self):
        self.http.post(DETAILS_URL, status=401, body=payload("error__401_authentication_failed.json"))

        self.assertEqual(self.adapter.check_credentials(self.account).status, "bad_credentials")

    def test_an_authentication_failure_in_a_200_means_bad_credentials(self):
        self.http.post(DETAILS_URL, status=200, body=payload("error__401_authentication_failed.json"))

        self.assertEqual(self.adapter.check_credentials(self.account).status, "bad_credentials")

    def test_a_server_error_means_unreachable(self):
        self.http.post(DETAILS_URL, status=503, body="")

        self.assertEqual(self.adapter.check_credentials(self.account).status, "unreachable")

    def test_a_timeout_means_unreachable(self):
        self.http.post(DETAILS_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))

        self.assertEqual(self.adapter.check_credentials(self.account).status, "unreachable")


class UnifonicCredentialValidationTests(SimpleTestCase):
    def test_an_app_sid_alone_is_valid(self):
        self.assertEqual(UnifonicAdapter.validate_credentials({"app_sid": "test-app-sid"}), {})

    def test_all_optional_fields_are_accepted(self):
        credentials = {
            "app_sid": "test-app-sid",
            "sender_id": "JoodCo",
            "username": "test-user",
            "password": "test-pass",
            "timezone": "Asia/Riyadh",
        }

        self.assertEqual(UnifonicAdapter.validate_credentials(credentials), {})

    def test_the_app_sid_is_required(self):
        self.assertIn("app_sid", UnifonicAdapter.validate_credentials({}))

    def test_an_app_sid_with_spaces_is_refused(self):
        self.assertIn("app_sid", UnifonicAdapter.validate_credentials({"app_sid": "test app sid"}))

    def test_a_username_without_a_password_is_refused(self):
        errors = UnifonicAdapter.validate_credentials({"app_sid": "test-app-sid", "username": "test-user"})

        self.assertIn("password", errors)

    def test_an_unknown_time_zone_is_refused(self):
        errors = UnifonicAdapter.validate_credentials({"app_sid": "test-app-sid", "timezone": "Mars/Olympus"})

        self.assertIn("timezone", errors)

    def test_it_registers_as_unifonic_for_sms(self):
        adapter = get_adapter("unifonic")

        self.assertIsInstance(adapter, UnifonicAdapter)
        self.assertEqual(adapter.channels, ("sms",))
        self.assertTrue(adapter.callback_token_in_url)


class UnifonicVerifyTests(UrlTokenVerifyTests, SimpleTestCase):
    callback_url = CALLBACK
    token = TOKEN
    webhook = staticmethod(webhook)

    def setUp(self):
        self.adapter = UnifonicAdapter()
        self.account = account_config()
        self.body = payload("dlr__delivered.json")

    def test_an_account_without_a_secret_accepts_nothing(self):
        self.assertFalse(self.adapter.verify(webhook(self.body), account_config(webhook_secret="")))


class UnifonicStatusCallbackTests(SimpleTestCase):
    def setUp(self):
        self.adapter = UnifonicAdapter()

    def parse_one(self, name: str, **kwargs):
        updates = self.adapter.parse_status_callback(webhook(payload(name)), **kwargs)
        self.assertEqual(len(updates), 1)
        return updates[0]

    def test_delivered_maps_to_delivered(self):
        update = self.parse_one("dlr__delivered.json")

        self.assertEqual(update.status, DELIVERED)
        self.assertEqual(update.raw_status, "Delivered")
        self.assertEqual(update.provider_message_id, "3200017889310")
        self.assertEqual(update.our_message_id, OUR_ID)

    def test_undeliverable_maps_to_undelivered(self):
        self.assertEqual(self.parse_one("dlr__undeliverable.json").status, UNDELIVERED)

    def test_delivery_not_confirmed_stays_sent(self):
        self.assertEqual(self.parse_one("dlr__delivery_not_confirmed.json").status, SENT)

    def test_every_documented_status_maps_as_the_readme_says(self):
        expected = {
            "status_callback__queued.json": QUEUED,
            "status_callback__scheduled.json": QUEUED,
            "dlr__smpp_scheduled.json": QUEUED,
            "status_callback__sent.json": SENT,
            "dlr__smpp_enroute.json": SENT,
            "dlr__smpp_accepted.json": SENT,
            "dlr__pending.json": SENT,
            "dlr__delivery_not_confirmed.json": SENT,
            "dlr__delivered.json": DELIVERED,
            "dlr__smpp_delivered.json": DELIVERED,
            "dlr__undeliverable.json": UNDELIVERED,
            "dlr__smpp_undeliverable.json": UNDELIVERED,
            "dlr__undelivered.json": UNDELIVERED,
            "dlr__smpp_expired.json": UNDELIVERED,
            "dlr__smpp_deleted.json": UNDELIVERED,
            "status_callback__rejected.json": FAILED,
            "dlr__smpp_rejected.json": FAILED,
            "status_callback__failed.json": FAILED,
            "dlr__smpp_skipped.json": FAILED,
            "dlr__smpp_unknown.json": None,
        }
        for name, status in expected.items():
            with self.subTest(name):
                self.assertEqual(self.parse_one(name).status, status)

    def test_an_unknown_status_maps_to_none_and_keeps_the_raw_value(self):
        update = self.parse_one("dlr__unknown_value.json")

        self.assertIsNone(update.status)
        self.assertEqual(update.raw_status, "Teleported")

    def test_lower_case_keys_and_a_numeric_message_id_are_read(self):
        update = self.parse_one("status_callback__failed.json")

        self.assertEqual(update.provider_message_id, "3200017889310")
        self.assertEqual(update.our_message_id, OUR_ID)
        self.assertEqual(update.error_code, "ER-99")
        self.assertEqual(update.error_message, "Unifonic could not send the message")

    def test_a_form_body_is_parsed(self):
        request = webhook(payload("dlr__form_delivered.form"), content_type="application/x-www-form-urlencoded")

        update = self.adapter.parse_status_callback(request)[0]

        self.assertEqual(update.status, DELIVERED)
        self.assertEqual(update.provider_message_id, "3200017889310")
        self.assertEqual(update.dedup_key, "3200017889310:Delivered:2026-11-24 13:01:07")

    def test_a_form_already_parsed_by_the_view_is_used(self):
        body = payload("dlr__form_lowercase_undeliverable.form")
        form = {"messageId": "3200017889310", "status": "undeliverable", "scts": "2026-11-24 13:01:07"}
        request = webhook(body, content_type="application/x-www-form-urlencoded", form=form)

        update = self.adapter.parse_status_callback(request)[0]

        self.assertEqual(update.status, UNDELIVERED)
        self.assertEqual(update.raw_status, "undeliverable")

    def test_a_lower_case_form_body_carries_its_error(self):
        request = webhook(
            payload("dlr__form_lowercase_undeliverable.form"), content_type="application/x-www-form-urlencoded"
        )

        update = self.adapter.parse_status_callback(request)[0]

        self.assertEqual(update.status, UNDELIVERED)
        self.assertEqual(update.error_code, "ER-05")
        self.assertEqual(update.our_message_id, OUR_ID)

    def test_fields_in_the_query_string_are_read(self):
        url = f"{CALLBACK}&MessageID=3200017889310&DLR=Delivered&SCTS=2026-11-24+13:01:07"
        request = webhook(b"", content_type="", url=url, query={})

        update = self.adapter.parse_status_callback(request)[0]

        self.assertEqual(update.status, DELIVERED)

    def test_every_report_of_a_json_list_is_parsed(self):
        updates = self.adapter.parse_status_callback(webhook(payload("dlr__batch.json")))

        self.assertEqual([u.status for u in updates], [DELIVERED, UNDELIVERED])
        self.assertEqual([u.provider_message_id for u in updates], ["3200017889310", "3200017889311"])

    def test_scts_is_read_as_utc_by_default(self):
        update = self.parse_one("dlr__delivered.json")

        self.assertEqual(update.occurred_at, datetime(2026, 11, 24, 13, 1, 7, tzinfo=UTC))

    def test_scts_is_read_in_the_account_time_zone(self):
        account = account_config(credentials={"app_sid": "test-app-sid", "timezone": "Asia/Riyadh"})

        update = self.parse_one("dlr__delivered.json", account=account)

        self.assertEqual(update.occurred_at, datetime(2026, 11, 24, 10, 1, 7, tzinfo=UTC))

    def test_the_settings_time_zone_wins_over_the_credential(self):
        account = account_config(
            credentials={"app_sid": "test-app-sid", "timezone": "Asia/Riyadh"}, settings={"timezone": "Asia/Dubai"}
        )

        update = self.parse_one("dlr__delivered.json", account=account)

        self.assertEqual(update.occurred_at, datetime(2026, 11, 24, 9, 1, 7, tzinfo=UTC))

    def test_the_dedup_key_is_message_id_status_and_scts(self):
        self.assertEqual(self.parse_one("dlr__delivered.json").dedup_key, "3200017889310:Delivered:2026-11-24 13:01:07")

    def test_a_correlation_id_that_is_not_our_uuid_is_not_taken_for_ours(self):
        # §4's constructed example carries a 16-digit CorrelationID.
        update = self.parse_one("dlr__doc_example.json")

        self.assertEqual(update.status, DELIVERED)
        self.assertEqual(update.our_message_id, "")

    def test_a_report_with_only_our_id_is_kept(self):
        body = json.dumps({"CorrelationID": CORRELATION, "Status": "Sent"}).encode()

        update = self.adapter.parse_status_callback(webhook(body))[0]

        self.assertEqual(update.provider_message_id, "")
        self.assertEqual(update.our_message_id, OUR_ID)

    def test_a_report_that_names_no_message_is_dropped(self):
        self.assertEqual(self.adapter.parse_status_callback(webhook(b'{"DLR": "Delivered"}')), [])

    def test_a_broken_json_body_raises(self):
        with self.assertRaisesRegex(ValueError, "delivery report is not valid JSON"):
            self.adapter.parse_status_callback(webhook(b'{"MessageID": '))
