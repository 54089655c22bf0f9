"""A person deletes their own account; consent to a new privacy policy."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccessLog, Membership, Role, User
from retention import services
from tests.factories import make_user

pytestmark = pytest.mark.django_db

MIDDLEWARE = "retention.middleware.PrivacyConsentMiddleware"


# --- deleting one's account ---------------------------------------------------------------


def test_a_member_deletes_their_account_and_the_log_keeps_their_address(acme, owner, member):
    AccessLog.objects.create(organization=acme, user=member, actor_label=member.email, action="login")

    services.delete_user(member, services.Actor(user=member))

    assert not User.objects.filter(pk=member.pk).exists()
    assert not Membership.objects.filter(user_id=member.pk).exists()
    login = AccessLog.objects.get(action="login")
    assert login.user is None and login.actor_label == "member@acme.test"
    deleted = AccessLog.objects.get(action="user_deleted")
    assert deleted.organization == acme and deleted.actor_label == "member@acme.test"


def test_the_last_owner_cannot_delete_their_account(acme, owner):
    with pytest.raises(services.PrivacyError) as error:
        services.delete_user(owner, services.Actor(user=owner))
    assert error.value.code == "last_owner"
    assert "Acme Corp" in error.value.message
    assert User.objects.filter(pk=owner.pk).exists()


def test_an_owner_with_a_co_owner_can_go(acme, owner):
    make_user("second@acme.test", acme, Role.OWNER)
    services.delete_user(owner, services.Actor(user=owner))
    assert not User.objects.filter(pk=owner.pk).exists()


def test_the_last_owner_of_an_organization_being_deleted_can_go(acme, owner):
    services.request_organization_deletion(acme, services.Actor(user=owner))
    services.delete_user(owner, services.Actor(user=owner))
    assert not User.objects.filter(pk=owner.pk).exists()


def test_the_portal_deletes_my_account_with_my_typed_address(acme, owner, member, client):
    member.privacy_policy_version = services.current_policy_version()
    member.save()
    client.force_login(member)

    client.post(reverse("portal-privacy-delete-account"), {"confirm": "someone@else.test"})
    assert User.objects.filter(pk=member.pk).exists()

    response = client.post(reverse("portal-privacy-delete-account"), {"confirm": "Member@Acme.test"})
    assert response.status_code == 302 and response.url == reverse("portal-login")
    assert not User.objects.filter(pk=member.pk).exists()
    assert "_auth_user_id" not in client.session


def test_the_portal_refuses_the_last_owner(acme, owner_client, owner):
    page = owner_client.get(reverse("portal-privacy")).content.decode()
    assert "You are the only owner of Acme Corp" in page
    owner_client.post(reverse("portal-privacy-delete-account"), {"confirm": owner.email})
    assert User.objects.filter(pk=owner.pk).exists()


# --- the privacy policy and consent -------------------------------------------------------


def test_the_privacy_policy_is_public_with_its_date(client, settings):
    settings.PRIVACY_POLICY_VERSION = "2027-02-01"
    response = client.get("/privacy/")
    assert response.status_code == 200
    assert "Last updated" in response.content.decode() and "2027-02-01" in response.content.decode()


def test_the_default_policy_version():
    # The default lives in jood/settings.py (PRIVACY_POLICY_VERSION not in the environment).
    assert services.current_policy_version() == "2026-11-01"


@pytest.fixture
def consent_middleware(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, MIDDLEWARE]


def test_a_user_who_has_not_accepted_the_current_policy_is_sent_to_accept_it(
    acme, owner, client, settings, consent_middleware
):
    settings.PRIVACY_POLICY_VERSION = "2027-02-01"
    owner.privacy_policy_version = "2026-11-01"
    owner.confirmed_adult_at = timezone.now()
    owner.save()
    client.force_login(owner)

    response = client.get("/portal/privacy/?tab=1")
    # The privacy page stays open (a user may prefer to delete their account), other pages redirect.
    assert response.status_code == 200
    response = client.get(reverse("portal-privacy-pause"))
    assert response.status_code == 302
    assert response.url == "/privacy/accept/?next=%2Fportal%2Fprivacy%2Fpause%2F"

    page = client.get(response.url)
    assert page.status_code == 200 and "has changed" in page.content.decode()
    assert client.post("/privacy/accept/", {"next": "/portal/privacy/"}).status_code == 200  # box not ticked
    response = client.post("/privacy/accept/", {"accept": "on", "next": "/portal/privacy/"})
    assert response.status_code == 302 and response.url == "/portal/privacy/"

    owner.refresh_from_db()
    assert owner.privacy_policy_version == "2027-02-01" and owner.privacy_accepted_at is not None
    log = AccessLog.objects.get(action="consent")
    assert log.user == owner and log.organization == acme and log.detail["privacy_policy_version"] == "2027-02-01"
    assert client.get(reverse("portal-privacy-pause")).status_code == 405  # through to the view: GET not allowed


def test_a_user_who_never_confirmed_their_age_confirms_it_too(acme, member, client, consent_middleware):
    member.confirmed_adult_at = None
    member.privacy_policy_version = ""
    member.save()
    client.force_login(member)
    assert client.post("/privacy/accept/", {"accept": "on"}).status_code == 200
    client.post("/privacy/accept/", {"accept": "on", "adult": "on"})
    member.refresh_from_db()
    assert member.confirmed_adult_at is not None and member.privacy_policy_version == services.current_policy_version()


def test_an_offsite_next_is_ignored(acme, member, client):
    client.force_login(member)
    response = client.post("/privacy/accept/", {"accept": "on", "adult": "on", "next": "https://evil.example/"})
    assert response.url == "/portal/"


def test_anonymous_visitors_the_api_and_the_admin_are_not_redirected(acme, owner, acme_api, client, consent_middleware):
    assert client.get("/privacy/").status_code == 200
    assert acme_api.get("/api/v1/organization").status_code == 200
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    assert client.get("/admin/").status_code == 200


def test_the_accept_page_needs_a_login(client):
    response = client.get("/privacy/accept/")
    assert response.status_code == 302 and "/portal/login/" in response.url
