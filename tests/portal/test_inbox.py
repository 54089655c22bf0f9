"""The inbox: conversations per number, unread counts, the WhatsApp window and a reply box that respects it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from messaging.models import ConversationWindow, InboundMessage, Message, Status, Template
from providers.models import Channel
from tests.factories import login, make_account, make_message

SARA = "+966501234567"
OMAR = "+966551234567"


def inbound(organization, phone=SARA, body="Hello", channel=Channel.WHATSAPP, minutes_ago=0, **fields):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    row = InboundMessage.objects.create(
        organization=organization, channel=channel, from_number=phone, body=body, received_at=at, **fields
    )
    if channel == Channel.WHATSAPP:
        window, _ = ConversationWindow.objects.get_or_create(
            organization=organization, phone=phone, defaults={"last_inbound_at": at}
        )
        if window.last_inbound_at < at:
            ConversationWindow.objects.filter(pk=window.pk).update(last_inbound_at=at)
    return row


def test_the_inbox_lists_one_conversation_per_number_with_its_unread_count(acme, member_client):
    inbound(acme, SARA, "first", minutes_ago=10)
    inbound(acme, SARA, "second", minutes_ago=5)
    inbound(acme, OMAR, "hi", channel=Channel.SMS, minutes_ago=1)
    page = member_client.get("/portal/inbox/").content.decode()
    assert page.count(f"/portal/inbox/{SARA}/") == 1 and f"/portal/inbox/{OMAR}/" in page
    assert page.index(OMAR) < page.index(SARA)  # the latest conversation first
    assert "second" in page and "first" not in page  # the last message of each
    assert "<strong>2</strong>" in page


def test_the_navigation_shows_the_unread_count_until_the_conversation_is_opened(acme, member_client):
    inbound(acme, SARA, "one")
    inbound(acme, SARA, "two")
    page = member_client.get("/portal/").content.decode()
    assert 'data-unread>2<span class="visually-hidden"> unread' in page
    member_client.get(f"/portal/inbox/{SARA}/")
    assert not InboundMessage.objects.filter(read_at__isnull=True).exists()
    assert "data-unread" not in member_client.get("/portal/").content.decode()


def test_the_conversation_shows_sent_and_received_messages_in_time_order(acme, member_client):
    now = timezone.now()
    sent = {"status": "queued", "to": SARA}
    make_message(acme, now - timedelta(hours=2), channel=Channel.WHATSAPP, body="Your order shipped", **sent)
    inbound(acme, SARA, "Where is it?", minutes_ago=60)
    make_message(acme, now - timedelta(minutes=30), channel=Channel.SMS, body="SMS code 1234", **sent)
    make_message(acme, status="queued", channel=Channel.SMS, to=OMAR, body="Not Sara's")
    page = member_client.get(f"/portal/inbox/{SARA}/").content.decode()
    assert page.index("Your order shipped") < page.index("Where is it?") < page.index("SMS code 1234")
    assert "Not Sara" not in page
    only_sms = member_client.get(f"/portal/inbox/{SARA}/?channel=sms").content.decode()
    assert "SMS code 1234" in only_sms and "Where is it?" not in only_sms
    only_wa = member_client.get("/portal/inbox/?channel=sms").content.decode()
    assert f"/portal/inbox/{SARA}/" not in only_wa


def test_the_window_shows_its_remaining_time(acme, member_client):
    inbound(acme, SARA, minutes_ago=60)  # 23 hours left
    page = member_client.get(f"/portal/inbox/{SARA}/").content.decode()
    assert "WhatsApp window open" in page and "22 h 59 min" in page or "23 h 00 min" in page


def test_free_form_whatsapp_outside_the_window_is_refused_and_templates_are_offered(acme, member_client):
    make_account(acme, channel=Channel.WHATSAPP)
    Template.objects.create(
        organization=acme, channel=Channel.WHATSAPP, name="order_update", body="Order {{order}}", kind="own"
    )
    inbound(acme, SARA, minutes_ago=25 * 60)
    page = member_client.get(f"/portal/inbox/{SARA}/").content.decode()
    assert "WhatsApp window closed" in page and "order_update" in page
    response = member_client.post(f"/portal/inbox/{SARA}/", {"channel": "whatsapp", "body": "Hi again"})
    assert response.status_code == 200
    assert "The 24-hour WhatsApp window is closed" in response.content.decode()
    assert not Message.objects.exists()


def test_a_template_reply_outside_the_window_is_sent(acme, member_client, django_capture_on_commit_callbacks):
    make_account(acme, channel=Channel.WHATSAPP)
    template = Template.objects.create(
        organization=acme, channel=Channel.WHATSAPP, name="order_update", body="Order {{order}}", kind="own"
    )
    inbound(acme, SARA, minutes_ago=25 * 60)
    response = member_client.post(
        f"/portal/inbox/{SARA}/", {"channel": "whatsapp", "template": template.pk, "params": "order=42"}
    )
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.to == SARA and message.body == "Order 42" and message.status != Status.REJECTED


def test_a_free_form_reply_inside_the_window_is_sent(acme, member_client):
    make_account(acme, channel=Channel.WHATSAPP)
    inbound(acme, SARA, minutes_ago=5)
    response = member_client.post(f"/portal/inbox/{SARA}/", {"channel": "whatsapp", "body": "On its way!"})
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.channel == "whatsapp" and message.status == Status.QUEUED
    page = member_client.get(f"/portal/inbox/{SARA}/").content.decode()
    assert "On its way!" in page


def test_a_viewer_reads_but_cannot_reply(acme, viewer):
    make_account(acme, channel=Channel.WHATSAPP)
    inbound(acme, SARA)
    client = login(viewer)
    page = client.get(f"/portal/inbox/{SARA}/").content.decode()
    assert "Hello" in page and "Send reply" not in page
    assert client.post(f"/portal/inbox/{SARA}/", {"channel": "whatsapp", "body": "x"}).status_code == 403
    assert not Message.objects.exists()


def test_another_organizations_conversations_are_not_shown(acme, globex, member_client):
    inbound(globex, SARA, "globex secret")
    make_message(globex, status="queued", to=SARA, body="globex sent")
    assert SARA not in member_client.get("/portal/inbox/").content.decode()
    page = member_client.get(f"/portal/inbox/{SARA}/").content.decode()
    assert "globex secret" not in page and "globex sent" not in page
    assert "data-unread" not in member_client.get("/portal/").content.decode()
    member_client.get(f"/portal/inbox/{SARA}/")
    assert InboundMessage.objects.get().read_at is None  # acme's visit does not mark globex's read


def test_a_conversation_url_that_is_not_a_number_is_a_404(member_client):
    assert member_client.get("/portal/inbox/not-a-number/").status_code == 404


def test_a_message_links_to_its_conversation(acme, member_client):
    message = make_message(acme, status="queued", to=SARA)
    page = member_client.get(f"/portal/messages/{message.public_id}/").content.decode()
    assert f'href="/portal/inbox/{SARA}/"' in page
