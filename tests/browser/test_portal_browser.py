"""The portal in headless Chromium: sign up, connect the sandbox, send and watch, bulk CSV, the chart.

Drives Debian's /usr/bin/chromium through Playwright (never a downloaded
browser) against pytest-django's live server. Screenshots of each page at
laptop (1280x800) and phone (390x844) size go to tests/screenshots/ (ignored
by git), to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import celery_eager

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "Sunny-Harbor-42"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def browser(monkeypatch):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between page actions are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            # ORM calls made while Playwright runs get a connection of their own; with
            # CONN_MAX_AGE (PostgreSQL) it would outlive the test and block dropping the database.
            connections.close_all()


@pytest.fixture
def portal(live_server, settings, tmp_path):
    """The live server's portal, with sandbox callbacks and dispatch running in the server thread."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Fast hashing: sign-up and log-in hash a password in the server thread.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # With REDIS_URL there is no worker in tests: run the tasks where they are published.
    with celery_eager():
        yield live_server.url + "/portal"


def shoot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def both_sizes(browser, context_from, pages: dict[str, str], sizes=(("laptop", LAPTOP), ("phone", PHONE))) -> None:
    """Screenshot pages ({name: url}) at laptop and phone size, logged in as the given context's user."""
    state = context_from.storage_state()
    for label, viewport in sizes:
        context = browser.new_context(viewport=viewport, storage_state=state)
        page = context.new_page()
        for name, url in pages.items():
            page.goto(url)
            if page.locator("[data-chart]").count():
                page.wait_for_selector("[data-chart][data-drawn=true]")
            # No sideways scrolling of the page itself (wide tables scroll in their own box).
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{name} scrolls sideways at {label} size by {overflow}px"
            shoot(page, f"{name}-{label}")
        context.close()


def test_sign_up_connect_the_sandbox_send_and_see_it_delivered(browser, portal):
    from accounts.models import Membership, User
    from messaging.models import Message

    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()

    # Sign up.
    page.goto(f"{portal}/signup/")
    shoot(page, "signup-laptop")
    # An empty form comes back with each error next to its field (phone size).
    page.set_viewport_size(PHONE)
    page.click("button[type=submit]")
    page.wait_for_selector("#id_email_error")
    assert page.locator(".has-error").count() >= 5
    shoot(page, "signup-errors-phone")
    page.set_viewport_size(LAPTOP)
    page.fill("#id_organization_name", "Sara's Bakery")
    page.fill("#id_name", "Sara Ali")
    page.fill("#id_email", "sara@bakery.test")
    page.fill("#id_phone", "+966501234567")
    page.fill("#id_password", PASSWORD)
    page.check("#id_confirmed_adult")
    page.check("#id_privacy_consent")
    page.click("button[type=submit]")
    # The emailed link confirms the address and logs in.
    page.wait_for_url(re.compile(r"/portal/signup/sent/$"))
    from django.core import mail

    link = re.search(r"/portal/signup/confirm/\S+/", mail.outbox[-1].body).group(0)
    page.goto(portal.rsplit("/portal", 1)[0] + link)
    page.wait_for_url(re.compile(r"/portal/providers/$"))
    user = User.objects.get(email="sara@bakery.test")
    assert user.privacy_accepted_at and user.confirmed_adult_at
    assert Membership.objects.get(user=user).role == "owner"

    # Connect the sandbox.
    page.click("text=Connect an account")
    page.click("a.choice:has-text('Sandbox')")
    page.fill("#id_label", "Sandbox SMS")
    page.fill("#id_default_sender", "Bakery")
    page.click("button:has-text('Connect')")
    page.wait_for_url(re.compile(r"/portal/providers/$"))
    assert page.locator("h2:has-text('Sandbox SMS')").is_visible()
    page.click("button:has-text('Test connection')")
    page.wait_for_selector(".status-read:has-text('connection ok')")

    # Send one message; the counter follows the text as it is typed.
    page.goto(f"{portal}/send/")
    page.fill("#id_to", "+966501234567")
    page.fill("#id_body", "Your bread is ready")
    assert page.inner_text("[data-count-encoding]") == "GSM-7"
    assert page.inner_text("[data-count-units]") == "19"
    page.fill("#id_body", "خبزك جاهز")
    assert page.inner_text("[data-count-encoding]") == "UCS-2"
    page.fill("#id_body", "x" * 161)
    assert page.inner_text("[data-count-segments]") == "2"
    page.fill("#id_body", "Your bread is ready, Sara. Pick it up before 6 pm.")
    shoot(page, "send-laptop")
    page.click("button:has-text('Send')")
    page.wait_for_url(re.compile(r"/portal/messages/[0-9a-f-]+/$"))
    page.wait_for_selector("#message-status .status-delivered, #message-status .status-read", timeout=15_000)
    message = Message.objects.get(organization__name="Sara's Bakery")
    assert message.status in ("delivered", "read")
    assert page.locator(".timeline li:has-text('delivered')").count() >= 1
    shoot(page, "message-laptop")

    # The dashboard chart is drawn, with today's bar.
    page.goto(f"{portal}/")
    page.wait_for_selector("#daily-chart[data-drawn=true] svg")
    assert page.locator("#daily-chart svg rect.bar").count() >= 1
    assert page.locator("#daily-chart svg").get_attribute("data-points") == "30"

    both_sizes(
        browser,
        context,
        {
            "dashboard": f"{portal}/",
            "message": f"{portal}/messages/{message.public_id}/",
            "messages": f"{portal}/messages/",
            "send": f"{portal}/send/",
            "providers": f"{portal}/providers/",
            "api-keys": f"{portal}/api-keys/",
            "team": f"{portal}/team/",
        },
    )
    # The other pages at phone size: the narrowest screen is where layouts break.
    both_sizes(
        browser,
        context,
        {
            "callbacks": f"{portal}/callbacks/",
            "callback-new": f"{portal}/callbacks/new/",
            "connect-twilio": f"{portal}/providers/connect/twilio/",
            "templates": f"{portal}/templates/",
            "opt-outs": f"{portal}/opt-outs/",
            "bulk": f"{portal}/bulk/",
            "access-log": f"{portal}/access-log/",
            "profile": f"{portal}/profile/",
            "privacy": f"{portal}/privacy/",
        },
        sizes=(("phone", PHONE),),
    )
    # On a phone the navigation folds behind "Menu".
    phone = browser.new_context(viewport=PHONE, storage_state=context.storage_state())
    page = phone.new_page()
    page.goto(f"{portal}/messages/")
    assert not page.locator("#portal-nav").is_visible()
    page.click("label.nav-toggle-label")
    assert page.locator("#portal-nav a:has-text('Provider accounts')").is_visible()
    shoot(page, "menu-phone")
    phone.close()
    context.close()


def test_a_bulk_upload_reaches_100_percent(browser, portal, tmp_path):
    from django.utils import timezone

    from accounts.models import Organization, User
    from accounts.services import create_organization, current_policy_version
    from providers.models import ProviderAccount

    now = timezone.now()
    user = User.objects.create_user(
        "omar@shop.test",
        PASSWORD,
        name="Omar",
        privacy_policy_version=current_policy_version(),
        privacy_accepted_at=now,
        confirmed_adult_at=now,
    )
    organization = create_organization(user, "Omar's Shop")
    account = ProviderAccount(organization=organization, provider="sandbox", channel="sms", label="Sandbox")
    account.set_credentials({})
    account.save()
    assert Organization.objects.count() == 1

    csv_path = tmp_path / "customers.csv"
    csv_path.write_text(
        "phone,first_name\n+966501234567,Sara\n+971501234567,Omar\n+14155550123,Lina\nnot-a-number,Ghost\n",
        encoding="utf-8",
    )

    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.goto(f"{portal}/login/")
    page.fill("#id_username", "omar@shop.test")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))

    page.goto(f"{portal}/bulk/")
    page.set_input_files("#id_file", str(csv_path))
    page.fill("#id_body", "Hello from Omar's Shop: 20% off this week.")
    page.click("button:has-text('Upload and continue')")
    page.wait_for_url(re.compile(r"/map/$"))
    assert page.input_value("#id_phone_column") == "0"
    page.click("button:has-text('Continue to the preview')")
    page.wait_for_url(re.compile(r"/preview/$"))
    assert page.locator("td:has-text('not-a-number')").is_visible()
    shoot(page, "bulk-preview-laptop")
    page.click("button:has-text('Send 3 messages')")
    page.wait_for_url(re.compile(r"/portal/batches/[0-9a-f-]+/$"))
    page.wait_for_selector("#batch-progress[data-complete=true]", timeout=20_000)
    assert page.get_attribute("[role=progressbar]", "aria-valuenow") == "100"
    assert float(page.inner_text("[data-progress-percent]")) == 100
    both_sizes(browser, context, {"batch": page.url, "batches": f"{portal}/batches/"})
    context.close()
