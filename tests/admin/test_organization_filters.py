"""The organization list's yes/no filters (jood.admin_utils.condition_filter) pick the right rows."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import Organization


def _names(client, query: str) -> set[str]:
    response = client.get("/admin/accounts/organization/" + query)
    assert response.status_code == 200
    return {organization.name for organization in response.context["cl"].result_list}


def test_paused_and_legal_hold_filters(root_client, acme, globex):
    Organization.objects.filter(pk=acme.pk).update(paused_at=timezone.now())
    Organization.objects.filter(pk=globex.pk).update(
        legal_hold_until=timezone.localdate() + timedelta(days=1), legal_hold_reason="Case 1"
    )
    initech = Organization.objects.create(
        name="Initech", legal_hold_until=timezone.localdate() - timedelta(days=1), legal_hold_reason="Over"
    )
    assert "Acme Corp" in _names(root_client, "?paused=yes") and "Globex" not in _names(root_client, "?paused=yes")
    assert {"Globex", initech.name} <= _names(root_client, "?paused=no")
    assert "Acme Corp" not in _names(root_client, "?paused=no")
    assert "Globex" in _names(root_client, "?legal_hold=yes")
    assert not {"Acme Corp", initech.name} & _names(root_client, "?legal_hold=yes")
    assert {"Acme Corp", initech.name} <= _names(root_client, "?legal_hold=no")
    assert "Globex" not in _names(root_client, "?legal_hold=no")
