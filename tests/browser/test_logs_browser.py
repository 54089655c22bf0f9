"""Logs, analytics and spend in headless Chromium (issue 17 items 4 to 6), screenshots at laptop and phone size.

Same set-up as test_portal_browser.py: Debian's /usr/bin/chromium through
Playwright against pytest-django's live server.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.browser.test_portal_browser import LAPTOP, PASSWORD, PHONE, both_sizes, browser, portal, shoot  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    """An organization in Saudi Arabia with a week of messages through two accounts, and another organization."""
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import create_organization, current_policy_version
    from messaging.models import Batch, Message
    from providers.models import ProviderAccount

    now = timezone.now()
    user = User.objects.create_user(
        "nora@shop.test",
        PASSWORD,
        name="Nora",
        privacy_policy_version=current_policy_version(),
        privacy_accepted_at=now,
        confirmed_adult_at=now,
    )
    organization = create_organization(user, "Nora's Shop")
    organization.country = "SA"
    organization.save(update_fields=["country"])
    accounts = []
    for provider, label in (("twilio", "Twilio KSA"), ("infobip", "Infobip backup")):
        account = ProviderAccount(organization=organization, provider=provider, channel="sms", label=label)
        account.set_credentials({})
        account.save()
        accounts.append(account)
    batch = Batch.objects.create(organization=organization, channel="sms", name="Ramadan offers", total=2, accepted=2)
    rows = []
    for day in range(7):
        for n in range(day + 2):
            created = now - timedelta(days=day, minutes=n)
            failed = n == 0 and day % 2 == 0
            rows.append(
                Message(
                    organization=organization,
                    channel="sms" if n % 3 else "whatsapp",
                    to="+971501234567" if n == 1 else f"+96650123{day}{n:03d}",
                    body=f"Order {day}-{n} is on its way",
                    status="undelivered" if failed else ("read" if n % 3 == 0 else "delivered"),
                    error_code="30003" if failed else "",
                    provider_account=accounts[n % 2],
                    provider=accounts[n % 2].provider,
                    created_at=created,
                    sent_at=created,
                    delivered_at=None if failed else created + timedelta(seconds=3 + n),
                    price=Decimal("0.05") if n % 2 == 0 else None,
                    price_currency="USD" if n % 2 == 0 else "",
                    batch=batch if day == 0 and n < 2 else None,
                )
            )
    rows.append(
        Message(organization=organization, channel="sms", to="+966501234567", body="=cmd|' /C calc'!A0", created_at=now)
    )
    Message.objects.bulk_create(rows)
    other = create_organization(
        User.objects.create_user("x@other.test", PASSWORD, privacy_policy_version=current_policy_version()), "Other"
    )
    Message.objects.create(organization=other, channel="sms", to="+966501234567", body="not yours", created_at=now)
    return {"organization": organization, "batch": batch}


def log_in(browser, portal):  # noqa: F811
    context = browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{portal}/login/")
    page.fill("#id_username", "nora@shop.test")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))
    return context, page


def test_search_filter_and_export_the_message_log(browser, portal, shop):  # noqa: F811
    context, page = log_in(browser, portal)
    page.goto(f"{portal}/messages/")
    # A local number, as a Saudi customer types it.
    page.fill("#id_q", "0501234567")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"q=0501234567"))
    rows = page.locator("table.messages-table tbody tr")
    assert rows.count() == 1
    assert "+966501234567" in rows.first.inner_text()
    assert "not yours" not in page.content()
    shoot(page, "logs-search-laptop")

    # Filters: an error code and a provider account.
    page.goto(f"{portal}/messages/")
    page.fill("#id_error_code", "30003")
    page.select_option("#id_provider_account", label="Twilio KSA (Twilio)")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"error_code=30003"))
    listed = page.locator("table.messages-table tbody tr")
    assert listed.count() == 4  # days 0, 2, 4, 6
    assert all("30003" in text for text in listed.all_inner_texts())

    # The export is the filtered list; formulas come out as text.
    with page.expect_download() as download_info:
        page.click("[data-export]")
    download = download_info.value
    assert download.suggested_filename.startswith("messages-") and download.suggested_filename.endswith(".csv")
    lines = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8-sig").read())))
    assert len(lines) == 4 and {line["error_code"] for line in lines} == {"30003"}
    page.goto(f"{portal}/messages/")
    with page.expect_download() as download_info:
        page.click("[data-export]")
    everything = list(csv.DictReader(io.StringIO(open(download_info.value.path(), encoding="utf-8-sig").read())))
    assert len(everything) == 36
    assert any(line["body"].startswith("'=cmd") for line in everything)

    # A bad filter is a message on the form, not an error page.
    page.goto(f"{portal}/messages/?to=12")
    assert page.locator(".error-text").first.is_visible()
    page.set_viewport_size(PHONE)
    shoot(page, "logs-bad-filter-phone")

    both_sizes(
        browser,
        context,
        {
            "logs-filtered": f"{portal}/messages/?error_code=30003",
            "batch-spend": f"{portal}/batches/{shop['batch'].public_id}/",
        },
    )
    context.close()


def test_analytics_charts_read_on_a_phone_and_download(browser, portal, shop):  # noqa: F811
    context, page = log_in(browser, portal)
    page.goto(f"{portal}/analytics/")
    assert page.locator("svg[role=img]").count() >= 4
    assert page.inner_text("[data-total]") == "36"
    assert "USD" in page.inner_text("[data-spend]")
    assert page.locator("[data-breakdown=country] >> text=+971 AE").is_visible()
    assert page.locator("[data-breakdown=provider_account] >> text=Twilio KSA").is_visible()
    assert page.locator("[data-breakdown=error_code] >> text=30003").is_visible()
    # The charts need no script: drawn on the server.
    assert page.evaluate("document.querySelectorAll('main script').length") == 0

    # The chart stretches to a phone's width and stays readable.
    page.set_viewport_size(PHONE)
    box = page.locator("svg[role=img]").first.bounding_box()
    assert box["width"] > 300 and box["height"] >= 150
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1

    with page.expect_download() as download_info:
        page.click("[data-analytics-csv]")
    lines = list(csv.DictReader(io.StringIO(open(download_info.value.path(), encoding="utf-8-sig").read())))
    assert next(line for line in lines if line["section"] == "total")["total"] == "36"

    # An error code links to its messages.
    page.set_viewport_size(LAPTOP)
    page.click("[data-breakdown=error_code] a:has-text('30003')")
    page.wait_for_url(re.compile(r"/portal/messages/\?error_code=30003"))
    assert page.locator("table.messages-table tbody tr").count() >= 4

    both_sizes(browser, context, {"analytics": f"{portal}/analytics/"})
    context.close()
