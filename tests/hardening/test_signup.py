"""Sign-up does not tell whether an email is registered (issue 13, hole 7).

Both a new and a registered address get the same page; the owner of the
address learns the rest by email. A new account works once its link is
followed, so trying its password does not tell either.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import AccessLog, Membership, Organization, User

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
def fast(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def test_a_registered_and_a_new_address_get_the_same_answer(owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        new = Client().post(reverse("portal-signup"), SIGNUP, follow=True)
        taken = Client().post(reverse("portal-signup"), {**SIGNUP, "email": "OWNER@acme.test"}, follow=True)
    assert new.status_code == taken.status_code == 200
    assert new.redirect_chain == taken.redirect_chain
    strip = lambda page, email: re.sub(r"csrfmiddlewaretoken\" value=\"[^\"]+", "", page).replace(email, "EMAIL")  # noqa: E731
    assert strip(new.content.decode(), "sara@bakery.test") == strip(taken.content.decode(), "owner@acme.test")
    # Neither is logged in yet.
    assert SESSION_KEY not in new.client.session and SESSION_KEY not in taken.client.session
    # The owner of each address is told by email.
    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {"sara@bakery.test", "owner@acme.test"}
    assert "/portal/signup/confirm/" in by_address["sara@bakery.test"].body
    assert "already has an account" in by_address["owner@acme.test"].body
    assert Organization.objects.count() == 2  # acme and the new one; nothing for the taken address


def test_the_password_of_an_unconfirmed_sign_up_does_not_log_in(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(reverse("portal-signup"), SIGNUP)
    client = Client()
    response = client.post(reverse("portal-login"), {"username": "sara@bakery.test", "password": PASSWORD})
    assert SESSION_KEY not in client.session
    assert b"Please enter a correct" in response.content


def test_the_link_logs_in_once_in_the_new_organization(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Client().post(reverse("portal-signup"), SIGNUP)
    link = re.search(r"https?://\S+/portal/signup/confirm/\S+/", mail.outbox[0].body).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    client = Client()
    response = client.get("/" + path)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-providers")
    user = User.objects.get(email="sara@bakery.test")
    assert user.is_active
    assert int(client.session[SESSION_KEY]) == user.pk
    assert client.session["organization_id"] == Membership.objects.get(user=user).organization_id
    assert AccessLog.objects.filter(user=user, action="login").exists()
    # Once only.
    again = Client().get("/" + path)
    assert again.status_code == 200 and SESSION_KEY not in again.client.session
    assert b"no longer valid" in again.content
    # And the password works from now on.
    login = Client()
    login.post(reverse("portal-login"), {"username": "sara@bakery.test", "password": PASSWORD})
    assert SESSION_KEY in login.session
