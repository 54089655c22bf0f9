"""The single send's hand-written paths stay equal to the serializers they stand in for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message
from messaging.serializers import MessageSerializer, SendMessageSerializer, message_json, quick_send_data
from tests.factories import make_account

VALID = [
    {"to": "+966501234567", "body": "Your code is 4821"},
    {"to": "  +966501234567 ", "body": " spaced body kept as is ", "channel": "sms"},
    {"to": "00966501234567", "body": "x" * 4096, "sender": " Acme "},
    {"to": "+966501234567", "body": "مرحبا 👋", "channel": "whatsapp", "sender": ""},
]
NOT_QUICK = [
    {"to": "+966501234567", "body": "hi", "callback_url": "https://example.com/cb"},
    {"to": "+966501234567", "body": "hi", "metadata": {"a": 1}},
    {"to": "+966501234567", "template": "welcome"},
    {"to": "+966501234567", "body": ""},
    {"to": "", "body": "hi"},
    {"to": "   ", "body": "hi"},
    {"to": "+9665" + "1" * 40, "body": "hi"},
    {"to": 966501234567, "body": "hi"},
    {"to": "+966501234567", "body": "x" * 4097},
    {"to": "+966501234567", "body": "nul \x00 byte"},
    {"to": "+966501234567", "body": "lone \ud800 surrogate"},
    {"to": "+966501234567", "body": "hi", "channel": "fax"},
    {"to": "+966501234567", "body": "hi", "sender": "s" * 65},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("payload", VALID)
def test_the_quick_path_gives_what_the_serializer_gives(payload):
    serializer = SendMessageSerializer(data=payload)
    assert serializer.is_valid(), serializer.errors
    assert quick_send_data(payload) == dict(serializer.validated_data)


@pytest.mark.parametrize("payload", NOT_QUICK)
def test_anything_else_goes_through_the_serializer(payload):
    assert quick_send_data(payload) is None


def test_the_message_answer_is_the_serializers(acme, settings):
    settings.TIME_ZONE = "Asia/Riyadh"
    account = make_account(acme)
    now = timezone.now()
    message = Message.objects.create(
        organization=acme,
        channel="sms",
        to="+966501234567",
        body="hi",
        status="failed",
        provider="sandbox",
        provider_account=account,
        provider_message_id="SB1",
        error_code="30003",
        error_message="Unreachable",
        metadata={"order": 7},
        callback_url="https://example.com/cb",
        scheduled_at=now + timedelta(hours=1),
        queued_at=now,
        sent_at=now.replace(microsecond=0),
        failed_at=now,
        segments=2,
        encoding="GSM-7",
        price="0.0075",
    )
    message.refresh_from_db()
    assert message_json(message) == MessageSerializer(message).data
    plain = Message.objects.create(organization=acme, channel="sms", to="+966501234567", body="x")
    assert message_json(plain) == MessageSerializer(plain).data
