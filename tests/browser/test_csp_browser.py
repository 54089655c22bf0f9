"""Under the Content-Security-Policy, the admin, the API docs (Redoc) and the
portal still work in a real browser, and the browser reports no violation
(issue 13, hole 9)."""

from __future__ import annotations

import pytest

from tests.browser.test_portal_browser import ARGS, CHROMIUM, LAPTOP, PASSWORD, browser  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch(page) -> list[str]:
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return violations


def test_redoc_renders_the_api_docs(browser, live_server):  # noqa: F811
    page = browser.new_page(viewport=LAPTOP)
    violations = _watch(page)
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector("text=Jood Notifications API", timeout=30_000)
    page.wait_for_selector('text="/api/v1/messages"', state="attached", timeout=30_000)
    # Redoc's "by Redocly" logo from its CDN is blocked, as every outside load should be;
    # nothing Redoc needs to run is.
    assert [v for v in violations if "img-src" not in v] == []


def test_the_admin_and_the_portal_work(browser, live_server, settings):  # noqa: F811
    from accounts.models import Organization, Role, User
    from tests.factories import make_account, make_user

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_superuser("root@jood.test", PASSWORD)
    acme = Organization.objects.create(name="Acme Corp")
    owner = make_user("owner@acme.test", acme, Role.OWNER)
    owner.set_password(PASSWORD)
    owner.save()
    make_account(acme)

    page = browser.new_page(viewport=LAPTOP)
    violations = _watch(page)
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "root@jood.test")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    pages = ["/admin/accounts/organization/", "/admin/messaging/message/operations/"]
    pages += ["/admin/accounts/organization/add/"]
    for path in pages:
        response = page.goto(live_server.url + path)
        assert response.status == 200, (path, response.status)
        page.wait_for_selector("#content", state="attached")
    # The admin's own scripts ran: the "add" form's related-object widgets are wired.
    assert page.evaluate("typeof django !== 'undefined' && typeof django.jQuery === 'function'")
    assert violations == [], violations

    portal = browser.new_page(viewport=LAPTOP)
    violations = _watch(portal)
    portal.goto(live_server.url + "/portal/login/")
    portal.fill("#id_username", "owner@acme.test")
    portal.fill("#id_password", PASSWORD)
    portal.click("button[type=submit]")
    portal.wait_for_selector("[data-chart][data-drawn=true]")
    assert violations == [], violations
