"""Account health (issue 17 item 7): a check marks or clears it, unhealthy ones are re-checked, connect checks."""

from __future__ import annotations

import pytest
import responses
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from providers import services
from providers.models import ProviderAccount
from tests.factories import login, make_account

pytestmark = pytest.mark.django_db

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "s3cr3t-auth-token-0123456789abcdef"
CHECK_URL = f"https://api.twilio.com/2010-04-01/Accounts/{SID}.json"
TWILIO_FORM = {
    "channel": "sms",
    "label": "Twilio KSA",
    "default_sender": "+14155550100",
    "priority": "10",
    "messages_per_second": "1",
    "cred_account_sid": SID,
    "cred_auth_token": TOKEN,
}


def refused():
    responses.add(responses.GET, CHECK_URL, json={"code": 20003, "message": "Authenticate", "status": 401}, status=401)


def accepted():
    responses.add(responses.GET, CHECK_URL, json={"sid": SID, "status": "active"}, status=200)


def twilio(acme, **fields):
    return make_account(acme, "twilio", credentials={"account_sid": SID, "auth_token": TOKEN}, **fields)


@responses.activate
def test_a_failed_check_marks_the_account_unhealthy_and_a_passing_one_clears_it(acme):
    account = twilio(acme)
    refused()
    assert not services.check_account(account).ok
    account.refresh_from_db()
    assert account.health_status == "bad_credentials"
    assert list(services.unhealthy_accounts(acme)) == [account]

    responses.replace(responses.GET, CHECK_URL, json={"sid": SID, "status": "active"}, status=200)
    assert services.check_account(account).ok
    account.refresh_from_db()
    assert account.health_status == "ok"
    assert list(services.unhealthy_accounts(acme)) == []


@responses.activate
def test_the_periodic_recheck_checks_only_unhealthy_enabled_accounts(acme, globex):
    sick = twilio(acme, health_status="unreachable", health_detail="5 connection errors in a row")
    healthy = twilio(acme, health_status="ok", label="fine")
    disabled = twilio(globex, health_status="unreachable", is_active=False, label="off")
    accepted()

    assert services.recheck_unhealthy_accounts() == {"checked": 1, "recovered": 1}

    assert len(responses.calls) == 1
    sick.refresh_from_db()
    assert sick.health_status == "ok" and sick.health_checked_at is not None
    assert ProviderAccount.objects.get(pk=healthy.pk).health_checked_at is None
    assert ProviderAccount.objects.get(pk=disabled.pk).health_status == "unreachable"


def test_the_recheck_runs_from_beat_after_migrate():
    task = PeriodicTask.objects.get(task="providers.tasks.recheck_unhealthy_accounts")
    assert task.enabled and task.interval is not None
    assert task.interval.every * {"minutes": 60, "seconds": 1}[task.interval.period] <= 600


def test_an_adapter_that_raises_still_leaves_an_unhealthy_verdict(acme, monkeypatch):
    account = twilio(acme)
    from providers.twilio import TwilioAdapter

    monkeypatch.setattr(TwilioAdapter, "check_credentials", lambda self, config: 1 / 0)
    assert services.check_account(account).status == "unreachable"
    account.refresh_from_db()
    assert account.health_status == "unreachable"


@responses.activate
def test_connecting_in_the_portal_runs_the_check_and_says_what_failed(acme, admin_user):
    refused()
    client = login(admin_user)
    response = client.post(reverse("portal-provider-connect", args=["twilio"]), TWILIO_FORM, follow=True)
    page = response.content.decode()
    account = ProviderAccount.objects.get(organization=acme)
    assert account.health_status == "bad_credentials"
    assert "the credentials were refused" in page
    assert "Authenticate" in page or "20003" in page
    assert TOKEN not in page


@responses.activate
def test_connecting_in_the_portal_says_when_the_check_passed(acme, admin_user):
    accepted()
    response = login(admin_user).post(reverse("portal-provider-connect", args=["twilio"]), TWILIO_FORM, follow=True)
    assert "the connection works" in response.content.decode()
    assert ProviderAccount.objects.get(organization=acme).health_status == "ok"


@responses.activate
def test_connecting_through_the_api_runs_the_check_and_returns_its_result(acme, acme_admin_api):
    refused()
    response = acme_admin_api.post(
        "/api/v1/provider-accounts",
        {
            "provider": "twilio",
            "channel": "sms",
            "label": "Twilio",
            "credentials": {"account_sid": SID, "auth_token": TOKEN},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["health_status"] == "bad_credentials"
    assert body["health_detail"]
    assert body["health_checked_at"]


def test_the_portal_shows_a_banner_while_an_account_is_unhealthy(acme, member, globex):
    make_account(acme, label="Main SMS", health_status="unreachable", health_detail="Connection refused")
    make_account(globex, label="Globex SMS", health_status="unreachable")
    client = login(member)
    page = client.get(reverse("portal-dashboard")).content.decode()
    assert 'class="alert warning health-banner"' in page
    assert "Main SMS" in page and "Connection refused" in page
    assert "Globex SMS" not in page

    ProviderAccount.objects.filter(organization=acme).update(health_status="ok")
    assert "health-banner" not in client.get(reverse("portal-dashboard")).content.decode()
