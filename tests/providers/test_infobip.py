"""The Infobip adapter against HTTP answers shaped as shared/providers/infobip.md documents them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import requests
import responses
from django.test import SimpleTestCase, override_settings

from providers.base import (
    DELIVERED,
    FAILED,
    QUEUED,
    SENT,
    UNDELIVERED,
    MediaRef,
    ProviderError,
    TemplateRef,
    UnsupportedFeature,
    WebhookRequest,
    get_adapter,
)
from providers.infobip import InfobipAdapter
from tests import factories
from tests.providers.shared import TransportErrorChecks, UrlTokenVerifyTests, closed_port_url

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads" / "infobip"
BASE = "https://test1.api.infobip.com"
SEND_URL = BASE + "/sms/3/messages"
BALANCE_URL = BASE + "/account/1/balance"
LOGS_URL = BASE + "/sms/3/logs"
OUR_ID = "8c1f0b7e-2f4a-4c55-9a0e-3b1d2f6a7c90"
TOKEN = "test-webhook-token"
CALLBACK = f"https://jood.example/webhooks/infobip/acc_test/?t={TOKEN}"


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def payload_json(name: str) -> dict:
    return json.loads(payload(name))


# This module's account and message, from the shared factories (tests/factories.py).
account_config = partial(
    factories.account_config,
    "infobip",
    credentials={"api_key": "test-api-key", "base_url": BASE},
    sender="JoodCo",
    callback_url=CALLBACK,
    webhook_secret=TOKEN,
)
outbound_message = partial(
    factories.outbound_message, id=OUR_ID, body="Your code is 4821", status_callback_url=CALLBACK
)


def rejected_answer(sid: int, name: str, description: str = "Rejected") -> dict:
    return {
        "bulkId": "2034072219640523072",
        "messages": [
            {
                "messageId": OUR_ID,
                "status": {"groupId": 5, "groupName": "REJECTED", "id": sid, "name": name, "description": description},
                "destination": "966501234567",
                "details": {"messageCount": 1},
            }
        ],
    }


def webhook(body: bytes, url: str = CALLBACK, query: dict | None = None, headers: dict | None = None) -> WebhookRequest:
    return WebhookRequest(
        method="POST",
        url=url,
        headers={"content-type": "application/json", **(headers or {})},
        body=body,
        query={"t": TOKEN} if query is None else query,
    )


class MockedHTTPTestCase(SimpleTestCase):
    def setUp(self):
        self.http = responses.RequestsMock(assert_all_requests_are_fired=False)
        self.http.start()
        self.addCleanup(self.http.stop)
        self.addCleanup(self.http.reset)
        self.adapter = InfobipAdapter()
        self.account = account_config()

    def sent_json(self, index: int = 0) -> dict:
        return json.loads(self.http.calls[index].request.body)


class InfobipSendRequestTests(MockedHTTPTestCase):
    def setUp(self):
        super().setUp()
        self.http.post(SEND_URL, body=payload("send__pending_accepted.json"), content_type="application/json")

    def test_it_posts_json_to_sms_3_messages_with_the_app_key(self):
        self.adapter.send(self.account, outbound_message())

        request = self.http.calls[0].request
        self.assertEqual(request.method, "POST")
        self.assertEqual(request.url, SEND_URL)
        self.assertEqual(request.headers["Authorization"], "App test-api-key")
        self.assertEqual(request.headers["Content-Type"], "application/json")
        self.assertEqual(request.headers["Accept"], "application/json")

    def test_it_sends_the_body_exactly_as_section_2a_gives_it(self):
        self.adapter.send(self.account, outbound_message())

        self.assertEqual(
            self.sent_json(),
            {
                "messages": [
                    {
                        "sender": "JoodCo",
                        "destinations": [{"to": "966501234567", "messageId": OUR_ID}],
                        "content": {"text": "Your code is 4821"},
                        "webhooks": {
                            "delivery": {"url": CALLBACK, "intermediateReport": True},
                            "contentType": "application/json",
                            "callbackData": OUR_ID,
                        },
                    }
                ],
                "options": {"includeSmsCountInResponse": True},
            },
        )

    def test_it_sends_the_recipient_as_digits_without_plus(self):
        self.adapter.send(self.account, outbound_message(to="+966 50 123 4567"))

        self.assertEqual(self.sent_json()["messages"][0]["destinations"][0]["to"], "966501234567")

    def test_the_message_sender_wins_over_the_account_sender(self):
        self.adapter.send(self.account, outbound_message(sender="OtherCo"))

        self.assertEqual(self.sent_json()["messages"][0]["sender"], "OtherCo")

    def test_it_leaves_the_sender_out_when_none_is_set(self):
        self.adapter.send(account_config(sender=""), outbound_message())

        self.assertNotIn("sender", self.sent_json()["messages"][0])

    def test_it_falls_back_to_the_account_callback_url(self):
        self.adapter.send(self.account, outbound_message(status_callback_url=""))

        self.assertEqual(self.sent_json()["messages"][0]["webhooks"]["delivery"]["url"], CALLBACK)

    def test_without_a_callback_url_it_still_echoes_our_id_in_callback_data(self):
        self.adapter.send(account_config(callback_url=""), outbound_message(status_callback_url=""))

        webhooks = self.sent_json()["messages"][0]["webhooks"]
        self.assertNotIn("delivery", webhooks)
        self.assertEqual(webhooks["callbackData"], OUR_ID)

    def test_intermediate_reports_can_be_turned_off_in_settings(self):
        self.adapter.send(account_config(settings={"intermediate_reports": False}), outbound_message())

        self.assertIs(self.sent_json()["messages"][0]["webhooks"]["delivery"]["intermediateReport"], False)

    def test_a_validity_setting_becomes_a_validity_period_in_minutes(self):
        self.adapter.send(account_config(settings={"validity_minutes": 10}), outbound_message())

        self.assertEqual(
            self.sent_json()["messages"][0]["options"], {"validityPeriod": {"amount": 10, "timeUnit": "MINUTES"}}
        )

    def test_api_base_url_overrides_the_base_url_credential(self):
        self.http.post("https://regional.example.test/sms/3/messages", body=payload("send__pending_accepted.json"))

        self.adapter.send(account_config(api_base_url="https://regional.example.test/"), outbound_message())

        self.assertEqual(self.http.calls[0].request.url, "https://regional.example.test/sms/3/messages")


class InfobipSendResultTests(MockedHTTPTestCase):
    def test_it_returns_the_message_id_status_and_segments(self):
        self.http.post(SEND_URL, body=payload("send__pending_accepted.json"))

        result = self.adapter.send(self.account, outbound_message())

        self.assertEqual(result.provider_message_id, OUR_ID)
        self.assertEqual(result.status, QUEUED)
        self.assertEqual(result.raw_status, "PENDING_ACCEPTED")
        self.assertEqual(result.segments, 1)

    def test_it_reads_the_v2_sms_count(self):
        self.http.post(SEND_URL, body=payload("send__v2_pending_accepted.json"))

        self.assertEqual(self.adapter.send(self.account, outbound_message()).segments, 3)

    def test_a_pending_enroute_send_answer_maps_to_sent(self):
        answer = payload_json("send__pending_accepted.json")
        answer["messages"][0]["status"] = {"groupId": 1, "groupName": "PENDING", "id": 7, "name": "PENDING_ENROUTE"}
        self.http.post(SEND_URL, json=answer)

        self.assertEqual(self.adapter.send(self.account, outbound_message()).status, SENT)


class InfobipSendErrorTests(TransportErrorChecks, MockedHTTPTestCase):
    def send_error(self, **mock) -> ProviderError:
        if mock:
            self.http.post(SEND_URL, **mock)
        with self.assertRaises(ProviderError) as caught:
            self.adapter.send(self.account, outbound_message())
        return caught.exception

    def test_a_400_with_violations_is_permanent_and_names_them(self):
        self.http.post(SEND_URL, status=400, body=payload("error__e400_violations.json"))

        error = self.send_error()

        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "E400")
        self.assertEqual(error.http_status, 400)
        self.assertIn("messages[0].destinations[0].to: must not be blank", error.message)

    def test_a_legacy_400_service_exception_is_permanent(self):
        self.http.post(SEND_URL, status=400, body=payload("error__legacy_bad_request.json"))

        error = self.send_error()

        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "BAD_REQUEST")
        self.assertIn("messages[0].destinations: must not be empty", error.message)

    def test_a_401_is_a_permanent_credentials_error(self):
        self.http.post(SEND_URL, status=401, body=payload("error__legacy_unauthorized.json"))

        error = self.send_error()

        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "UNAUTHORIZED")
        self.assertFalse(error.already_sent)

    def test_a_403_for_a_key_without_the_sms_scope_is_permanent(self):
        self.http.post(SEND_URL, status=403, body=payload("error__e403_insufficient_scopes.json"))

        error = self.send_error()

        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "E403")

    def test_a_401_without_a_body_is_still_permanent(self):
        self.http.post(SEND_URL, status=401, body="")

        error = self.send_error()

        self.assertTrue(error.permanent)
        self.assertEqual(error.code, "401")

    def test_it_retries_on_429_honouring_retry_after(self):
        self.http.post(
            SEND_URL, status=429, body=payload("error__legacy_too_many_requests.json"), headers={"Retry-After": "17"}
        )

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "TOO_MANY_REQUESTS")
        self.assertEqual(error.retry_after, 17.0)

    def test_it_retries_on_429_without_a_body(self):
        self.http.post(SEND_URL, status=429, body="", headers={"Retry-After": "5"})

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "429")
        self.assertEqual(error.retry_after, 5.0)

    def test_it_retries_on_503(self):
        self.check_it_retries_on_503()

    def test_it_retries_on_500_with_the_provider_code(self):
        self.http.post(SEND_URL, status=500, body=payload("error__e500.json"))

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "E500")

    def test_it_retries_on_a_timeout(self):
        self.check_it_retries_on_a_timeout()

    def test_it_retries_on_a_connection_error(self):
        self.check_it_retries_on_a_refused_connection()

    def test_a_malformed_answer_is_retryable(self):
        self.http.post(SEND_URL, status=200, body="<html>gateway</html>")

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")

    def test_an_answer_without_messages_is_retryable(self):
        self.http.post(SEND_URL, status=200, json={"bulkId": "2034072219640523072", "messages": []})

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertEqual(error.code, "malformed_response")

    def test_a_redirect_is_a_permanent_configuration_error(self):
        self.http.post(SEND_URL, status=301, headers={"Location": "https://elsewhere.example.test/"})

        error = self.send_error()

        self.assertTrue(error.permanent)
        self.assertIn("base URL", error.message)

    def test_a_duplicate_message_id_is_already_sent(self):
        self.http.post(SEND_URL, json=rejected_answer(23, "REJECTED_DUPLICATE_MESSAGE_ID"))

        error = self.send_error()

        self.assertTrue(error.already_sent)
        self.assertEqual(error.code, "REJECTED_DUPLICATE_MESSAGE_ID")

    def test_rejected_system_error_is_retryable(self):
        self.http.post(SEND_URL, json=rejected_answer(21, "REJECTED_SYSTEM_ERROR", "System error"))

        error = self.send_error()

        self.assertFalse(error.permanent)
        self.assertFalse(error.already_sent)
        self.assertEqual(error.code, "REJECTED_SYSTEM_ERROR")

    def test_every_other_rejection_in_the_send_answer_is_permanent(self):
        rejections = {
            6: "REJECTED_NETWORK",
            8: "REJECTED_PREFIX_MISSING",
            10: "REJECTED_DND",
            11: "REJECTED_SOURCE",
            12: "REJECTED_NOT_ENOUGH_CREDITS",
            13: "REJECTED_SENDER",
            14: "REJECTED_DESTINATION_BLOCKLISTED",
            17: "REJECTED_PREPAID_PACKAGE_EXPIRED",
            18: "REJECTED_DESTINATION_NOT_REGISTERED",
            19: "REJECTED_ROUTE_NOT_AVAILABLE",
            20: "REJECTED_FLOODING_FILTER",
            24: "REJECTED_INVALID_UDH",
            25: "REJECTED_MESSAGE_TOO_LONG",
            51: "MISSING_TO",
            52: "REJECTED_DESTINATION",
            87: "SIGNALS_BLOCKED",
        }
        for sid, name in rejections.items():
            with self.subTest(name):
                self.http.reset()
                self.http.post(SEND_URL, json=rejected_answer(sid, name, "Refused for a test"))

                error = self.send_error()

                self.assertTrue(error.permanent)
                self.assertFalse(error.already_sent)
                self.assertEqual(error.code, name)
                self.assertEqual(error.message, "infobip: Refused for a test")
                # A do-not-disturb or blocklisted number is an opt-out (dispatch records one).
                self.assertEqual(error.kind, "opted_out" if sid in (10, 14) else "")

    def test_it_refuses_a_base_url_credential_that_is_not_infobip_without_sending(self):
        account = account_config(credentials={"api_key": "test-api-key", "base_url": "https://attacker.example.test"})

        with self.assertRaises(ProviderError) as caught:
            self.adapter.send(account, outbound_message())

        self.assertTrue(caught.exception.permanent)
        self.assertEqual(caught.exception.code, "bad_base_url")
        self.assertEqual(len(self.http.calls), 0)

    def test_media_is_an_unsupported_feature(self):
        message = outbound_message(media=(MediaRef(kind="image", url="https://jood.example/m.png"),))

        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, message)

    def test_a_template_is_an_unsupported_feature(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(template=TemplateRef(name="otp", language="en")))

    def test_whatsapp_is_an_unsupported_feature(self):
        with self.assertRaises(UnsupportedFeature):
            self.adapter.send(self.account, outbound_message(channel="whatsapp"))


class InfobipConnectionRefusedTests(TransportErrorChecks, SimpleTestCase):
    def test_it_retries_when_the_connection_is_refused(self):
        account = account_config(id="acc_refused", api_base_url=closed_port_url())

        self.check_a_closed_port_is_retried(InfobipAdapter(), account, outbound_message())

    @override_settings(OUTBOUND_ALLOW_PRIVATE=True)  # the closed port is on 127.0.0.1
    def test_an_unreachable_host_makes_check_credentials_unreachable(self):
        account = account_config(id="acc_refused", api_base_url=closed_port_url())

        self.assertEqual(InfobipAdapter().check_credentials(account).status, "unreachable")


class InfobipCheckCredentialsTests(MockedHTTPTestCase):
    def test_a_balance_answer_means_ok(self):
        self.http.get(BALANCE_URL, body=payload("balance__ok.json"))

        result = self.adapter.check_credentials(self.account)

        self.assertTrue(result.ok)
        self.assertEqual(result.detail, "Balance: 47.79 EUR")
        self.assertEqual(self.http.calls[0].request.headers["Authorization"], "App test-api-key")

    def test_a_401_means_bad_credentials(self):
        self.http.get(BALANCE_URL, status=401, body=payload("error__legacy_unauthorized.json"))

        self.assertEqual(self.adapter.check_credentials(self.account).status, "bad_credentials")

    def test_a_key_without_balance_scope_is_checked_on_the_sms_logs(self):
        self.http.get(BALANCE_URL, status=403, body=payload("error__e403_insufficient_scopes.json"))
        self.http.get(LOGS_URL, json={"results": []})

        result = self.adapter.check_credentials(self.account)

        self.assertTrue(result.ok)
        self.assertEqual(self.http.calls[1].request.url, LOGS_URL + "?limit=1")

    def test_a_key_without_sms_scope_means_bad_credentials(self):
        self.http.get(BALANCE_URL, status=403, body=payload("error__e403_insufficient_scopes.json"))
        self.http.get(LOGS_URL, status=403, body=payload("error__e403_insufficient_scopes.json"))

        self.assertEqual(self.adapter.check_credentials(self.account).status, "bad_credentials")

    def test_a_server_error_means_unreachable(self):
        self.http.get(BALANCE_URL, status=503)

        self.assertEqual(self.adapter.check_credentials(self.account).status, "unreachable")

    def test_a_timeout_means_unreachable(self):
        self.http.get(BALANCE_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))

        self.assertEqual(self.adapter.check_credentials(self.account).status, "unreachable")

    def test_a_malformed_base_url_means_bad_credentials(self):
        account = account_config(credentials={"api_key": "test-api-key", "base_url": "http://test1.api.infobip.com"})

        self.assertEqual(self.adapter.check_credentials(account).status, "bad_credentials")
        self.assertEqual(len(self.http.calls), 0)


class InfobipCredentialValidationTests(SimpleTestCase):
    def test_an_api_key_and_an_infobip_base_url_are_valid(self):
        for base in (BASE, BASE + "/", "https://abc-12.api.infobip.com"):
            with self.subTest(base):
                self.assertEqual(InfobipAdapter.validate_credentials({"api_key": "test-api-key", "base_url": base}), {})

    def test_both_fields_are_required(self):
        errors = InfobipAdapter.validate_credentials({})

        self.assertEqual(set(errors), {"api_key", "base_url"})

    def test_an_unknown_field_is_refused(self):
        errors = InfobipAdapter.validate_credentials({"api_key": "test-api-key", "base_url": BASE, "password": "x"})

        self.assertIn("password", errors)

    def test_a_base_url_must_be_https_on_an_infobip_host(self):
        for base in (
            "http://test1.api.infobip.com",
            "test1.api.infobip.com",
            "https://api.infobip.com",
            "https://test1.api.infobip.com.attacker.example",
            "https://attacker.example/test1.api.infobip.com",
            "https://test1.api.infobip.com/sms/3/messages",
            "https://user:pass@test1.api.infobip.com",
            "https://test1.api.infobip.com:8443",
            "https://test1.api.infobip.com?x=1",
        ):
            with self.subTest(base):
                errors = InfobipAdapter.validate_credentials({"api_key": "test-api-key", "base_url": base})
                self.assertIn("base_url", errors)

    def test_an_api_key_pasted_with_the_app_prefix_is_refused(self):
        errors = InfobipAdapter.validate_credentials({"api_key": "App test-api-key", "base_url": BASE})

        self.assertIn("api_key", errors)

    def test_it_registers_as_infobip_for_sms(self):
        adapter = get_adapter("infobip")

        self.assertIsInstance(adapter, InfobipAdapter)
        self.assertEqual(adapter.channels, ("sms",))
        self.assertTrue(adapter.callback_token_in_url)


class InfobipVerifyTests(UrlTokenVerifyTests, SimpleTestCase):
    callback_url = CALLBACK
    token = TOKEN
    webhook = staticmethod(webhook)

    def setUp(self):
        self.adapter = InfobipAdapter()
        self.account = account_config()
        self.body = payload("delivery_report__delivered_to_handset.json")

    def test_an_account_without_a_secret_accepts_nothing(self):
        request = webhook(self.body, url="https://jood.example/webhooks/infobip/acc_test/?t=", query={"t": ""})

        self.assertFalse(self.adapter.verify(request, account_config(webhook_secret="")))

    def test_the_token_as_a_basic_auth_password_is_accepted(self):
        header = "Basic " + base64.b64encode(f"jood:{TOKEN}".encode()).decode()
        request = webhook(
            self.body,
            url="https://jood.example/webhooks/infobip/acc_test/",
            query={},
            headers={"authorization": header},
        )

        self.assertTrue(self.adapter.verify(request, self.account))

    def test_a_wrong_basic_auth_password_is_rejected(self):
        header = "Basic " + base64.b64encode(b"jood:wrong").decode()
        request = webhook(
            self.body,
            url="https://jood.example/webhooks/infobip/acc_test/",
            query={},
            headers={"authorization": header},
        )

        self.assertFalse(self.adapter.verify(request, self.account))


class InfobipStatusCallbackTests(SimpleTestCase):
    def setUp(self):
        self.adapter = InfobipAdapter()

    def parse_one(self, name: str):
        updates = self.adapter.parse_status_callback(webhook(payload(name)))
        self.assertEqual(len(updates), 1)
        return updates[0]

    def test_delivered_to_handset_maps_to_delivered(self):
        update = self.parse_one("delivery_report__delivered_to_handset.json")

        self.assertEqual(update.status, DELIVERED)
        self.assertEqual(update.raw_status, "DELIVERED_TO_HANDSET")
        self.assertEqual(update.error_code, "")

    def test_delivered_to_operator_maps_to_sent(self):
        self.assertEqual(self.parse_one("delivery_report__delivered_to_operator.json").status, SENT)

    def test_pending_accepted_maps_to_queued(self):
        self.assertEqual(self.parse_one("delivery_report__pending_accepted.json").status, QUEUED)

    def test_undeliverable_not_delivered_maps_to_undelivered_with_the_handset_error(self):
        update = self.parse_one("delivery_report__undeliverable_not_delivered.json")

        self.assertEqual(update.status, UNDELIVERED)
        self.assertEqual(update.error_code, "EC_ABSENT_SUBSCRIBER")
        self.assertEqual(update.error_message, "Absent subscriber")
        self.assertIs(update.extra["error_permanent"], False)

    def test_a_rejection_without_an_error_takes_the_status_as_error(self):
        update = self.parse_one("delivery_report__rejected_dnd.json")

        self.assertEqual(update.status, FAILED)
        self.assertEqual(update.error_code, "REJECTED_DND")
        self.assertEqual(update.error_message, "Destination on DND list")

    def test_a_duplicate_message_id_report_does_not_move_the_message(self):
        # It reports a repeated submission, not the message Infobip already has.
        self.assertIsNone(self.parse_one("delivery_report__rejected_duplicate_message_id.json").status)

    def test_every_documented_status_maps_as_the_readme_says(self):
        expected = {
            "accepted_group": QUEUED,
            "pending_accepted": QUEUED,
            "pending_enroute": SENT,
            "pending_waiting_delivery": SENT,
            "delivered_to_operator": SENT,
            "delivered_to_handset": DELIVERED,
            "undeliverable_rejected_operator": UNDELIVERED,
            "undeliverable_not_delivered": UNDELIVERED,
            "undeliverable_not_sent": UNDELIVERED,
            "expired_expired": UNDELIVERED,
            "expired_dlr_unknown": UNDELIVERED,
            "signals_blocked_expired_group": UNDELIVERED,
            "signals_blocked_rejected_group": FAILED,
            "rejected_network": FAILED,
            "rejected_prefix_missing": FAILED,
            "rejected_dnd": FAILED,
            "rejected_source": FAILED,
            "rejected_not_enough_credits": FAILED,
            "rejected_sender": FAILED,
            "rejected_destination_blocklisted": FAILED,
            "rejected_prepaid_package_expired": FAILED,
            "rejected_destination_not_registered": FAILED,
            "rejected_route_not_available": FAILED,
            "rejected_flooding_filter": FAILED,
            "rejected_system_error": FAILED,
            "rejected_duplicate_message_id": None,
            "rejected_invalid_udh": FAILED,
            "rejected_message_too_long": FAILED,
            "missing_to": FAILED,
            "rejected_destination": FAILED,
            "unknown_status": None,
        }
        files = {path.name.removeprefix("delivery_report__").removesuffix(".json") for path in PAYLOADS.iterdir()}
        self.assertLessEqual(set(expected), files)
        for variant, status in expected.items():
            with self.subTest(variant):
                self.assertEqual(self.parse_one(f"delivery_report__{variant}.json").status, status)

    def test_an_unknown_status_maps_to_none_and_keeps_the_raw_value(self):
        update = self.parse_one("delivery_report__unknown_status.json")

        self.assertIsNone(update.status)
        self.assertEqual(update.raw_status, "SOMETHING_NEW_STATUS")

    def test_done_at_becomes_occurred_at(self):
        update = self.parse_one("delivery_report__delivered_to_handset.json")

        self.assertEqual(update.occurred_at, datetime(2026, 11, 24, 10, 1, 9, tzinfo=UTC))

    def test_the_dedup_key_is_message_id_status_id_and_done_at(self):
        update = self.parse_one("delivery_report__delivered_to_handset.json")

        self.assertEqual(update.dedup_key, f"{OUR_ID}:5:2026-11-24T10:01:09.000+0000")

    def test_our_message_id_comes_from_callback_data(self):
        update = self.parse_one("delivery_report__delivered_to_handset.json")

        self.assertEqual(update.provider_message_id, OUR_ID)
        self.assertEqual(update.our_message_id, OUR_ID)

    def test_our_message_id_comes_from_message_id_when_callback_data_is_not_ours(self):
        # §4's example carries callbackData "msg=8c1f0b7e"; the messageId is still ours.
        update = self.parse_one("delivery_report__doc_example.json")

        self.assertEqual(update.our_message_id, OUR_ID)
        self.assertEqual(update.status, UNDELIVERED)

    def test_a_provider_generated_message_id_is_not_taken_for_ours(self):
        body = payload_json("delivery_report__doc_example.json")
        body["results"][0]["messageId"] = "2250be2d4219-3af1-78856-aabe-1362af1edfd2"

        update = self.adapter.parse_status_callback(webhook(json.dumps(body).encode()))[0]

        self.assertEqual(update.provider_message_id, "2250be2d4219-3af1-78856-aabe-1362af1edfd2")
        self.assertEqual(update.our_message_id, "")

    def test_extra_carries_price_segments_and_mcc_mnc(self):
        update = self.parse_one("delivery_report__delivered_to_handset.json")

        self.assertEqual(
            update.extra,
            {"price": "0.03", "currency": "EUR", "segments": 1, "mcc_mnc": "42001", "bulk_id": "2034072219640523072"}
            | {"error_permanent": False},
        )

    def test_the_report_prices_the_message(self):
        update = self.parse_one("delivery_report__delivered_to_handset.json")
        self.assertEqual((update.price, update.currency), ("0.03", "EUR"))

    def test_a_long_message_costs_the_price_of_each_sms(self):
        body = payload_json("delivery_report__delivered_to_handset.json")
        body["results"][0]["messageCount"] = 3
        body["results"][0]["price"] = {"pricePerMessage": 0.025, "currency": "EUR"}
        update = self.adapter.parse_status_callback(webhook(json.dumps(body).encode()))[0]
        self.assertEqual((update.price, update.currency), ("0.075", "EUR"))

    def test_a_report_without_price_has_none(self):
        body = payload_json("delivery_report__delivered_to_handset.json")
        del body["results"][0]["price"]
        update = self.adapter.parse_status_callback(webhook(json.dumps(body).encode()))[0]
        self.assertEqual((update.price, update.currency), ("", ""))

    def test_a_v2_report_reads_sms_count(self):
        update = self.parse_one("delivery_report__v2_delivered_to_handset.json")

        self.assertEqual(update.status, DELIVERED)
        self.assertEqual(update.extra["segments"], 2)

    def test_every_result_of_a_batch_is_parsed(self):
        updates = self.adapter.parse_status_callback(webhook(payload("delivery_report__batch.json")))

        self.assertEqual([u.status for u in updates], [DELIVERED, UNDELIVERED, SENT])
        self.assertEqual(len({u.dedup_key for u in updates}), 3)

    def test_a_body_that_is_not_json_raises(self):
        with self.assertRaisesRegex(ValueError, "delivery report is not JSON"):
            self.adapter.parse_status_callback(webhook(b"<DeliveryReports/>"))

    def test_a_body_without_results_raises(self):
        with self.assertRaisesRegex(ValueError, r"delivery report has no results\[\]"):
            self.adapter.parse_status_callback(webhook(b'{"messages": []}'))
