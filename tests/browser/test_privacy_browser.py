"""The privacy rights and the small details in a real browser (issue 17 items 8 and 10), at laptop and phone size."""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.test_portal_browser import LAPTOP, PASSWORD, PHONE, browser, portal, shoot  # noqa: F401
from tests.factories import make_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def owner_with_messages():
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import create_organization, current_policy_version
    from messaging.models import Message, Status

    now = timezone.now()
    user = User.objects.create_user(
        "nora@bakery.test",
        PASSWORD,
        name="Nora",
        privacy_policy_version=current_policy_version(),
        privacy_accepted_at=now,
        confirmed_adult_at=now,
    )
    organization = create_organization(user, "Nora's Bakery")
    account = make_account(organization, label="Sandbox SMS", default_sender="Bakery")
    for i in range(3):
        Message.objects.create(
            organization=organization,
            channel="sms",
            to=f"+96650123456{i}",
            body="Your bread is ready, and this text is long enough to need a second line on a phone.",
            status=Status.QUEUED,
            provider_account=account,
        )
    return user, organization


def log_in(chromium, portal_url: str, viewport):
    context = chromium.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{portal_url}/login/")
    page.fill("#id_username", "nora@bakery.test")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))
    return context, page


def test_pause_keeps_waiting_messages_consent_export_and_deletion_undo(browser, portal):  # noqa: F811
    from messaging.models import Message, Status

    user, organization = owner_with_messages()
    context, page = log_in(browser, portal, LAPTOP)

    # Pause, keeping the waiting messages (the default choice).
    page.goto(f"{portal}/privacy/")
    assert page.is_checked("input[name=waiting][value=hold]")
    page.click("#pause button:has-text('Pause sending')")
    page.wait_for_selector("text=waiting messages wait and go when you resume")
    assert Message.objects.filter(organization=organization, status=Status.QUEUED).count() == 3
    assert page.locator("#pause strong:has-text('3')").is_visible()
    shoot(page, "privacy-paused-laptop")
    page.click("button:has-text('Resume sending')")
    page.wait_for_selector("text=Sending is resumed")

    # My own data, as JSON.
    with page.expect_download() as download:
        page.click("text=Download my data (JSON)")
    data = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert data["profile"]["email"] == "nora@bakery.test"
    assert any(row["action"] == "login" for row in data["access_log"])

    # Withdraw consent: a read-only account with a banner; give it again.
    page.click("#consent button:has-text('Withdraw my consent')")
    page.wait_for_selector(".consent-banner")
    page.goto(f"{portal}/messages/")
    assert page.locator(".consent-banner").is_visible()
    assert page.locator("#portal-nav a:has-text('Send a message')").count() == 0
    page.goto(f"{portal}/privacy/")
    page.click("#consent button:has-text('Give consent again')")
    page.wait_for_selector("text=no longer restricted")

    # Delete, then keep the organization during the grace period.
    page.fill("#confirm-org", "Nora's Bakery")
    page.click('button:has-text("Delete Nora\'s Bakery")')
    page.wait_for_selector(".deletion-banner")
    assert page.locator(".deletion-banner a[href^='mailto:']").is_visible()
    shoot(page, "privacy-deletion-laptop")
    page.click("button:has-text('cancel the deletion')")
    page.wait_for_selector("text=will not be deleted")
    organization.refresh_from_db()
    assert organization.deletion_scheduled_for is None

    # The policy page at phone size, with each right and the contact.
    phone = browser.new_context(viewport=PHONE)
    policy = phone.new_page()
    policy.goto(portal.removesuffix("/portal") + "/privacy/")
    assert policy.locator("#rights").is_visible()
    shoot(policy, "privacy-policy-phone")
    phone.close()
    context.close()


def test_the_message_status_is_on_screen_on_a_phone(browser, portal):  # noqa: F811
    owner_with_messages()
    context, page = log_in(browser, portal, PHONE)
    page.goto(f"{portal}/messages/")
    badge = page.locator(".messages-table .status").first
    assert badge.is_visible()
    box = badge.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    shoot(page, "messages-status-phone")
    context.close()
