"""`manage.py seed_demo`: the demo organization, owner and key, created once."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from accounts.models import ApiKey, Membership, Organization, User


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_creates_the_owner_organization_and_key(db):
    output = _seed()
    user = User.objects.get(email="demo@example.com")
    organization = Organization.objects.get(name="Demo Org")
    assert Membership.objects.get(user=user, organization=organization).role == "owner"
    key = ApiKey.objects.get(organization=organization)
    assert "with password:" in output
    assert key.prefix in output


def test_seed_demo_a_second_time_creates_nothing_and_shows_no_secret(db):
    _seed()
    output = _seed()
    assert User.objects.filter(email="demo@example.com").count() == 1
    assert Organization.objects.filter(name="Demo Org").count() == 1
    assert ApiKey.objects.count() == 1
    assert "exists" in output
    assert "manage.py changepassword demo@example.com" in output
    assert "with password:" not in output
    assert "jood_" not in output.replace(ApiKey.objects.get().prefix, "")


def test_seed_demo_connects_sandbox_accounts_once(db):
    from providers.models import ProviderAccount

    _seed()
    _seed()
    accounts = ProviderAccount.objects.filter(organization__name="Demo Org", provider="sandbox")
    assert sorted(accounts.values_list("channel", flat=True)) == ["sms", "whatsapp"]


def test_seed_demo_new_key_prints_another_secret(db):
    _seed()
    out = StringIO()
    call_command("seed_demo", "--new-key", stdout=out)
    assert ApiKey.objects.count() == 2
    newest = ApiKey.objects.order_by("-created_at").first()
    assert newest.prefix in out.getvalue()
