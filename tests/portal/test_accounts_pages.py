"""Sign up, log in, password reset, API keys, team, access log, profile."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AccessLog, ApiKey, Membership, Organization, Role, User, hash_key
from accounts.services import create_api_key
from tests.factories import login, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Sunny-Harbor-42"
SIGNUP = {
    "organization_name": "Sara's Bakery",
    "name": "Sara Ali",
    "email": "Sara@Bakery.test",
    "phone": "+966 50 123 4567",
    "password": PASSWORD,
    "confirmed_adult": "on",
    "privacy_consent": "on",
}


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- sign up ---------------------------------------------------------------------------------
def test_sign_up_creates_the_user_the_organization_and_the_owner_membership(
    client, settings, django_capture_on_commit_callbacks
):
    settings.PRIVACY_POLICY_VERSION = "2027-01-15"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal-signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-signup-sent")
    # The emailed link confirms the address and logs in.
    link = re.search(r"/portal/signup/confirm/\S+/", mail.outbox[-1].body).group(0)
    response = client.get(link)
    assert response["Location"] == reverse("portal-providers")
    user = User.objects.get(email="sara@bakery.test")
    assert user.name == "Sara Ali" and user.phone == "+966 50 123 4567"
    assert user.check_password(PASSWORD)
    assert user.privacy_policy_version == "2027-01-15"
    assert user.privacy_accepted_at is not None and user.confirmed_adult_at is not None
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER and membership.organization.name == "Sara's Bakery"
    # Logged in, working in the new organization.
    assert int(client.session[SESSION_KEY]) == user.pk
    assert client.session["organization_id"] == membership.organization_id
    actions = set(AccessLog.objects.filter(user=user).values_list("action", flat=True))
    assert {"signup", "consent", "login", "organization_changed"} <= actions
    consent = AccessLog.objects.get(user=user, action="consent")
    assert consent.detail["privacy_policy_version"] == "2027-01-15"


def test_sign_up_uses_the_default_policy_version_without_the_setting(client):
    # The default lives in jood/settings.py (PRIVACY_POLICY_VERSION not in the environment).
    client.post(reverse("portal-signup"), SIGNUP)
    assert User.objects.get(email="sara@bakery.test").privacy_policy_version == "2026-11-01"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("confirmed_adult", None, "You must be 18 or older"),
        ("privacy_consent", None, "Please accept the privacy policy"),
        ("password", "12345678", "This password is entirely numeric"),
        ("phone", "call me", "Enter a phone number"),
        ("email", "not-an-email", "Enter a valid email address"),
    ],
)
def test_sign_up_refuses_what_is_missing_or_wrong_next_to_the_field(client, field, value, error):
    data = {**SIGNUP}
    if value is None:
        data.pop(field)
    else:
        data[field] = value
    response = client.post(reverse("portal-signup"), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'id="id_{field}_error"' in page
    assert error in page
    assert not User.objects.exists() and not Organization.objects.exists()


def test_sign_up_with_an_email_in_use_creates_nothing_and_tells_its_owner(
    client, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal-signup"), {**SIGNUP, "email": "OWNER@acme.test"})
    # The same answer as a new address (tests/hardening/test_signup.py): the email tells the owner.
    assert response["Location"] == reverse("portal-signup-sent")
    assert Organization.objects.count() == 1
    assert mail.outbox[-1].to == ["owner@acme.test"] and "already has an account" in mail.outbox[-1].body


# --- log in, log out, password reset --------------------------------------------------------------
def test_log_in_and_out(owner):
    owner.set_password(PASSWORD)
    owner.save()
    client = Client()
    assert client.get(reverse("portal-login")).status_code == 200
    response = client.post(reverse("portal-login"), {"username": "owner@acme.test", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("portal-dashboard")
    assert AccessLog.objects.filter(user=owner, action="login").exists()
    response = client.post(reverse("portal-logout"))
    assert response["Location"] == reverse("portal-login")
    assert client.get(reverse("portal-dashboard")).status_code == 302


def test_a_wrong_password_is_refused_and_logged(owner):
    response = Client().post(reverse("portal-login"), {"username": "owner@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert AccessLog.objects.filter(action="login_failed", actor_label="owner@acme.test").exists()


def test_password_reset_emails_a_link_that_sets_a_new_password(owner):
    owner.set_password("Old-Password-1")
    owner.save()
    client = Client()
    response = client.post(reverse("portal-password-reset"), {"email": "owner@acme.test"})
    assert response["Location"] == reverse("portal-password-reset-done")
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/portal/reset/\S+/)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    assert b"Choose a password" in response.content
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD}, follow=True
    )
    assert b"Your password is saved" in response.content
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


# --- API keys ----------------------------------------------------------------------------------------
def test_a_new_api_keys_secret_is_shown_once_in_the_answer_to_the_form(admin_client, acme):
    response = admin_client.post(reverse("portal-api-keys"), {"name": "Billing", "role": "member"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    secret = re.search(r'id="new-secret" class="secret">(jood_[^<]+)<', page).group(1)
    key = ApiKey.objects.get(organization=acme, name="Billing")
    assert key.hashed_key == hash_key(secret) and key.role == "member"
    # Never again: not on a reload, not in the list.
    again = admin_client.get(reverse("portal-api-key-created")).content.decode()
    assert secret not in again and "no longer shown" in again
    listing = admin_client.get(reverse("portal-api-keys")).content.decode()
    assert secret not in listing and key.prefix in listing
    assert AccessLog.objects.filter(organization=acme, action="key_created").exists()


def test_the_secret_page_of_another_organization_shows_nothing(admin_user, acme, globex):
    Membership.objects.create(user=admin_user, organization=globex, role=Role.ADMIN)
    client = login(admin_user)
    client.get(reverse("portal-dashboard"))
    client.post(reverse("portal-api-keys"), {"name": "Billing", "role": "member"})
    client.post(reverse("portal-switch-organization"), {"organization": str(globex.public_id)})
    page = client.get(reverse("portal-api-key-created")).content.decode()
    assert "jood_" not in page


def test_an_admin_revokes_a_key(admin_client, acme):
    key, _ = create_api_key(acme, "Old")
    response = admin_client.post(reverse("portal-api-key-revoke", args=[key.public_id]), follow=True)
    assert b"is revoked" in response.content
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AccessLog.objects.filter(organization=acme, action="key_revoked").exists()


def test_a_key_name_is_required(admin_client, acme):
    response = admin_client.post(reverse("portal-api-keys"), {"name": "", "role": "member"})
    assert response.status_code == 200 and b'id="id_name_error"' in response.content
    assert not ApiKey.objects.filter(organization=acme).exists()


# --- team ----------------------------------------------------------------------------------------------
def test_inviting_a_new_person_creates_their_user_and_emails_a_set_password_link(
    admin_client, acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("portal-team"), {"email": "New.Person@acme.test", "role": "member"})
    assert response.status_code == 302
    user = User.objects.get(email="new.person@acme.test")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user, organization=acme).role == Role.MEMBER
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.person@acme.test"]
    link = re.search(r"http://testserver(/portal/reset/\S+/)", mail.outbox[0].body).group(1)
    client = Client()
    response = client.get(link, follow=True)
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD}, follow=True
    )
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert AccessLog.objects.filter(organization=acme, action="member_invited").exists()
    page = admin_client.get(reverse("portal-team")).content.decode()
    assert "new.person@acme.test" in page


def test_inviting_someone_with_an_account_adds_them(
    admin_client, acme, globex_owner, django_capture_on_commit_callbacks
):
    globex_owner.set_password(PASSWORD)
    globex_owner.save()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("portal-team"), {"email": "owner@globex.test", "role": "viewer"})
    assert Membership.objects.get(user=globex_owner, organization=acme).role == Role.VIEWER
    assert "Log in with your account" in mail.outbox[0].body


def test_a_member_already_in_is_not_invited_twice(admin_client, member):
    response = admin_client.post(reverse("portal-team"), {"email": "member@acme.test", "role": "admin"})
    assert b"This person is a member already" in response.content


def test_only_an_owner_invites_or_makes_owners(admin_client, owner_client, acme, member):
    response = admin_client.post(reverse("portal-team"), {"email": "boss@acme.test", "role": "owner"})
    assert b'id="id_role_error"' in response.content
    membership = Membership.objects.get(user=member)
    admin_client.post(reverse("portal-team-role", args=[membership.pk]), {f"m{membership.pk}-role": "owner"})
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER
    owner_client.post(reverse("portal-team-role", args=[membership.pk]), {f"m{membership.pk}-role": "owner"})
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_an_admin_changes_a_members_role(admin_client, member):
    membership = Membership.objects.get(user=member)
    response = admin_client.post(
        reverse("portal-team-role", args=[membership.pk]), {f"m{membership.pk}-role": "viewer"}, follow=True
    )
    assert b"is now viewer" in response.content
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_the_last_owner_can_be_neither_removed_nor_demoted(owner_client, owner):
    membership = Membership.objects.get(user=owner)
    response = owner_client.post(reverse("portal-team-remove", args=[membership.pk]), follow=True)
    assert b"The last owner cannot be removed" in response.content
    response = owner_client.post(
        reverse("portal-team-role", args=[membership.pk]), {f"m{membership.pk}-role": "admin"}, follow=True
    )
    assert b"An organization needs an owner" in response.content
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_an_owner_is_removed_when_another_owner_remains(owner_client, acme, owner):
    other = make_user("second@acme.test", acme, Role.OWNER)
    membership = Membership.objects.get(user=other)
    owner_client.post(reverse("portal-team-remove", args=[membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert User.objects.filter(pk=other.pk).exists()
    assert AccessLog.objects.filter(organization=acme, action="member_removed").exists()


def test_an_admin_cannot_remove_an_owner(admin_client, owner):
    membership = Membership.objects.get(user=owner)
    response = admin_client.post(reverse("portal-team-remove", args=[membership.pk]), follow=True)
    assert b"Only an owner can change or remove an owner" in response.content
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_pending_invitation_can_be_sent_again(admin_client, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("portal-team"), {"email": "late@acme.test", "role": "member"})
    membership = Membership.objects.get(user__email="late@acme.test")
    assert b"invitation pending" in admin_client.get(reverse("portal-team")).content
    admin_client.post(reverse("portal-team-resend", args=[membership.pk]))
    assert len(mail.outbox) == 2


# --- access log, profile -------------------------------------------------------------------------------
def test_the_access_log_shows_the_organizations_rows_only(admin_client, acme, globex):
    create_api_key(acme, "ours")
    create_api_key(globex, "theirs")
    page = admin_client.get(reverse("portal-access-log")).content.decode()
    assert "Key Created" in page and "ours" in page and "theirs" not in page
    filtered = admin_client.get(reverse("portal-access-log") + "?action=key_revoked").content.decode()
    assert "ours" not in filtered


def test_the_access_log_pages_without_counting(admin_client, acme):
    for n in range(55):
        create_api_key(acme, f"key {n}")
    page = admin_client.get(reverse("portal-access-log")).content.decode()
    assert 'rel="next"' in page
    second = admin_client.get(reverse("portal-access-log") + "?page=2").content.decode()
    assert 'rel="prev"' in second and 'rel="next"' not in second


def test_profile_changes_are_saved_and_logged(member_client, member, acme):
    response = member_client.post(
        reverse("portal-profile"), {"name": "Mona Member", "email": "mona@acme.test", "phone": "+966501234567"}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.name, member.email) == ("Mona Member", "mona@acme.test")
    row = AccessLog.objects.get(user=member, action="profile_changed")
    assert set(row.detail["fields"]) == {"name", "email", "phone"}


def test_profile_refuses_an_email_of_another_account(member_client, member, owner):
    response = member_client.post(reverse("portal-profile"), {"name": "M", "email": "owner@acme.test", "phone": ""})
    assert b"Another account uses this email" in response.content
    member.refresh_from_db()
    assert member.email == "member@acme.test"


def test_a_password_is_changed_and_the_session_kept(member, acme):
    member.set_password("Old-Password-1")
    member.save()
    client = login(member)
    response = client.post(
        reverse("portal-password-change"),
        {"old_password": "Old-Password-1", "new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert response["Location"] == reverse("portal-profile")
    member.refresh_from_db()
    assert member.check_password(PASSWORD)
    assert client.get(reverse("portal-dashboard")).status_code == 200
