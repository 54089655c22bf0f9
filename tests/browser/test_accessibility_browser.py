"""axe-core on every portal page (issue 17 item 10): no serious or critical violation, at laptop and phone size.

axe-core comes from the `axe-playwright-python` package (its bundled
axe.min.js, pinned in requirements.txt): nothing is downloaded at test time.
The other browser tests take the screenshots; this one only reads pages (about
70 axe runs, half a second each).
`PAGES` must name every GET page of /portal/ (checked without a browser by
`test_every_portal_page_is_checked`), so a new page cannot be forgotten.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.browser.test_portal_browser import LAPTOP, PASSWORD, PHONE, browser, portal  # noqa: F401
from tests.factories import make_account

# Pages of /portal/ that are not pages (JSON, POST-only actions, downloads) or need a one-time token.
NOT_PAGES = {
    "portal-logout",
    "portal-batch-refused",  # the refused rows of a bulk upload, as CSV
    "portal-switch-organization",
    "portal-message-status",
    "portal-message-cancel",
    "portal-batch-progress",
    "portal-template-sync",
    "portal-opt-out-remove",
    "portal-api-key-revoke",
    "portal-team-role",
    "portal-team-remove",
    "portal-team-resend",
    "portal-provider-check",
    "portal-provider-toggle",
    "portal-callback-test",
    "portal-privacy-export",
    "portal-privacy-export-download",
    "portal-privacy-my-data",
    "portal-privacy-consent",
    "portal-privacy-restrict",
    "portal-privacy-cancel-deletion",
    "portal-privacy-pause",
    "portal-privacy-resume",
    "portal-privacy-delete-organization",
    "portal-privacy-delete-account",
    "portal-provider-rotate-token",
    "portal-callback-rotate-secret",
    "portal-sandbox-inbound",
    # CSV downloads.
    "portal-messages-export",
    "portal-analytics-export",
    # Reached only with a fresh token from an earlier step (e-mail, upload, a just-created secret).
    "portal-password-reset-confirm",
    "portal-bulk-map",
    "portal-bulk-preview",
    "portal-api-key-created",
    "portal-callback-created",
}
# Pages seen by someone logged out.
PUBLIC = [
    "portal-login",
    "portal-signup",
    "portal-password-reset",
    "portal-password-reset-done",
    "portal-password-reset-complete",
    "portal-signup-sent",
]
# Public pages that take arguments: a wrong or used confirmation link answers with a page of its own.
PUBLIC_WITH_ARGS = {"portal-signup-confirm": ["MQ", "not-a-token"]}
# axe impacts that fail the test.
FAILING = ("serious", "critical")


def portal_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.name and (prefix + str(p.pattern)).startswith("portal/"):
                names.add(p.name)

    walk(get_resolver().url_patterns, "")
    return names


def pages_for(data: dict) -> dict[str, str]:
    """Every page to check: url name -> path (with the objects `data` made)."""
    from django.urls import reverse

    return {
        "portal-dashboard": reverse("portal-dashboard"),
        "portal-messages": reverse("portal-messages"),
        "portal-message": reverse("portal-message", args=[data["failed"].public_id]),
        "portal-send": reverse("portal-send"),
        "portal-bulk": reverse("portal-bulk"),
        "portal-batches": reverse("portal-batches"),
        "portal-batch": reverse("portal-batch", args=[data["batch"].public_id]),
        "portal-templates": reverse("portal-templates"),
        "portal-template-new": reverse("portal-template-new"),
        "portal-template-edit": reverse("portal-template-edit", args=[data["template"].public_id]),
        "portal-template-delete": reverse("portal-template-delete", args=[data["template"].public_id]),
        "portal-opt-outs": reverse("portal-opt-outs"),
        "portal-providers": reverse("portal-providers"),
        "portal-provider-connect-choose": reverse("portal-provider-connect-choose"),
        "portal-provider-connect": reverse("portal-provider-connect", args=["twilio"]),
        "portal-provider-edit": reverse("portal-provider-edit", args=[data["account"].public_id]),
        "portal-provider-delete": reverse("portal-provider-delete", args=[data["account"].public_id]),
        "portal-callbacks": reverse("portal-callbacks"),
        "portal-callback-new": reverse("portal-callback-new"),
        "portal-callback": reverse("portal-callback", args=[data["endpoint"].public_id]),
        "portal-callback-edit": reverse("portal-callback-edit", args=[data["endpoint"].public_id]),
        "portal-callback-delete": reverse("portal-callback-delete", args=[data["endpoint"].public_id]),
        "portal-api-keys": reverse("portal-api-keys"),
        "portal-team": reverse("portal-team"),
        "portal-access-log": reverse("portal-access-log"),
        "portal-profile": reverse("portal-profile"),
        "portal-password-change": reverse("portal-password-change"),
        "portal-privacy": reverse("portal-privacy"),
        "portal-no-organization": reverse("portal-no-organization"),
        "portal-organization-settings": reverse("portal-organization-settings"),
        "portal-analytics": reverse("portal-analytics"),
        "portal-inbox": reverse("portal-inbox"),
        "portal-inbox-conversation": reverse("portal-inbox-conversation", args=[data["inbound"].from_number]),
    }


PAGE_NAMES = {
    "portal-dashboard", "portal-messages", "portal-message", "portal-send", "portal-bulk", "portal-batches",
    "portal-batch", "portal-templates", "portal-template-new", "portal-template-edit", "portal-template-delete",
    "portal-opt-outs", "portal-providers", "portal-provider-connect-choose", "portal-provider-connect",
    "portal-provider-edit", "portal-provider-delete", "portal-callbacks", "portal-callback-new", "portal-callback",
    "portal-callback-edit", "portal-callback-delete", "portal-api-keys", "portal-team", "portal-access-log",
    "portal-profile", "portal-password-change", "portal-privacy", "portal-no-organization",
    "portal-organization-settings", "portal-analytics", "portal-inbox", "portal-inbox-conversation",
}  # fmt: skip


def test_every_portal_page_is_checked():
    unknown = portal_url_names() - PAGE_NAMES - NOT_PAGES - set(PUBLIC) - set(PUBLIC_WITH_ARGS)
    assert not unknown, f"portal pages without an accessibility check: {sorted(unknown)}"


def make_data():
    from django.utils import timezone

    from accounts.models import AccessLog, Membership, Role, User
    from accounts.services import create_api_key, create_organization, current_policy_version
    from messaging.models import Batch, Message, OptOut, Status, Template
    from webhooks.models import CallbackEndpoint

    now = timezone.now()
    consent = {"privacy_policy_version": current_policy_version(), "privacy_accepted_at": now,
               "confirmed_adult_at": now}  # fmt: skip
    user = User.objects.create_user("lina@clinic.test", PASSWORD, name="Lina Haddad", **consent)
    organization = create_organization(user, "Lina's Clinic")
    colleague = User.objects.create_user("sam@clinic.test", name="Sam", **consent)
    Membership.objects.create(user=colleague, organization=organization, role=Role.VIEWER)
    account = make_account(organization, label="Sandbox SMS", default_sender="Clinic")
    make_account(organization, label="Down SMS", health_status="unreachable", health_detail="Connection refused")
    template = Template.objects.create(organization=organization, channel="sms", name="reminder",
                                       body="Hello {{name}}, see you at {{time}}.")  # fmt: skip
    batch = Batch.objects.create(organization=organization, channel="sms", name="Reminders", total=2, accepted=2)
    common = {"organization": organization, "channel": "sms", "provider_account": account, "provider": "sandbox"}
    for status in (Status.DELIVERED, Status.READ, Status.SENT, Status.QUEUED, Status.SCHEDULED, Status.CANCELED,
                   Status.UNDELIVERED, Status.REJECTED):  # fmt: skip
        Message.objects.create(to="+966501234567", body=f"A {status} message", status=status, batch=batch, **common)
    failed = Message.objects.create(
        to="+966501234568",
        template=template,
        template_params={"name": "Omar", "time": "10:00"},
        status=Status.FAILED,
        error_code="30003",
        error_message="Unreachable destination handset",
        **common,
    )
    OptOut.objects.create(organization=organization, channel="sms", phone="+966501230000", source="api")
    endpoint = CallbackEndpoint.objects.create(organization=organization, url="https://example.com/hooks/jood")
    create_api_key(organization, "Production", role="admin")
    AccessLog.objects.create(organization=organization, user=user, action="login", ip="192.0.2.1")
    # The inbox: a WhatsApp reply through the sandbox (open window) and an unread SMS.
    from messaging.models import InboundMessage
    from webhooks.services import simulate_sandbox_inbound

    make_account(organization, channel="whatsapp", label="Sandbox WhatsApp")
    inbound = simulate_sandbox_inbound(organization, "+966501234567", "Is my appointment at ten?", channel="whatsapp")
    InboundMessage.objects.create(organization=organization, channel="sms", from_number="+966551234567", body="Hi")
    return {"user": user, "account": account, "template": template, "batch": batch, "failed": failed,
            "endpoint": endpoint, "inbound": inbound}  # fmt: skip


def serious(results: dict) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in results["violations"]
        if v.get("impact") in FAILING
    ]


def check(axe, page, label: str, problems: dict) -> None:
    found = serious(axe.run(page).response)
    if found:
        problems[label] = found


def log_in(chromium, portal_url: str, viewport):
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{portal_url}/login/")
    page.fill("#id_username", "lina@clinic.test")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/portal/$"))
    return context, page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_portal_page_has_a_serious_or_critical_axe_violation(browser, portal):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    data = make_data()
    base = portal.removesuffix("/portal")
    problems: dict[str, list[str]] = {}

    # Logged out: the public pages and the privacy policy.
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    from django.urls import reverse

    for name in PUBLIC:
        page.goto(base + reverse(name))
        check(axe, page, name, problems)
    for name, args in PUBLIC_WITH_ARGS.items():
        page.goto(base + reverse(name, args=args))
        check(axe, page, name, problems)
    page.goto(f"{base}/privacy/")
    check(axe, page, "privacy-policy", problems)
    # A form that came back with errors.
    page.goto(f"{portal}/signup/")
    page.click("button[type=submit]")
    page.wait_for_selector(".has-error")
    check(axe, page, "signup-errors", problems)
    context.close()

    # Logged in, every page at laptop size, then at phone size (the folded navigation).
    pages = pages_for(data)
    for label, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        context, page = log_in(browser, portal, viewport)
        for name, path in pages.items():
            response = page.goto(base + path)
            # An error page would be checked in place of the page itself.
            assert response.ok, f"{name} ({label}) answered {response.status}"
            if page.locator("[data-chart]").count():
                page.wait_for_selector("[data-chart][data-drawn=true]")
            check(axe, page, f"{name} ({label})", problems)
        if label == "phone":
            page.goto(f"{portal}/messages/")
            page.click("label.nav-toggle-label")
            check(axe, page, "menu open (phone)", problems)
        context.close()

    report = "\n".join(f"{page}: {issue}" for page, issues in problems.items() for issue in issues)
    assert not problems, f"serious or critical accessibility violations:\n{report}"
