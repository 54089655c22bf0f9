"""Who sees what: login, roles on every page, and another organization's objects answering 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import ApiKey, Membership, Role
from accounts.services import create_api_key
from messaging.models import Batch, OptOut, Template
from tests.factories import login, make_account, make_message, make_user
from webhooks.models import CallbackEndpoint

pytestmark = pytest.mark.django_db

# (page, the lowest role that may open it)
PAGES = [
    ("portal-dashboard", Role.VIEWER),
    ("portal-messages", Role.VIEWER),
    ("portal-batches", Role.VIEWER),
    ("portal-templates", Role.VIEWER),
    ("portal-opt-outs", Role.VIEWER),
    ("portal-providers", Role.VIEWER),
    ("portal-callbacks", Role.VIEWER),
    ("portal-api-keys", Role.VIEWER),
    ("portal-team", Role.VIEWER),
    ("portal-profile", Role.VIEWER),
    ("portal-password-change", Role.VIEWER),
    ("portal-send", Role.MEMBER),
    ("portal-bulk", Role.MEMBER),
    ("portal-template-new", Role.ADMIN),
    ("portal-provider-connect-choose", Role.ADMIN),
    ("portal-callback-new", Role.ADMIN),
    ("portal-access-log", Role.ADMIN),
]
RANK = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("portal-messages"))
    assert response.status_code == 302
    assert response["Location"] == "/portal/login/?next=/portal/messages/"


@pytest.mark.parametrize("role", RANK)
def test_each_page_opens_for_the_roles_it_is_meant_for(acme, role):
    client = login(make_user(f"{role}@acme.test", acme, role))
    for name, minimum in PAGES:
        response = client.get(reverse(name))
        expected = 200 if RANK.index(role) >= RANK.index(minimum) else 403
        assert response.status_code == expected, (name, role, response.status_code)
        if expected == 403:
            assert b"Not allowed" in response.content


def test_a_viewer_changes_nothing(viewer_client, acme, sandbox):
    message = make_message(acme, status="queued")
    key, _ = create_api_key(acme, "CI")
    template = Template.objects.create(organization=acme, name="welcome", body="Hi {{name}}")
    optout = OptOut.objects.create(organization=acme, channel="sms", phone="+966501234567")
    endpoint = CallbackEndpoint.objects.create(organization=acme, url="https://example.com/hook")
    posts = [
        (reverse("portal-send"), {"channel": "sms", "to": "+966501234568", "body": "hi"}),
        (reverse("portal-message-cancel", args=[message.public_id]), {}),
        (reverse("portal-opt-outs"), {"channel": "sms", "phone": "+966501234569"}),
        (reverse("portal-opt-out-remove", args=[optout.pk]), {}),
        (reverse("portal-template-new"), {"channel": "sms", "name": "x", "language": "en", "body": "x"}),
        (reverse("portal-template-delete", args=[template.public_id]), {}),
        (reverse("portal-api-keys"), {"name": "mine", "role": "admin"}),
        (reverse("portal-api-key-revoke", args=[key.public_id]), {}),
        (reverse("portal-team"), {"email": "new@acme.test", "role": "owner"}),
        (reverse("portal-provider-check", args=[sandbox.public_id]), {}),
        (reverse("portal-provider-toggle", args=[sandbox.public_id]), {"active": "0"}),
        (reverse("portal-provider-delete", args=[sandbox.public_id]), {}),
        (reverse("portal-callback-new"), {"url": "https://example.com/x", "events": ["all"]}),
        (reverse("portal-callback-test", args=[endpoint.public_id]), {}),
        (reverse("portal-callback-delete", args=[endpoint.public_id]), {}),
    ]
    for url, data in posts:
        assert viewer_client.post(url, data).status_code == 403, url
    message.refresh_from_db()
    sandbox.refresh_from_db()
    key.refresh_from_db()
    assert message.status == "queued" and sandbox.is_active and key.revoked_at is None
    assert OptOut.objects.filter(organization=acme).count() == 1
    assert Template.objects.filter(organization=acme).count() == 1
    assert CallbackEndpoint.objects.filter(organization=acme).count() == 1
    assert ApiKey.objects.filter(organization=acme).count() == 1
    assert not Membership.objects.filter(user__email="new@acme.test").exists()


def test_a_member_sends_but_does_not_manage_settings(member_client, acme, sandbox):
    key, _ = create_api_key(acme, "CI")
    assert member_client.post(reverse("portal-api-keys"), {"name": "k", "role": "member"}).status_code == 403
    assert member_client.post(reverse("portal-api-key-revoke", args=[key.public_id])).status_code == 403
    assert member_client.post(reverse("portal-provider-check", args=[sandbox.public_id])).status_code == 403
    assert member_client.post(reverse("portal-team"), {"email": "x@acme.test", "role": "member"}).status_code == 403
    response = member_client.post(reverse("portal-send"), {"channel": "sms", "to": "+966501234567", "body": "Hi"})
    assert response.status_code == 302


def test_buttons_a_viewer_cannot_use_are_hidden(viewer_client, acme, sandbox):
    message = make_message(acme, status="queued")
    page = viewer_client.get(reverse("portal-message", args=[message.public_id])).content.decode()
    assert "Cancel the message" not in page
    assert reverse("portal-send") not in page
    providers = viewer_client.get(reverse("portal-providers")).content.decode()
    assert "Test connection" not in providers and "Connect an account" not in providers
    assert sandbox.callback_url not in providers
    keys = viewer_client.get(reverse("portal-api-keys")).content.decode()
    assert "Create a key" not in keys


def test_another_organizations_objects_are_not_found(owner_client, globex, globex_owner):
    account = make_account(globex)
    message = make_message(globex, status="queued", provider_account=account)
    batch = Batch.objects.create(organization=globex, channel="sms")
    key, _ = create_api_key(globex, "theirs")
    template = Template.objects.create(organization=globex, name="theirs", body="Hi")
    optout = OptOut.objects.create(organization=globex, channel="sms", phone="+966501234567")
    endpoint = CallbackEndpoint.objects.create(organization=globex, url="https://globex.example/hook")
    membership = Membership.objects.get(user=globex_owner)
    gets = [
        reverse("portal-message", args=[message.public_id]),
        reverse("portal-message-status", args=[message.public_id]),
        reverse("portal-batch", args=[batch.public_id]),
        reverse("portal-batch-progress", args=[batch.public_id]),
        reverse("portal-provider-edit", args=[account.public_id]),
        reverse("portal-provider-delete", args=[account.public_id]),
        reverse("portal-template-edit", args=[template.public_id]),
        reverse("portal-callback", args=[endpoint.public_id]),
        reverse("portal-callback-edit", args=[endpoint.public_id]),
    ]
    for url in gets:
        response = owner_client.get(url)
        assert response.status_code == 404, url
    posts = [
        reverse("portal-message-cancel", args=[message.public_id]),
        reverse("portal-provider-check", args=[account.public_id]),
        reverse("portal-provider-toggle", args=[account.public_id]),
        reverse("portal-provider-delete", args=[account.public_id]),
        reverse("portal-api-key-revoke", args=[key.public_id]),
        reverse("portal-template-delete", args=[template.public_id]),
        reverse("portal-opt-out-remove", args=[optout.pk]),
        reverse("portal-callback-test", args=[endpoint.public_id]),
        reverse("portal-callback-delete", args=[endpoint.public_id]),
        reverse("portal-team-remove", args=[membership.pk]),
        reverse("portal-team-role", args=[membership.pk]),
    ]
    for url in posts:
        assert owner_client.post(url).status_code == 404, url
    key.refresh_from_db()
    assert key.revoked_at is None
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert CallbackEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_lists_show_only_the_current_organization(owner_client, acme, globex):
    make_message(acme, status="queued", to="+966501111111")
    make_message(globex, status="queued", to="+966502222222")
    page = owner_client.get(reverse("portal-messages")).content.decode()
    assert "+966501111111" in page and "+966502222222" not in page


def test_a_member_of_two_organizations_switches_between_them(owner, acme, globex):
    Membership.objects.create(user=owner, organization=globex, role=Role.VIEWER)
    make_message(globex, status="queued", to="+966502222222")
    client = login(owner)
    page = client.get(reverse("portal-dashboard")).content.decode()
    assert 'id="org-switch"' in page and "Globex" in page
    response = client.post(reverse("portal-switch-organization"), {"organization": str(globex.public_id)})
    assert response.status_code == 302
    assert client.session["organization_id"] == globex.pk
    assert "+966502222222" in client.get(reverse("portal-messages")).content.decode()
    # A viewer there: sending is refused.
    assert client.get(reverse("portal-send")).status_code == 403


def test_one_cannot_switch_to_an_organization_one_is_not_in(owner_client, acme, globex):
    owner_client.get(reverse("portal-dashboard"))
    owner_client.post(reverse("portal-switch-organization"), {"organization": str(globex.public_id)})
    assert owner_client.session["organization_id"] == acme.pk


def test_a_stale_organization_in_the_session_falls_back_to_the_first_membership(owner, acme, globex):
    client = login(owner)
    session = client.session
    session["organization_id"] = globex.pk
    session.save()
    assert client.get(reverse("portal-dashboard")).status_code == 200
    assert client.session["organization_id"] == acme.pk


def test_a_user_without_an_organization_creates_one(db):
    user = make_user("lonely@example.test")
    client = login(user)
    response = client.get(reverse("portal-dashboard"))
    assert response["Location"] == reverse("portal-no-organization")
    assert b"You are not in an organization" in client.get(response["Location"]).content
    response = client.post(reverse("portal-no-organization"), {"name": "Lonely Ltd"})
    assert response.status_code == 302
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER and membership.organization.name == "Lonely Ltd"


def test_portal_pages_are_never_cached(owner_client):
    response = owner_client.get(reverse("portal-dashboard"))
    assert "no-store" in response["Cache-Control"]
