"""Done when: staff find a customer's failed message by phone, see why it failed, retry it, and see it delivered."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry

from messaging.models import Message, Status
from tests.factories import make_account

PHONE = "+966 50 765 4321"
E164 = "+966507654321"


def test_an_operator_finds_a_failed_message_by_phone_retries_it_and_sees_it_delivered(
    acme, acme_api, operator_client, dispatching
):
    # The customer's account refuses every send at first (the sandbox's "invalid number" error).
    account = make_account(acme, settings={"permanent_error_rate": 1, "read_receipts": False})
    with dispatching():
        sent = acme_api.post("/api/v1/messages", {"to": PHONE, "body": "Your table is ready"}, format="json")
    assert sent.status_code == 202, sent.content
    message = Message.objects.get()
    assert message.status == Status.FAILED

    # 1. The customer calls about "+966 50 765 4321": search for it as typed.
    found = operator_client.get("/admin/messaging/message/", {"q": PHONE})
    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [message]
    assert E164 in found.content.decode()

    # 2. Why it failed: the provider's code and message on the change page, with the attempt.
    page = operator_client.get(f"/admin/messaging/message/{message.pk}/change/")
    html = page.content.decode()
    assert "Why it failed" in html
    assert "21211" in html
    assert "not a valid phone number" in html
    assert "Permanent error" in html  # the delivery attempt inline

    # The provider fixed its side; the operator updates the account's options in the console.
    changed = operator_client.post(
        f"/admin/providers/provideraccount/{account.pk}/change/",
        {
            "label": account.label,
            "default_sender": "",
            "priority": account.priority,
            "allowed_prefixes": "[]",
            "messages_per_second": 0,
            "max_attempts": account.max_attempts,
            "api_base_url": "",
            "settings": '{"read_receipts": false}',
        },
    )
    assert changed.status_code == 302, changed.content.decode()[:3000]
    account.refresh_from_db()
    assert account.settings == {"read_receipts": False}

    # 3. Retry it: a new attempt through the normal pipeline; the sandbox reports delivery through the webhook path.
    with dispatching():
        retried = operator_client.post(
            "/admin/messaging/message/",
            {"action": "retry", "_selected_action": [message.pk], "index": 0},
            follow=True,
        )
    assert "Queued 1 message again" in retried.content.decode()

    # 4. See it delivered.
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.error_code == "" and message.delivered_at is not None
    page = operator_client.get(f"/admin/messaging/message/{message.pk}/change/")
    html = page.content.decode()
    assert "delivered" in html
    assert "webhook" in html  # the delivery report's event, in the timeline
    assert message.delivery_attempts.count() == 2
    assert LogEntry.objects.filter(object_id=str(message.pk), change_message__contains="Retried").exists()
