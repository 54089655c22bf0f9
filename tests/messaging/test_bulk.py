"""POST /api/v1/messages/bulk: up to 10,000 recipients in a constant number of queries, and batch progress."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Batch, Message, OptOut, Status, Template
from tests.messaging.conftest import assert_error


def numbers(n: int, start: int = 0) -> list[str]:
    """n distinct valid Saudi mobile numbers."""
    return [f"+96650{start + i:07d}" for i in range(n)]


@pytest.fixture
def greeting(acme) -> Template:
    return Template.objects.create(organization=acme, name="greeting", body="Hi {{first_name}}, your code is {{code}}")


def bulk_payload(n: int, start: int = 0) -> dict:
    return {
        "channel": "sms",
        "template": "greeting",
        "name": f"{n} recipients",
        "recipients": [
            {"to": to, "parameters": {"first_name": f"Name{i}", "code": str(i)}, "metadata": {"row": i}}
            for i, to in enumerate(numbers(n, start))
        ],
    }


def post_counting_queries(api, payload) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/messages/bulk", payload, format="json")
    assert response.status_code == 202, response.content[:500]
    return response, len(queries)


def test_ten_thousand_recipients_take_a_constant_number_of_queries(acme_api, sandbox, greeting):
    # No on_commit execution here: dispatch is not what this test measures.
    _, small = post_counting_queries(acme_api, bulk_payload(100))
    response, large = post_counting_queries(acme_api, bulk_payload(10_000, start=100))

    answer = response.json()
    assert answer["accepted"] == 10_000 and answer["refused"] == []
    batch = Batch.objects.get(public_id=answer["batch"]["id"])
    assert batch.total == batch.accepted == 10_000
    assert Message.objects.filter(batch=batch).count() == 10_000
    last = Message.objects.filter(batch=batch).get(to=numbers(1, 10_099)[0])
    assert last.body == "Hi Name9999, your code is 9999"
    assert last.metadata == {"row": 9999}
    assert last.template_params == {"first_name": "Name9999", "code": "9999"}

    if connection.vendor == "postgresql":
        # One bulk_create is one INSERT whatever the size: 10,000 cost what 100 cost
        # (or one less: the first request also wrote the key's last_used_at).
        assert large <= small <= 12
    else:
        # SQLite allows 999 parameters a statement, so Django splits the one
        # bulk_create into INSERTs of 999 // (message columns) rows each. The
        # rest of the request is a small fixed number of queries.
        fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
        rows_per_insert = connection.ops.bulk_batch_size(fields, [None] * 10_000)
        inserts = math.ceil(10_000 / rows_per_insert)
        assert large <= small + inserts
        assert large <= 20 + inserts


def test_refused_numbers_come_back_per_recipient_while_the_valid_ones_are_accepted(acme_api, acme, sandbox):
    OptOut.objects.create(organization=acme, channel="sms", phone="+966500000003")
    payload = {
        "channel": "sms",
        "body": "Sale",
        "recipients": [
            {"to": "+966500000001"},
            {"to": "12345"},
            {"to": "00966 50 000 0002"},
            {"to": "+966500000001"},
            {"to": "+966500000003"},
            {"to": "+96650"},
        ],
    }
    response = acme_api.post("/api/v1/messages/bulk", payload, format="json")
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["accepted"] == 3
    assert answer["rejected"] == 1  # the opted-out one: a row, rejected
    refused = {r["index"]: r for r in answer["refused"]}
    assert set(refused) == {1, 3, 5}
    assert refused[1]["code"] == "invalid_number" and refused[1]["to"] == "12345"
    assert refused[1]["details"]["reason"]
    assert refused[3]["code"] == "duplicate_recipient"
    assert refused[5]["code"] == "invalid_number" and refused[5]["details"]["reason"] == "too short"

    batch = Batch.objects.get(public_id=answer["batch"]["id"])
    assert (batch.total, batch.accepted, batch.refused) == (6, 3, 3)
    statuses = dict(Message.objects.filter(batch=batch).values_list("to", "status"))
    assert statuses == {"+966500000001": "queued", "+966500000002": "queued", "+966500000003": "rejected"}


def test_a_missing_parameter_refuses_only_that_recipient(acme_api, sandbox, greeting):
    payload = bulk_payload(3)
    del payload["recipients"][1]["parameters"]["code"]
    answer = acme_api.post("/api/v1/messages/bulk", payload, format="json").json()
    assert answer["accepted"] == 2
    [refusal] = answer["refused"]
    assert refusal["index"] == 1 and refusal["code"] == "missing_parameter"
    assert refusal["details"] == {"parameter": "code"}


def test_more_than_ten_thousand_recipients_is_a_400(acme_api, sandbox):
    payload = {"channel": "sms", "body": "x", "recipients": [{"to": "+966500000001"}] * 10_001}
    assert_error(acme_api.post("/api/v1/messages/bulk", payload, format="json"), 400, "validation_error")
    assert not Batch.objects.exists()


def test_a_recipient_without_a_number_is_a_400(acme_api, sandbox):
    payload = {"channel": "sms", "body": "x", "recipients": [{"to": "+966500000001"}, {"parameters": {}}]}
    error = assert_error(acme_api.post("/api/v1/messages/bulk", payload, format="json"), 400, "validation_error")
    assert "1" in error["details"]["recipients"]


def test_a_viewer_cannot_send_in_bulk(acme_viewer_api, sandbox):
    payload = {"channel": "sms", "body": "x", "recipients": [{"to": "+966500000001"}]}
    assert_error(acme_viewer_api.post("/api/v1/messages/bulk", payload, format="json"), 403)
    assert not Message.objects.exists()


def test_a_dispatched_batch_reaches_100_percent_with_counts_by_status(
    acme_api, acme, sandbox, greeting, dispatching, monkeypatch
):
    from messaging import dispatch

    chunks = []
    original = dispatch.dispatch
    monkeypatch.setattr(dispatch, "dispatch", lambda ids: chunks.append(len(ids)) or original(ids))
    # Fewer simulated receipts (delivered only) keep this test quick.
    sandbox.settings = {"read_receipts": False}
    sandbox.save(update_fields=["settings"])
    OptOut.objects.create(organization=acme, channel="sms", phone=numbers(1)[0])
    with dispatching():
        response = acme_api.post("/api/v1/messages/bulk", bulk_payload(120), format="json")
    assert response.status_code == 202, response.content
    # One dispatch per chunk of up to DISPATCH_CHUNK_SIZE (100) queued messages, not one per message.
    assert chunks == [100, 19]
    batch_id = response.json()["batch"]["id"]

    progress_answer = acme_api.get(f"/api/v1/batches/{batch_id}")
    assert progress_answer.status_code == 200, progress_answer.content
    batch = progress_answer.json()
    assert batch["total"] == batch["accepted"] == 120
    progress = batch["progress"]
    assert progress["percent"] == 100
    assert progress["total"] == progress["done"] == 120
    assert progress["counts"]["rejected"] == 1
    # Sent, or already reported on by the sandbox's receipts.
    assert sum(progress["counts"].get(s, 0) for s in ("sent", "delivered", "undelivered")) == 119
    assert sum(progress["counts"].values()) == 120
    assert not Message.objects.filter(batch__public_id=batch_id, status__in=[Status.QUEUED, Status.SENDING]).exists()


def test_batch_progress_counts_what_is_still_waiting(acme_api, sandbox):
    payload = {"channel": "sms", "body": "x", "recipients": [{"to": to} for to in numbers(4)]}
    batch_id = acme_api.post("/api/v1/messages/bulk", payload, format="json").json()["batch"]["id"]
    progress = acme_api.get(f"/api/v1/batches/{batch_id}").json()["progress"]
    assert progress == {"counts": {"queued": 4}, "total": 4, "done": 0, "percent": 0.0}


def test_invalid_rows_in_the_middle_keep_the_valid_ones_and_are_listed(acme_api, acme, sandbox, greeting):
    OptOut.objects.create(organization=acme, channel="sms", phone=numbers(1, 500)[0])
    payload = bulk_payload(1000)
    payload["metadata"] = {"campaign": "winter"}
    bad = {
        200: {"to": "+96650", "parameters": {"first_name": "A", "code": "1"}},  # too short
        400: {"to": "not a number", "parameters": {"first_name": "B", "code": "2"}},
        600: {"to": numbers(1, 10)[0], "parameters": {"first_name": "C", "code": "3"}},  # row 10's number again
        800: {"to": "+966509999999", "parameters": {"first_name": "D"}},  # no code
    }
    for index, row in bad.items():
        payload["recipients"][index] = row
    response = acme_api.post("/api/v1/messages/bulk", payload, format="json")
    assert response.status_code == 202, response.content[:500]
    answer = response.json()

    assert answer["accepted"] == 996
    assert answer["rejected"] == 1  # the opted-out number: a row, rejected
    refused = {r["index"]: (r["code"], r["to"]) for r in answer["refused"]}
    assert refused == {
        200: ("invalid_number", "+96650"),
        400: ("invalid_number", "not a number"),
        600: ("duplicate_recipient", numbers(1, 10)[0]),
        800: ("missing_parameter", "+966509999999"),
    }
    batch = Batch.objects.get(public_id=answer["batch"]["id"])
    assert (batch.total, batch.accepted, batch.refused) == (1000, 996, 4)
    rows = Message.objects.filter(batch=batch)
    assert rows.count() == 996
    assert rows.filter(status="queued").count() == 995
    assert not rows.filter(to__in=["+96650", "+966509999999"]).exists()

    # Every column as the model would have written it.
    message = rows.get(to=numbers(1, 999)[0])
    assert message.organization == acme and message.template == greeting
    assert message.body == "Hi Name999, your code is 999"
    assert message.template_params == {"first_name": "Name999", "code": "999"}
    assert message.metadata == {"campaign": "winter", "row": 999}
    assert (message.channel, message.status, message.encoding, message.segments) == ("sms", "queued", "GSM-7", 1)
    assert message.queued_at == message.created_at and message.failed_at is None and message.scheduled_at is None
    assert (message.attempts, message.tried_accounts, message.media, message.provider) == (0, [], [], "")
    assert message.public_id and message.updated_at
    assert len(set(rows.values_list("public_id", flat=True))) == 996
    opted_out = rows.get(to=numbers(1, 500)[0])
    assert (opted_out.status, opted_out.error_code) == ("rejected", "opted_out")
    assert opted_out.failed_at == opted_out.created_at and opted_out.queued_at is None
