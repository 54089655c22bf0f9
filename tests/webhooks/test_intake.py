"""Intake and processing: routing, ordering, repeats, late matches, inbound keywords, failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from messaging.models import (
    ConversationWindow,
    InboundMessage,
    Message,
    MessageEvent,
    OptOut,
    PendingStatusUpdate,
)
from messaging.status import apply_pending_updates
from providers.models import ProviderAccount
from tests.factories import make_message
from tests.webhooks.conftest import (
    PUBLIC_BASE_URL,
    TWILIO_AUTH_TOKEN,
    WHATSAPP_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN,
)
from webhooks import services, tasks
from webhooks.models import WebhookEvent


def twilio_post(client, account, params: dict):
    path = f"/webhooks/twilio/{account.public_id}/"
    signed = PUBLIC_BASE_URL + path + "".join(name + params[name] for name in sorted(params))
    signature = base64.b64encode(hmac.new(TWILIO_AUTH_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()).decode()
    return client.post(
        path,
        urlencode(params),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


def twilio_status(sid: str, status: str, **extra) -> dict:
    return {
        "AccountSid": "AC" + "a" * 32,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": "+14155550100",
        "To": "+966501234567",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def twilio_inbound(sid: str, body: str, sender: str = "+966501234567") -> dict:
    return {
        "AccountSid": "AC" + "a" * 32,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "From": sender,
        "To": "+14155550100",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }


def whatsapp_post(client, account, value: dict):
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102030405060", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()
    signature = "sha256=" + hmac.new(WHATSAPP_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        f"/webhooks/whatsapp/{account.public_id}/",
        body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
    )


def whatsapp_text(wamid: str, text: str, sender: str = "966501234567", timestamp: int | None = None) -> dict:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "966920000000", "phone_number_id": "109876543210"},
        "contacts": [{"profile": {"name": "Sara"}, "wa_id": sender}],
        "messages": [
            {
                "from": sender,
                "id": wamid,
                "timestamp": str(timestamp or int(time.time())),
                "type": "text",
                "text": {"body": text},
            }
        ],
    }


def sandbox_post(client, account, payload: dict | bytes):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(account.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        f"/webhooks/sandbox/{account.public_id}/",
        body,
        content_type="application/json",
        headers={"X-Sandbox-Signature": signature},
    )


# --- routing -----------------------------------------------------------------------
def test_an_unknown_account_is_404(client, db):
    response = client.post(
        "/webhooks/sandbox/5f0e8c1d-2b3a-49d8-a7e6-f5c4b3a29180/", b"{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_unknown_provider_is_404(client, sandbox_account):
    response = client.post(f"/webhooks/nexmo/{sandbox_account.public_id}/", b"{}", content_type="application/json")
    assert response.status_code == 404


def test_an_account_under_another_providers_url_is_404(client, sandbox_account):
    response = client.post(f"/webhooks/twilio/{sandbox_account.public_id}/", b"{}", content_type="application/json")
    assert response.status_code == 404
    assert not WebhookEvent.objects.exists()


def test_a_refused_request_is_logged_without_the_secret(client, sandbox_account, caplog):
    with caplog.at_level(logging.WARNING, logger="webhooks.services"):
        response = client.post(
            f"/webhooks/sandbox/{sandbox_account.public_id}/",
            b"{}",
            content_type="application/json",
            headers={"X-Sandbox-Signature": "sha256=00"},
        )
    assert response.status_code == 403
    assert "webhook refused" in caplog.text
    assert sandbox_account.webhook_secret not in caplog.text


# --- Meta's handshake ----------------------------------------------------------------
def test_the_meta_handshake_echoes_the_challenge(client, whatsapp_account):
    response = client.get(
        f"/webhooks/whatsapp/{whatsapp_account.public_id}/",
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": WHATSAPP_VERIFY_TOKEN},
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


def test_the_meta_handshake_with_a_wrong_token_is_403(client, whatsapp_account):
    response = client.get(
        f"/webhooks/whatsapp/{whatsapp_account.public_id}/",
        {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "guess"},
    )
    assert response.status_code == 403
    assert b"1158201444" not in response.content


def test_a_get_to_a_provider_without_handshake_is_405(client, sandbox_account):
    assert client.get(f"/webhooks/sandbox/{sandbox_account.public_id}/").status_code == 405


# --- ordering, repeats, late matches ---------------------------------------------------
def test_the_same_callback_twice_leaves_one_status_change(client, twilio_account, django_capture_on_commit_callbacks):
    message = make_message(twilio_account, provider_message_id="SM" + "1" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_account, twilio_status(message.provider_message_id, "delivered"))
        twilio_post(client, twilio_account, twilio_status(message.provider_message_id, "delivered"))
    message.refresh_from_db()
    assert message.status == "delivered"
    assert MessageEvent.objects.filter(message=message).count() == 1
    states = sorted(WebhookEvent.objects.values_list("state", flat=True))
    assert states == ["ignored", "processed"]


def test_processing_an_event_twice_changes_nothing(client, sandbox_account, django_capture_on_commit_callbacks):
    message = make_message(sandbox_account, provider_message_id="SB" + "2" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        sandbox_post(
            client,
            sandbox_account,
            {"id": message.provider_message_id, "status": "delivered", "timestamp": time.time()},
        )
    event = WebhookEvent.objects.get()
    services.reprocess_event(event)
    services.process_event(event.pk)
    assert MessageEvent.objects.filter(message=message).count() == 1
    event.refresh_from_db()
    assert event.state == "processed"
    assert event.result == {"duplicates": 1}
    assert event.attempts == 2


def test_delivered_before_sent_ends_delivered(client, twilio_account, django_capture_on_commit_callbacks):
    message = make_message(twilio_account, status="sending", provider_message_id="SM" + "3" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_account, twilio_status(message.provider_message_id, "delivered"))
        twilio_post(client, twilio_account, twilio_status(message.provider_message_id, "sent"))
    message.refresh_from_db()
    assert message.status == "delivered"
    assert list(MessageEvent.objects.filter(message=message).values_list("status", "applied")) == [
        ("delivered", True),
        ("sent", False),
    ]


def test_a_callback_for_an_unknown_id_is_applied_once_the_id_is_written(
    client, twilio_account, django_capture_on_commit_callbacks
):
    sid = "SM" + "4" * 32
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(client, twilio_account, twilio_status(sid, "delivered"))
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == "processed"
    assert event.result == {"pending": 1}
    assert PendingStatusUpdate.objects.filter(provider="twilio", provider_message_id=sid).exists()

    message = make_message(twilio_account, status="sending")
    message.provider_message_id = sid  # the dispatcher's commit, after the callback
    message.save(update_fields=["provider_message_id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert apply_pending_updates(message) == 1
    message.refresh_from_db()
    assert message.status == "delivered"
    assert not PendingStatusUpdate.objects.exists()


def test_a_report_for_another_organizations_message_is_skipped(
    client, twilio_account, globex, django_capture_on_commit_callbacks
):
    from tests.factories import make_account

    globex_account = make_account(
        globex, "twilio", credentials={"account_sid": "AC" + "b" * 32, "auth_token": "z" * 32}
    )
    theirs = make_message(globex_account, provider_message_id="SM" + "5" * 32)
    with django_capture_on_commit_callbacks(execute=True):
        # Acme's account reports on globex's message id (a forged or crossed report).
        twilio_post(client, twilio_account, twilio_status(theirs.provider_message_id, "delivered"))
    theirs.refresh_from_db()
    assert theirs.status == "sent"
    event = WebhookEvent.objects.get()
    assert event.result == {"foreign": 1}


# --- failures ------------------------------------------------------------------------
def test_a_body_the_adapter_cannot_read_is_kept_as_failed(client, sandbox_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = sandbox_post(client, sandbox_account, b"this is not json")
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == "failed"
    assert event.error.startswith("Could not parse")


def test_an_unexpected_error_fails_the_event_and_reprocessing_applies_it(
    client, sandbox_account, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    message = make_message(sandbox_account, provider_message_id="SB" + "6" * 32)

    def broken(*args, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(services, "apply_changes", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = sandbox_post(
            client,
            sandbox_account,
            {"id": message.provider_message_id, "status": "delivered", "timestamp": time.time()},
        )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == "failed"
    assert "database hiccup" in event.error
    assert "webhook event" in caplog.text
    message.refresh_from_db()
    assert message.status == "sent"

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        event = services.reprocess_event(event)
    assert event.state == "processed"
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_lost_publish_is_swept_up(client, sandbox_account, monkeypatch, django_capture_on_commit_callbacks):
    message = make_message(sandbox_account, provider_message_id="SB" + "7" * 32)

    def broker_down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.drain_webhook_events, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = sandbox_post(
            client,
            sandbox_account,
            {"id": message.provider_message_id, "status": "delivered", "timestamp": time.time()},
        )
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == "received"

    monkeypatch.undo()
    assert tasks.sweep_webhook_events() == 0  # younger than a minute: maybe still on its way
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep_webhook_events() == 1
    event.refresh_from_db()
    assert event.state == "processed"
    message.refresh_from_db()
    assert message.status == "delivered"


def test_a_body_that_is_not_utf8_is_kept_byte_for_byte(db):
    event = WebhookEvent(provider="sandbox")
    event.raw_body = b"\xff\xfe binary \x00"
    assert event.body_encoding == "base64"
    event.save()
    event.refresh_from_db()
    assert event.raw_body == b"\xff\xfe binary \x00"


# --- inbound -------------------------------------------------------------------------
def test_stop_opts_out_and_start_resubscribes(client, twilio_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_account, twilio_inbound("SM" + "a1" * 16, "  Stop "))
    opt_out = OptOut.objects.get()
    assert (opt_out.organization, opt_out.channel, opt_out.phone, opt_out.source) == (
        twilio_account.organization,
        "sms",
        "+966501234567",
        "inbound_keyword",
    )
    assert InboundMessage.objects.get().body == "  Stop "

    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_account, twilio_inbound("SM" + "a2" * 16, "START"))
    assert not OptOut.objects.exists()
    assert InboundMessage.objects.count() == 2


def test_the_empty_twiml_answer_sends_nothing_back(client, twilio_account, django_capture_on_commit_callbacks):
    """Twilio sends back as SMS whatever TwiML our 200 carries: an inbound message is answered with none."""
    with django_capture_on_commit_callbacks(execute=True):
        response = twilio_post(client, twilio_account, twilio_inbound("SM" + "a3" * 16, "Hello"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode() == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "end", "QUIT", "إيقاف", " إيقاف\n"])
def test_every_stop_keyword_opts_out(client, twilio_account, word, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_account, twilio_inbound("SM" + "b" * 32, word))
    assert OptOut.objects.filter(phone="+966501234567", channel="sms").exists()


def test_stop_inside_a_sentence_is_not_a_keyword(client, twilio_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(client, twilio_account, twilio_inbound("SM" + "c" * 32, "please don't stop"))
    assert not OptOut.objects.exists()
    assert InboundMessage.objects.count() == 1


def test_arabic_stop_on_whatsapp_opts_out_of_whatsapp(client, whatsapp_account, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        whatsapp_post(client, whatsapp_account, whatsapp_text("wamid.IN1", "إيقاف"))
    assert OptOut.objects.get().channel == "whatsapp"
    assert OptOut.objects.get().phone == "+966501234567"


def test_inbound_whatsapp_opens_the_window(client, whatsapp_account, django_capture_on_commit_callbacks):
    sent_at = int(time.time()) - 60
    with django_capture_on_commit_callbacks(execute=True):
        whatsapp_post(client, whatsapp_account, whatsapp_text("wamid.IN2", "Hello", timestamp=sent_at))
    window = ConversationWindow.objects.get()
    assert window.phone == "+966501234567"
    assert window.last_inbound_at.timestamp() == sent_at
    inbound = InboundMessage.objects.get()
    assert (inbound.channel, inbound.body, inbound.profile_name) == ("whatsapp", "Hello", "Sara")

    # An older message arriving late does not move the window back; a newer one moves it on.
    with django_capture_on_commit_callbacks(execute=True):
        whatsapp_post(client, whatsapp_account, whatsapp_text("wamid.IN3", "earlier", timestamp=sent_at - 600))
    window.refresh_from_db()
    assert window.last_inbound_at.timestamp() == sent_at
    with django_capture_on_commit_callbacks(execute=True):
        whatsapp_post(client, whatsapp_account, whatsapp_text("wamid.IN4", "later", timestamp=sent_at + 30))
    window.refresh_from_db()
    assert window.last_inbound_at.timestamp() == sent_at + 30


def test_a_repeated_inbound_message_is_stored_once(client, whatsapp_account, django_capture_on_commit_callbacks):
    from messaging.signals import inbound_message_received

    received = []

    def receiver(sender, inbound, **kwargs):
        received.append(inbound.pk)

    inbound_message_received.connect(receiver)
    try:
        value = whatsapp_text("wamid.IN5", "Hi")
        with django_capture_on_commit_callbacks(execute=True):
            whatsapp_post(client, whatsapp_account, value)
        # Meta's retry of the same message within a new envelope (a new body).
        value["messages"][0]["text"]["body"] = "Hi"
        value["contacts"][0]["profile"]["name"] = "Sara A."
        with django_capture_on_commit_callbacks(execute=True):
            whatsapp_post(client, whatsapp_account, value)
    finally:
        inbound_message_received.disconnect(receiver)
    assert InboundMessage.objects.count() == 1
    assert len(received) == 1
    assert WebhookEvent.objects.filter(state="processed").count() == 2
    assert WebhookEvent.objects.order_by("id").last().result == {"inbound_repeats": 1}


def test_a_whatsapp_status_and_message_in_one_post_are_both_applied(
    client, whatsapp_account, django_capture_on_commit_callbacks
):
    message = make_message(whatsapp_account, provider_message_id="wamid.OUT1")
    value = whatsapp_text("wamid.IN6", "thanks")
    value["statuses"] = [
        {"id": "wamid.OUT1", "status": "read", "timestamp": str(int(time.time())), "recipient_id": "966501234567"}
    ]
    with django_capture_on_commit_callbacks(execute=True):
        whatsapp_post(client, whatsapp_account, value)
    message.refresh_from_db()
    assert message.status == "read"
    assert InboundMessage.objects.count() == 1
    assert Message.objects.count() == 1


# --- the drain -----------------------------------------------------------------------
def test_a_burst_of_callbacks_is_applied_fully_by_one_drain(client, sandbox_account, monkeypatch):
    """300 callbacks arrive while no drain runs (the wake-ups are lost); one drain applies them all."""
    messages = [make_message(sandbox_account, provider_message_id=f"SB{i:032d}") for i in range(150)]
    published = []
    monkeypatch.setattr(services, "wake_drain", lambda: published.append(1))
    for message in messages:
        for status in ("delivered", "read"):
            response = sandbox_post(
                client,
                sandbox_account,
                {"id": message.provider_message_id, "status": status, "timestamp": time.time()},
            )
            assert response.status_code == 200
    assert WebhookEvent.objects.filter(state="received").count() == 300
    assert Message.objects.filter(status="sent").count() == 150

    assert tasks.drain_webhook_events() == 300

    assert not WebhookEvent.objects.filter(state="received").exists()
    assert WebhookEvent.objects.filter(state="processed").count() == 300
    assert Message.objects.filter(status="read").count() == 150
    assert MessageEvent.objects.filter(source="webhook").count() == 300
    assert tasks.drain_webhook_events() == 0


def test_the_drain_takes_events_in_batches_and_keeps_their_order(sandbox_account, settings):
    message = make_message(sandbox_account, status="sending", provider_message_id="SB" + "8" * 32)
    body = {"id": message.provider_message_id, "timestamp": time.time()}
    for status in ("delivered", "sent", "read"):
        event = WebhookEvent(provider="sandbox", provider_account=sandbox_account, dedup_key=status)
        event.raw_body = json.dumps({**body, "status": status}).encode()
        event.save()
    assert services.drain_events(batch_size=2) == 3
    message.refresh_from_db()
    assert message.status == "read"
    assert list(MessageEvent.objects.filter(message=message).order_by("id").values_list("status", "applied")) == [
        ("delivered", True),
        ("sent", False),
        ("read", True),
    ]


def test_a_failing_batch_is_processed_event_by_event(sandbox_account, monkeypatch, caplog):
    good = make_message(sandbox_account, provider_message_id="SB" + "9" * 32)
    for key, payload in (("bad", b"not json"), ("good", None)):
        event = WebhookEvent(provider="sandbox", provider_account=sandbox_account, dedup_key=key)
        event.raw_body = (
            payload
            or json.dumps({"id": good.provider_message_id, "status": "delivered", "timestamp": time.time()}).encode()
        )
        event.save()
    assert services.drain_events() == 2
    states = dict(WebhookEvent.objects.values_list("dedup_key", "state"))
    assert states == {"bad": "failed", "good": "processed"}
    good.refresh_from_db()
    assert good.status == "delivered"


def test_the_drain_is_woken_at_most_once_per_interval(sandbox_account, monkeypatch, settings):
    """With Redis, a burst publishes one drain per interval, delayed past the interval."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL (the wake-up key lives in Redis)")
    from jood.celery import app

    settings.WEBHOOK_DRAIN_INTERVAL = 0.3
    services._wake_client().delete(services.WAKE_KEY)
    calls = []
    monkeypatch.setattr(tasks.drain_webhook_events, "apply_async", lambda **kw: calls.append(kw))
    app.conf.task_always_eager = False
    try:
        assert [services.wake_drain() for _ in range(50)].count(True) == 1
        assert calls == [{"args": (), "countdown": 0.3}]
        time.sleep(0.35)
        assert services.wake_drain() is True
        assert len(calls) == 2
    finally:
        app.conf.task_always_eager = True
        services._wake_client().delete(services.WAKE_KEY)


def test_the_account_is_looked_up_once_for_a_burst_of_callbacks(client, sandbox_account, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(services, "wake_drain", lambda: None)
    message = make_message(sandbox_account, provider_message_id="SB" + "a" * 32)
    payload = {"id": message.provider_message_id, "status": "delivered", "timestamp": time.time()}
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert sandbox_post(client, sandbox_account, payload).status_code == 200
    account_reads = [q for q in queries if "providers_provideraccount" in q["sql"] and q["sql"].startswith("SELECT")]
    assert len(account_reads) == 1


def test_a_new_webhook_secret_takes_effect_at_once(client, sandbox_account, monkeypatch):
    monkeypatch.setattr(services, "wake_drain", lambda: None)
    payload = {"id": "SB" + "b" * 32, "status": "delivered", "timestamp": time.time()}
    assert sandbox_post(client, sandbox_account, payload).status_code == 200
    old = ProviderAccount.objects.get(pk=sandbox_account.pk)
    sandbox_account.webhook_secret = "a-new-secret-for-this-account"
    sandbox_account.save(update_fields=["webhook_secret"])
    assert sandbox_post(client, old, payload).status_code == 403  # signed with the old secret
    assert sandbox_post(client, sandbox_account, payload).status_code == 200
