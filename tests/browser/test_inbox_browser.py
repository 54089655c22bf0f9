"""WhatsApp in the sandbox, time zones and the inbox, in headless Chromium.

Same setup as test_portal_browser.py (Debian's /usr/bin/chromium through
Playwright, pytest-django's live server, screenshots at laptop and phone
size in tests/screenshots/).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_portal_browser import (  # noqa: F401  (fixtures)
    LAPTOP,
    PASSWORD,
    PHONE,
    both_sizes,
    browser,
    portal,
    shoot,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

SARA = "+966501234567"


def test_sign_up_in_riyadh_try_whatsapp_in_the_sandbox_and_answer_in_the_inbox(browser, portal):  # noqa: F811
    from accounts.models import Organization
    from messaging.models import ConversationWindow, InboundMessage, Message

    # The browser says Asia/Riyadh: sign-up picks it without being asked.
    context = browser.new_context(viewport=LAPTOP, timezone_id="Asia/Riyadh")
    page = context.new_page()
    page.goto(f"{portal}/signup/")
    assert page.input_value("#id_time_zone") == "Asia/Riyadh"
    page.fill("#id_organization_name", "Riyadh Roasters")
    page.fill("#id_name", "Sara Ali")
    page.fill("#id_email", "sara@roasters.test")
    page.fill("#id_password", PASSWORD)
    page.check("#id_confirmed_adult")
    page.check("#id_privacy_consent")
    page.click("button[type=submit]")
    # The account is inactive until the emailed link is followed; the link logs in.
    page.wait_for_url(re.compile(r"/portal/signup/sent/$"))
    from django.core import mail

    assert mail.outbox[-1].to == ["sara@roasters.test"]
    link = re.search(r"/portal/signup/confirm/\S+/", mail.outbox[-1].body).group(0)
    page.goto(portal.rsplit("/portal", 1)[0] + link)
    page.wait_for_url(re.compile(r"/portal/providers/$"))
    organization = Organization.objects.get(name="Riyadh Roasters")
    assert organization.time_zone == "Asia/Riyadh"
    assert "Times in Asia/Riyadh" in page.inner_text("[data-time-zone]")

    # Connect a sandbox WhatsApp account.
    page.goto(f"{portal}/providers/connect/sandbox/")
    page.select_option("#id_channel", "whatsapp")
    page.fill("#id_label", "Sandbox WhatsApp")
    page.click("button:has-text('Connect')")
    page.wait_for_url(re.compile(r"/portal/providers/$"))

    # Schedule for 09:00 tomorrow, Riyadh time: it is stored as 06:00 UTC.
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date()
    page.goto(f"{portal}/send/")
    assert "Asia/Riyadh" in page.inner_text("#id_scheduled_at_helptext")
    page.select_option("#id_channel", "whatsapp")
    page.fill("#id_to", SARA)
    page.fill("#id_body", "Your beans are roasted")
    page.fill("#id_scheduled_at", f"{tomorrow.isoformat()}T09:00")
    page.click("button:has-text('Send')")
    page.wait_for_url(re.compile(r"/portal/messages/[0-9a-f-]+/$"))
    scheduled = Message.objects.get(organization=organization)
    # Free-form WhatsApp to a number that never wrote: refused by us, and the page says so.
    assert scheduled.status == "rejected"
    assert "refused before sending" in page.inner_text("main")
    assert "the provider said" not in page.inner_text("main")
    scheduled.delete()

    page.goto(f"{portal}/providers/connect/sandbox/")
    page.select_option("#id_channel", "sms")
    page.fill("#id_label", "Sandbox SMS")
    page.click("button:has-text('Connect')")
    page.wait_for_url(re.compile(r"/portal/providers/$"))
    page.goto(f"{portal}/send/")
    page.fill("#id_to", SARA)
    page.fill("#id_body", "See you at nine")
    page.fill("#id_scheduled_at", f"{tomorrow.isoformat()}T09:00")
    page.click("button:has-text('Send')")
    page.wait_for_url(re.compile(r"/portal/messages/[0-9a-f-]+/$"))
    scheduled = Message.objects.get(organization=organization, channel="sms")
    assert scheduled.status == "scheduled"
    assert scheduled.scheduled_at == datetime(tomorrow.year, tomorrow.month, tomorrow.day, 6, 0, tzinfo=UTC)
    assert f"{tomorrow.isoformat()} 09:00" in page.inner_text("main")

    # The inbox is empty; simulate Sara writing on WhatsApp.
    page.goto(f"{portal}/inbox/")
    assert "No replies yet" in page.inner_text("main")
    page.fill("#sim-from_number", SARA)
    page.fill("#sim-body", "Are my beans ready?")
    page.click("button:has-text('Simulate a reply')")
    page.wait_for_url(re.compile(r"/portal/inbox/%2B966501234567/$|/portal/inbox/\+966501234567/$"))
    assert ConversationWindow.objects.filter(organization=organization, phone=SARA).exists()
    page.wait_for_selector("text=WhatsApp window open")
    assert "23 h" in page.inner_text("[data-window]")
    assert page.locator(".bubble-in:has-text('Are my beans ready?')").is_visible()
    assert page.locator(".bubble-out:has-text('See you at nine')").is_visible()

    # Inside the window a free-form reply goes out.
    page.select_option("#id_channel", "whatsapp")
    page.fill("#id_body", "Yes, come by any time")
    page.click("button:has-text('Send reply')")
    page.wait_for_selector(".bubble-out:has-text('Yes, come by any time')")
    reply = Message.objects.get(organization=organization, body="Yes, come by any time")
    assert reply.channel == "whatsapp" and reply.status != "rejected"

    # Another customer writes: the navigation counts it until the conversation is opened.
    InboundMessage.objects.create(organization=organization, channel="sms", from_number="+966551234567", body="Hi")
    page.goto(f"{portal}/inbox/")
    assert page.inner_text("#portal-nav [data-unread]").startswith("1")
    page.click("a:has-text('+966551234567')")
    page.wait_for_selector(".bubble-in:has-text('Hi')")
    assert "No WhatsApp window" in page.inner_text("[data-window]")
    assert page.locator("#portal-nav [data-unread]").count() == 0

    both_sizes(
        browser,
        context,
        {
            "inbox": f"{portal}/inbox/",
            "conversation": f"{portal}/inbox/{SARA}/",
            "organization-settings": f"{portal}/organization/settings/",
            "profile-time-zone": f"{portal}/profile/",
        },
    )
    shoot(page, "conversation-sms-laptop")
    context.close()


def test_the_demo_hello_world_goes_to_a_number_that_never_wrote(browser, portal):  # noqa: F811
    from io import StringIO

    from django.core.management import call_command

    from accounts.models import User
    from messaging.models import Message

    call_command("seed_demo", stdout=StringIO())
    from accounts.services import current_policy_version

    user = User.objects.get(email="demo@example.com")
    user.set_password(PASSWORD)
    # Consent as sign-up records it, so the login lands on the dashboard.
    user.privacy_policy_version = current_policy_version()
    user.privacy_accepted_at = user.confirmed_adult_at = user.date_joined
    user.save()

    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{portal}/login/")
    page.fill("#id_username", "demo@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))
    page.goto(f"{portal}/send/")
    page.select_option("#id_channel", "whatsapp")
    page.fill("#id_to", SARA)
    from messaging.models import Template

    page.select_option("#id_template", str(Template.objects.get(name="hello_world").pk))
    page.click("button:has-text('Send')")
    page.wait_for_url(re.compile(r"/portal/messages/[0-9a-f-]+/$"))
    page.wait_for_selector("#message-status .status-delivered, #message-status .status-read", timeout=15_000)
    assert Message.objects.get(template__name="hello_world").status in ("delivered", "read")
    shoot(page, "hello-world-phone")
    context.close()
