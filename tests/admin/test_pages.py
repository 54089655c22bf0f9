"""Every page of the console opens with data present, and list pages cost a fixed number of queries."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import AccessLog, Organization
from messaging.models import Message, Status
from providers.models import ProviderAccount
from tests.factories import make_account, make_message
from webhooks.models import CallbackEndpoint, WebhookEvent


def _registered():
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def test_every_list_change_and_add_page_opens_for_a_superuser(root_client, root, world):
    request = RequestFactory().get("/admin/")
    request.user = root
    for model, model_admin in _registered():
        opts = model._meta
        label = opts.label
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        response = root_client.get(changelist)
        assert response.status_code == 200, label

        obj = model_admin.get_queryset(request).first()
        assert obj is not None, f"the fixture has no {label}"
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert root_client.get(change).status_code == 200, label

        if model_admin.has_add_permission(request):
            add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
            assert root_client.get(add).status_code == 200, label


def test_searches_and_filters_answer(root_client, world):
    failed = world["failed"]
    for query in (
        f"?q={failed.to}",
        f"?q={failed.public_id}",
        "?q=SBdelivered0001",
        "?q=966501234567",
        "?q=nothing-like-this",
        "?failed=1h",
        "?failed=24h",
        "?has_error=yes",
        "?has_error=no",
        "?status__exact=failed",
        "?provider=sandbox",
        f"?organization__id__exact={failed.organization_id}",
        "?created_at__gte=2020-01-01%2000:00:00%2B00:00",
    ):
        assert root_client.get("/admin/messaging/message/" + query).status_code == 200, query
    for url in (
        "/admin/webhooks/webhookevent/?q=" + "a" * 64,
        "/admin/webhooks/webhookevent/?q=1",
        "/admin/webhooks/webhookevent/?q=order",
        "/admin/webhooks/webhookevent/?failed=1h",
        "/admin/webhooks/callbackdelivery/?q=msg_admin_test_1",
        f"/admin/webhooks/callbackdelivery/?q={failed.public_id}",
        "/admin/accounts/accesslog/?q=192.0.2.1",
        "/admin/accounts/accesslog/?q=owner@acme.test",
        f"/admin/accounts/organization/?q={failed.organization.public_id}",
        "/admin/accounts/organization/?paused=yes",
        "/admin/accounts/organization/?legal_hold=yes",
        "/admin/messaging/inboundmessage/?q=%2B966501110009",
        "/admin/messaging/optout/?q=%2B966501110008",
        "/admin/providers/provideraccount/?health=never",
        "/admin/messaging/messageevent/?q=" + str(failed.public_id),
    ):
        assert root_client.get(url).status_code == 200, url


def test_the_message_search_is_exact(root_client, world):
    failed = world["failed"]
    response = root_client.get("/admin/messaging/message/", {"q": "+966 50 123 4567"})
    assert list(response.context["cl"].result_list) == [failed]
    response = root_client.get("/admin/messaging/message/", {"q": str(failed.public_id)})
    assert list(response.context["cl"].result_list) == [failed]
    response = root_client.get("/admin/messaging/message/", {"q": "SBdelivered0001"})
    assert list(response.context["cl"].result_list) == [world["delivered"]]
    # A part of a number finds nothing: no scan for substrings.
    response = root_client.get("/admin/messaging/message/", {"q": "50123"})
    assert list(response.context["cl"].result_list) == []


def test_big_lists_count_at_most_the_cap(root_client, world, monkeypatch):
    from jood import admin_utils

    monkeypatch.setattr(admin_utils.CappedCountPaginator, "cap", 2)
    response = root_client.get("/admin/messaging/message/")
    assert response.context["cl"].result_count == 2
    assert response.context["cl"].show_full_result_count is False


def _count_queries(client, url: str) -> int:
    client.get(url)  # warm caches (content types, session)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def _add_messages(n: int) -> None:
    organizations = [Organization.objects.create(name=f"Org {i}") for i in range(n)]
    now = timezone.now()
    for i, organization in enumerate(organizations):
        account = make_account(organization)
        Message.objects.create(
            organization=organization,
            channel="sms",
            to=f"+9665011{i:05d}",
            body="hello",
            status=Status.FAILED if i % 2 else Status.DELIVERED,
            provider_account=account,
            provider="sandbox",
            error_code="21211" if i % 2 else "",
            created_at=now,
        )
        WebhookEvent.objects.create(provider="sandbox", provider_account=account, body="{}")
        key, _ = account_services.create_api_key(organization, f"key {i}")
        account_services.record_access(
            AccessLog.Action.LOGIN, account_services.Actor(api_key=key), organization=organization
        )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/messaging/message/",
        "/admin/webhooks/webhookevent/",
        "/admin/providers/provideraccount/",
        "/admin/accounts/apikey/",
        "/admin/accounts/accesslog/",
        "/admin/accounts/organization/",
    ],
)
def test_a_list_page_costs_the_same_queries_for_5_and_50_rows(root_client, url):
    _add_messages(5)
    with_5 = _count_queries(root_client, url)
    _add_messages(45)
    assert ProviderAccount.objects.count() == 50
    with_50 = _count_queries(root_client, url)
    assert with_5 == with_50, f"{url}: {with_5} queries with 5 rows, {with_50} with 50"


def test_an_unfiltered_big_table_uses_the_estimate_and_a_filtered_one_a_capped_count(root_client, world, monkeypatch):
    from jood import admin_utils

    monkeypatch.setattr(admin_utils, "estimated_rows", lambda model, using="default": 2_500_000)
    assert root_client.get("/admin/messaging/message/").context["cl"].result_count == 2_500_000
    filtered = root_client.get("/admin/messaging/message/", {"status__exact": "failed"})
    assert filtered.context["cl"].result_count == 1


def test_the_estimate_comes_from_postgresql_only(sandbox):
    from jood.admin_utils import estimated_rows

    make_message(sandbox, status=Status.DELIVERED)
    make_message(sandbox, status=Status.DELIVERED, to="+966501110001")
    if connection.vendor == "postgresql":
        # ANALYZE samples every row of a small table (its own transaction's too), so the estimate is exact.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(Message._meta.db_table)}")
        assert estimated_rows(Message) == 2
    else:
        assert estimated_rows(Message) is None


def test_credentials_and_webhook_secrets_are_in_no_page_and_no_form(root_client, world):
    from tests.admin.conftest import SECRET_CREDENTIAL

    account = world["whatsapp"]
    sandbox = ProviderAccount.objects.get(provider="sandbox", organization=account.organization)
    for obj in (account, sandbox):
        html = root_client.get(f"/admin/providers/provideraccount/{obj.pk}/change/").content.decode()
        assert obj.webhook_secret not in html
        assert 'name="credentials"' not in html and 'name="webhook_secret"' not in html
        assert "EAAG-secret-token-000111" not in html and SECRET_CREDENTIAL not in html
    assert "••••" in root_client.get(f"/admin/providers/provideraccount/{account.pk}/change/").content.decode()

    endpoint = world["endpoint"]
    html = root_client.get(f"/admin/webhooks/callbackendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in html and 'name="secret"' not in html

    secret_before = account.webhook_secret
    response = root_client.post(
        f"/admin/providers/provideraccount/{account.pk}/change/",
        {
            "label": "Renamed",
            "priority": 5,
            "allowed_prefixes": '["+966"]',
            "messages_per_second": 10,
            "max_attempts": 3,
            "settings": "{}",
            "credentials": '{"access_token": "stolen"}',
            "webhook_secret": "chosen-by-attacker",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.label == "Renamed" and account.priority == 5 and account.allowed_prefixes == ["+966"]
    assert account.webhook_secret == secret_before
    assert account.get_credentials()["access_token"] == "EAAG-secret-token-000111"
    assert AccessLog.objects.filter(organization=account.organization, action="credentials_changed").count() == 0


def test_provider_accounts_are_disabled_not_deleted(root_client, world):
    account = world["whatsapp"]
    response = root_client.post(f"/admin/providers/provideraccount/{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert ProviderAccount.objects.filter(pk=account.pk).exists()


def test_deleting_a_callback_endpoint_goes_through_the_service(root_client, world):
    endpoint = world["endpoint"]
    response = root_client.post(f"/admin/webhooks/callbackendpoint/{endpoint.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not CallbackEndpoint.objects.filter(pk=endpoint.pk).exists()
    assert AccessLog.objects.filter(detail__change="callback_endpoint_deleted").exists()


def test_organizations_are_not_deleted_from_the_console(root_client, world):
    organization = world["failed"].organization
    assert (
        root_client.post(f"/admin/accounts/organization/{organization.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Organization.objects.filter(pk=organization.pk).exists()


def test_the_message_list_does_not_load_provider_credentials(root_client, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert root_client.get("/admin/messaging/message/").status_code == 200
    joined = [q["sql"] for q in queries.captured_queries if "messaging_message" in q["sql"] and "JOIN" in q["sql"]]
    assert joined, "the list joins the provider account"
    assert not any('"providers_provideraccount"."credentials"' in sql for sql in joined)
