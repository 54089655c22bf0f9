"""The Support role: sees every model, never message content or credentials, runs nothing destructive."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import ApiKey, Organization
from jood.admin_utils import HIDDEN
from messaging.models import Message, Status
from providers.models import ProviderAccount
from retention.models import PurgeRun
from tests.admin.conftest import FAILED_TO, SECRET_BODY, SECRETS
from webhooks.models import CallbackDelivery, WebhookEvent


def assert_no_content(response, where: str) -> None:
    html = response.content.decode()
    for secret in SECRETS:
        assert secret not in html, f"{secret!r} shown to Support on {where}"


def _our_models():
    ours = {"accounts", "providers", "messaging", "webhooks", "retention"}
    return [(m, a) for m, a in admin.site._registry.items() if m._meta.app_label in ours]


def test_support_sees_every_page_without_content(support_client, support, world):
    request = RequestFactory().get("/admin/")
    request.user = support
    for model, model_admin in _our_models():
        opts = model._meta
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = support_client.get(changelist)
        assert response.status_code == 200, opts.label
        assert_no_content(response, changelist)
        for obj in model_admin.get_queryset(request)[:5]:
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
            response = support_client.get(url)
            assert response.status_code == 200, url
            assert_no_content(response, url)


def test_support_sees_that_content_is_hidden_where_it_would_be(support_client, world):
    pages = [
        "/admin/messaging/message/",
        f"/admin/messaging/message/{world['delivered'].pk}/change/",
        f"/admin/messaging/inboundmessage/{world['inbound'].pk}/change/",
        f"/admin/webhooks/webhookevent/{WebhookEvent.objects.first().pk}/change/",
        f"/admin/webhooks/callbackdelivery/{world['delivery'].pk}/change/",
        f"/admin/providers/provideraccount/{world['whatsapp'].pk}/change/",
    ]
    for url in pages:
        assert HIDDEN in support_client.get(url).content.decode(), url


def test_support_search_results_show_no_body(support_client, world):
    for term in (FAILED_TO, str(world["delivered"].public_id), "SBdelivered0001"):
        response = support_client.get("/admin/messaging/message/", {"q": term})
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == 1
        assert_no_content(response, f"message search {term}")
    # Support cannot find events by what their bodies say.
    response = support_client.get("/admin/webhooks/webhookevent/", {"q": "verification"})
    assert list(response.context["cl"].result_list) == []
    assert_no_content(response, "webhook event search")


def test_the_operations_page_shows_no_content_to_support(support_client, world):
    response = support_client.get(reverse("admin:operations"))
    assert response.status_code == 200
    assert_no_content(response, "operations")


def test_operators_and_superusers_do_see_content(operator_client, root_client, world):
    url = f"/admin/messaging/message/{world['delivered'].pk}/change/"
    for client in (operator_client, root_client):
        assert SECRET_BODY in client.get(url).content.decode()


DESTRUCTIVE = [
    ("messaging/message", "retry", lambda w: w["failed"]),
    ("messaging/message", "cancel", lambda w: Message.objects.filter(status=Status.QUEUED).first()),
    ("webhooks/webhookevent", "reprocess", lambda w: WebhookEvent.objects.filter(state="failed").first()),
    ("webhooks/callbackdelivery", "retry", lambda w: w["delivery"]),
    ("providers/provideraccount", "disable", lambda w: w["whatsapp"]),
    ("providers/provideraccount", "sync_templates", lambda w: w["whatsapp"]),
    ("accounts/apikey", "revoke", lambda w: ApiKey.objects.first()),
    ("accounts/organization", "set_legal_hold", lambda w: w["failed"].organization),
    ("accounts/organization", "lift_legal_hold", lambda w: w["failed"].organization),
    ("accounts/organization", "pause", lambda w: w["failed"].organization),
    ("accounts/organization", "run_purge", lambda w: w["failed"].organization),
    ("accounts/organization", "delete_selected", lambda w: w["failed"].organization),
    ("retention/legalhold", "lift", lambda w: w["failed"].organization.legal_holds.first()),
    ("retention/scheduleddeletion", "cancel_deletion", lambda w: Organization.objects.get(name="Globex")),
]


def _snapshot():
    return {
        "messages": list(Message.objects.order_by("pk").values_list("status", flat=True)),
        "events": list(WebhookEvent.objects.order_by("pk").values_list("state", "attempts")),
        "deliveries": list(CallbackDelivery.objects.order_by("pk").values_list("state", flat=True)),
        "accounts": list(ProviderAccount.objects.order_by("pk").values_list("is_active", "health_status")),
        "keys": list(ApiKey.objects.order_by("pk").values_list("revoked_at", flat=True)),
        "organizations": list(
            Organization.objects.order_by("pk").values_list("paused_at", "legal_hold_until", "deletion_requested_at")
        ),
        "purge_runs": PurgeRun.objects.count(),
        "log": LogEntry.objects.count(),
    }


@pytest.mark.parametrize(("model_url", "action", "target"), DESTRUCTIVE, ids=[f"{m}:{a}" for m, a, _ in DESTRUCTIVE])
def test_support_is_not_offered_and_cannot_post_destructive_actions(support_client, world, model_url, action, target):
    obj = target(world)
    changelist = support_client.get(f"/admin/{model_url}/")
    form = changelist.context["action_form"]  # None when no action at all is offered
    choices = [] if form is None else [name for name, _ in form.fields["action"].choices]
    assert action not in choices

    before = _snapshot()
    response = support_client.post(
        f"/admin/{model_url}/",
        {
            "action": action,
            "_selected_action": [obj.pk],
            "apply": "1",
            "purge": "now",
            "reason": "x",
            "until": "2099-01-01",
        },
    )
    assert response.status_code in (200, 302, 403)
    assert _snapshot() == before


def test_support_cannot_reach_the_purge_page_or_add_a_hold(support_client, world):
    assert support_client.get("/admin/retention/purgerun/run/").status_code == 403
    assert support_client.post("/admin/retention/purgerun/run/", {"step": "now"}).status_code == 403
    assert b"Run the purge now" not in support_client.get("/admin/retention/purgerun/").content
    assert support_client.get("/admin/retention/legalhold/add/").status_code == 403


def test_support_cannot_edit(support_client, world):
    account = world["whatsapp"]
    response = support_client.post(
        f"/admin/providers/provideraccount/{account.pk}/change/", {"label": "renamed", "priority": 1}
    )
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.label != "renamed"


def test_support_may_test_credentials(support_client, world):
    """A read-only call to the provider: open to Support (it only records the health)."""
    account = ProviderAccount.objects.filter(provider="sandbox", is_active=True).first()
    support_client.post(
        "/admin/providers/provideraccount/", {"action": "test_credentials", "_selected_action": [account.pk]}
    )
    account.refresh_from_db()
    assert account.health_status == "ok"
