"""Idempotency-Key on the send endpoints, as Stripe does it."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from messaging.idempotency import _fingerprint
from messaging.models import Batch, IdempotencyRecord, Message
from tests.messaging.conftest import assert_error

BODY = {"to": "+966501234567", "body": "Your code is 4821"}


def post(api, key, body=BODY, url="/api/v1/messages"):
    return api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_repeated_request_creates_nothing_new_and_gets_the_first_answer(acme_api, sandbox):
    first = post(acme_api, "order-42")
    assert first.status_code == 202, first.content
    assert "Idempotent-Replayed" not in first

    again = post(acme_api, "order-42")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1


def test_the_replay_is_the_first_answer_even_after_the_message_moved_on(acme_api, sandbox, dispatching):
    with dispatching():
        first = post(acme_api, "order-42")
    assert Message.objects.get().status != "queued"
    again = post(acme_api, "order-42")
    assert again.json() == first.json()
    assert again.json()["status"] == "queued"


def test_a_refusal_is_replayed_too(acme_api, sandbox):
    first = post(acme_api, "bad-number", {"to": "+96650", "body": "x"})
    assert_error(first, 400, "invalid_number")
    again = post(acme_api, "bad-number", {"to": "+96650", "body": "x"})
    assert again.status_code == 400
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_a_changed_body_with_the_same_key_is_a_422(acme_api, sandbox):
    post(acme_api, "order-42")
    response = post(acme_api, "order-42", {**BODY, "body": "Another code"})
    assert_error(response, 422, "idempotency_key_reused")
    assert Message.objects.count() == 1


def test_a_key_still_in_flight_is_a_409(acme_api, acme, sandbox):
    IdempotencyRecord.objects.create(
        organization=acme, key="order-42", endpoint="messages", request_hash=_fingerprint("messages", BODY)
    )
    assert_error(post(acme_api, "order-42"), 409, "idempotency_key_in_use")
    assert not Message.objects.exists()


def test_keys_are_per_organization(acme_api, globex_api, sandbox, globex_sandbox):
    assert post(acme_api, "order-42").status_code == 202
    response = post(globex_api, "order-42")
    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response
    assert Message.objects.count() == 2


def test_a_key_expires_after_24_hours(acme_api, sandbox):
    post(acme_api, "order-42")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = post(acme_api, "order-42")
    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response
    assert Message.objects.count() == 2


def test_without_a_key_every_request_sends(acme_api, sandbox):
    acme_api.post("/api/v1/messages", BODY, format="json")
    acme_api.post("/api/v1/messages", BODY, format="json")
    assert Message.objects.count() == 2


def test_a_bulk_request_is_idempotent(acme_api, sandbox):
    body = {"channel": "sms", "body": "Sale", "recipients": [{"to": "+966500000001"}, {"to": "+966500000002"}]}
    first = post(acme_api, "campaign-7", body, url="/api/v1/messages/bulk")
    again = post(acme_api, "campaign-7", body, url="/api/v1/messages/bulk")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert Batch.objects.count() == 1 and Message.objects.count() == 2


def test_the_same_key_on_another_endpoint_is_a_422(acme_api, sandbox):
    post(acme_api, "k1")
    body = {"channel": "sms", "body": "x", "recipients": [{"to": "+966500000001"}]}
    assert_error(post(acme_api, "k1", body, url="/api/v1/messages/bulk"), 422, "idempotency_key_reused")


def test_a_validation_error_is_not_remembered(acme_api, sandbox):
    assert post(acme_api, "k2", {"to": "+966501234567"}).status_code == 400
    assert not IdempotencyRecord.objects.exists()


def test_a_key_longer_than_255_characters_is_a_400(acme_api, sandbox):
    assert_error(post(acme_api, "k" * 256), 400, "invalid_idempotency_key")


def test_a_server_error_is_forgotten_so_the_client_can_retry(acme_api, sandbox, monkeypatch):
    from messaging import services

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "accept_messages", broken)
    acme_api.raise_request_exception = False
    assert post(acme_api, "k3").status_code == 500
    assert not IdempotencyRecord.objects.exists()
    monkeypatch.undo()
    assert post(acme_api, "k3").status_code == 202


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_with_one_key_create_one_message(acme, acme_api, sandbox, monkeypatch):
    # Rows commit for real here: keep dispatch off the broker.
    published = []
    monkeypatch.setattr("messaging.dispatch.publish_dispatch", published.append)
    start = threading.Barrier(2)
    answers = []

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {acme_api.secret}")
        try:
            start.wait(timeout=10)
            answers.append(post(client, "same-key"))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert Message.objects.count() == 1
    codes = sorted(a.status_code for a in answers)
    # The second either saw the first in flight (409) or finished (its answer replayed).
    assert codes in ([202, 202], [202, 409]), [a.content for a in answers]
    ok = [a.json() for a in answers if a.status_code == 202]
    assert all(body == ok[0] for body in ok)
    assert len(published) == 1
