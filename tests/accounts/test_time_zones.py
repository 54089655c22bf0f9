"""Time zones: the organization's and the user's, chosen at sign-up, used to show and take times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts.models import Organization, User, validate_time_zone
from messaging.models import Message, Status
from tests.factories import login, make_account, make_user

SIGNUP = {
    "organization_name": "Sara's Bakery",
    "name": "Sara Ali",
    "email": "sara@bakery.test",
    "phone": "",
    "password": "Sunny-Harbor-42",
    "confirmed_adult": "on",
    "privacy_consent": "on",
}


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def next_day_at(hour: int, minute: int = 0) -> str:
    day = (timezone.now() + timedelta(days=2)).date()
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}"


def test_a_zone_is_an_iana_name():
    validate_time_zone("Asia/Riyadh")
    for wrong in ("Mars/Olympus", "Riyadh", "+03:00", "../etc/passwd"):
        with pytest.raises(ValidationError):
            validate_time_zone(wrong)


def test_sign_up_gives_the_organization_the_chosen_zone(db):
    response = Client().post("/portal/signup/", {**SIGNUP, "time_zone": "Asia/Riyadh"})
    assert response.status_code == 302, response.content
    user = User.objects.get(email="sara@bakery.test")
    assert Organization.objects.get(memberships__user=user).time_zone == "Asia/Riyadh"
    assert user.time_zone == ""  # the user follows the organization until they choose


def test_sign_up_refuses_an_unknown_zone(db):
    response = Client().post("/portal/signup/", {**SIGNUP, "time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    assert "id_time_zone_error" in response.content.decode()
    assert not User.objects.exists()


def test_the_sign_up_page_fills_the_zone_from_the_browser_with_a_static_script(db):
    page = Client().get("/portal/signup/").content.decode()
    assert 'src="/static/jood/timezone.js"' in page
    assert "data-browser-timezone" in page
    assert "Intl.DateTimeFormat" not in page  # no inline script: a CSP is coming


def test_scheduling_9_from_riyadh_goes_out_at_6_utc(acme, member):
    acme.time_zone = "Asia/Riyadh"
    acme.save()
    make_account(acme)
    client = login(member)
    at = next_day_at(9)
    response = client.post("/portal/send/", {"channel": "sms", "to": "+966501234567", "body": "Hi", "scheduled_at": at})
    assert response.status_code == 302, response.content.decode()
    message = Message.objects.get()
    assert message.status == Status.SCHEDULED
    local = datetime.fromisoformat(at)
    assert message.scheduled_at == datetime(local.year, local.month, local.day, 6, 0, tzinfo=UTC)


def test_the_users_own_zone_wins_over_the_organizations(acme, member):
    acme.time_zone = "Asia/Riyadh"
    acme.save()
    member.time_zone = "Europe/London"
    member.save()
    make_account(acme)
    at = next_day_at(9)
    login(member).post("/portal/send/", {"channel": "sms", "to": "+966501234567", "body": "Hi", "scheduled_at": at})
    scheduled = Message.objects.get().scheduled_at
    assert timezone.localtime(scheduled, timezone=ZoneInfo("Europe/London")).hour == 9
    assert timezone.localtime(scheduled, timezone=ZoneInfo("Asia/Riyadh")).hour != 9


def test_the_portal_shows_times_in_the_zone_and_says_which(acme, member):
    acme.time_zone = "Asia/Riyadh"
    acme.save()
    sent = Message.objects.create(
        organization=acme,
        channel="sms",
        to="+966501234567",
        body="Hi",
        created_at=datetime(2026, 3, 1, 6, 0, tzinfo=UTC),
    )
    page = login(member).get("/portal/messages/").content.decode()
    assert "Asia/Riyadh" in page
    assert "2026-03-01 09:00" in page
    detail = login(member).get(f"/portal/messages/{sent.public_id}/").content.decode()
    assert "09:00" in detail


def test_the_profile_sets_the_users_zone_and_blank_follows_the_organization(acme, member):
    client = login(member)
    response = client.post(
        "/portal/profile/", {"name": member.name, "email": member.email, "phone": "", "time_zone": "Africa/Cairo"}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.time_zone == "Africa/Cairo"
    assert "Africa/Cairo" in client.get("/portal/").content.decode()
    client.post("/portal/profile/", {"name": member.name, "email": member.email, "phone": "", "time_zone": ""})
    member.refresh_from_db()
    assert member.time_zone == ""
    bad = client.post("/portal/profile/", {"name": member.name, "email": member.email, "time_zone": "Nowhere/X"})
    assert bad.status_code == 200 and "id_time_zone_error" in bad.content.decode()


def test_an_admin_sets_the_organizations_zone_in_settings(acme, admin_user, member):
    client = login(admin_user)
    assert client.get("/portal/organization/settings/").status_code == 200
    response = client.post("/portal/organization/settings/", {"name": "Acme Corp", "time_zone": "Asia/Dubai"})
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.time_zone == "Asia/Dubai"
    assert login(member).post("/portal/organization/settings/", {"name": "X", "time_zone": "UTC"}).status_code == 403
    acme.refresh_from_db()
    assert acme.time_zone == "Asia/Dubai" and acme.name == "Acme Corp"


def test_another_organization_in_the_session_does_not_lend_its_zone(acme, globex, member):
    globex.time_zone = "Asia/Tokyo"
    globex.save()
    client = login(member)
    session = client.session
    session["organization_id"] = globex.pk  # not a member there
    session.save()
    assert "Asia/Tokyo" not in client.get("/portal/").content.decode()


# --- the API --------------------------------------------------------------------------------------
def test_the_api_refuses_a_scheduled_at_without_an_offset(acme_api, acme):
    make_account(acme)
    response = acme_api.post(
        "/api/v1/messages",
        {"to": "+966501234567", "body": "Hi", "scheduled_at": next_day_at(9) + ":00"},
        format="json",
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "scheduled_at" in error["details"]
    assert "offset" in error["message"]
    assert not Message.objects.exists()


def test_the_api_takes_an_offset_and_answers_with_one(acme_api, acme):
    acme.time_zone = "Asia/Riyadh"
    acme.save()
    make_account(acme)
    at = next_day_at(9) + ":00+03:00"
    response = acme_api.post(
        "/api/v1/messages", {"to": "+966501234567", "body": "Hi", "scheduled_at": at}, format="json"
    )
    assert response.status_code == 202, response.content
    answer = response.json()
    assert datetime.fromisoformat(answer["scheduled_at"]) == datetime.fromisoformat(at)
    assert answer["scheduled_at"].endswith("Z") or "+" in answer["scheduled_at"][-6:]
    assert Message.objects.get().scheduled_at.hour == 6
    assert acme_api.get("/api/v1/organization").json()["time_zone"] == "Asia/Riyadh"


def test_a_new_organization_is_in_utc(db):
    owner = make_user("o@x.test")
    from accounts.services import create_organization

    assert create_organization(owner, "X").time_zone == "UTC"


def test_the_scheduled_confirmation_names_the_zone(acme, member):
    acme.time_zone = "Asia/Riyadh"
    acme.save()
    make_account(acme)
    at = next_day_at(9)
    response = login(member).post(
        "/portal/send/", {"channel": "sms", "to": "+966501234567", "body": "Hi", "scheduled_at": at}, follow=True
    )
    flashes = [str(m) for m in response.context["messages"]]
    assert f"Scheduled for {at.replace('T', ' ')} (Asia/Riyadh)." in flashes, flashes


def test_a_new_organization_takes_the_sites_time_zone(db, settings):
    settings.TIME_ZONE = "Asia/Riyadh"
    from accounts.services import create_organization

    assert create_organization(make_user("o@x.test"), "X").time_zone == "Asia/Riyadh"
