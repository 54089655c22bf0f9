"""Legal holds: set and lifted by staff through the services, each leaving an access-log row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccessLog
from retention import services
from retention.models import LegalHold

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    from accounts.models import User

    return User.objects.create_superuser("staff@jood.test", "x")


def test_setting_and_lifting_a_hold_is_logged(acme, staff):
    until = timezone.localdate() + timedelta(days=60)
    services.set_legal_hold(acme, until, "Subpoena 2026-17", services.Actor(user=staff))
    acme.refresh_from_db()
    assert acme.legal_hold_until == until and acme.legal_hold_reason == "Subpoena 2026-17"

    services.lift_legal_hold(acme, services.Actor(user=staff))
    acme.refresh_from_db()
    assert acme.legal_hold_until is None and acme.legal_hold_reason == ""

    logs = AccessLog.objects.filter(organization=acme, action="legal_hold").order_by("at", "pk")
    assert [log.detail["change"] for log in logs] == ["set", "lifted"]
    assert all(log.user == staff for log in logs)
    assert list(LegalHold.objects.order_by("at", "pk").values_list("change", flat=True)) == ["set", "lifted"]


def test_a_hold_needs_a_reason_and_a_date_to_come(acme):
    with pytest.raises(services.PrivacyError):
        services.set_legal_hold(acme, timezone.localdate() + timedelta(days=1), " ", services.Actor())
    with pytest.raises(services.PrivacyError):
        services.set_legal_hold(acme, timezone.localdate() - timedelta(days=1), "Case", services.Actor())


def test_staff_set_a_hold_in_the_admin(acme, staff, client):
    client.force_login(staff)
    until = timezone.localdate() + timedelta(days=10)
    response = client.post(
        "/admin/retention/legalhold/add/", {"organization": acme.pk, "until": until.isoformat(), "reason": "Case 9"}
    )
    assert response.status_code == 302, response.content
    acme.refresh_from_db()
    assert acme.legal_hold_until == until
    assert AccessLog.objects.filter(action="legal_hold", user=staff).exists()

    hold = LegalHold.objects.get()
    client.post("/admin/retention/legalhold/", {"action": "lift", "_selected_action": [hold.pk]})
    acme.refresh_from_db()
    assert acme.legal_hold_until is None


def test_there_is_no_api_for_legal_holds(acme_admin_api):
    assert acme_admin_api.post("/api/v1/organization/legal-hold", {}).status_code == 404


def test_the_admin_pages_render(staff, client, acme, owner):
    from retention import purge

    purge.run()
    services.request_organization_deletion(acme, services.Actor(user=owner))
    services.request_export(acme, services.Actor(user=owner))
    client.force_login(staff)
    for url in (
        "/admin/retention/purgerun/",
        "/admin/retention/legalhold/",
        "/admin/retention/legalhold/add/",
        "/admin/retention/scheduleddeletion/",
        "/admin/retention/dataexport/",
    ):
        assert client.get(url).status_code == 200, url
    response = client.get("/admin/retention/scheduleddeletion/")
    assert "Acme Corp" in response.content.decode()
    from retention.models import ScheduledDeletion

    client.post(
        "/admin/retention/scheduleddeletion/",
        {"action": "cancel_deletion", "_selected_action": [ScheduledDeletion.objects.get().pk]},
    )
    acme.refresh_from_db()
    assert acme.deletion_requested_at is None


def test_the_management_command_sets_and_lifts_a_hold(acme, staff):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    until = (timezone.localdate() + timedelta(days=5)).isoformat()
    call_command("legal_hold", str(acme.pk), "--until", until, "--reason", "Case 3", "--by", staff.email, stdout=out)
    acme.refresh_from_db()
    assert str(acme.legal_hold_until) == until
    assert AccessLog.objects.get(action="legal_hold").user == staff
    with pytest.raises(CommandError):
        call_command("legal_hold", str(acme.pk), "--until", "tomorrow", "--reason", "x")
    with pytest.raises(CommandError):
        call_command("legal_hold", str(acme.pk), "--until", until)  # no reason
    call_command("legal_hold", str(acme.public_id), "--lift", stdout=out)
    acme.refresh_from_db()
    assert acme.legal_hold_until is None
