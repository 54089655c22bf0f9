"""WhatsApp in the sandbox: an approved `hello_world`, simulated replies that open the window, honest refusals."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Organization
from messaging.models import ConversationWindow, InboundMessage, Message, Status, Template
from providers.models import Channel, ProviderAccount
from tests.factories import login, make_account, make_user
from tests.messaging.conftest import assert_error

TO = "+966501234567"


def send(api, **fields):
    return api.post("/api/v1/messages", {"to": TO, "channel": "whatsapp", **fields}, format="json")


def test_seed_demo_gives_the_whatsapp_sandbox_an_approved_hello_world(db):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())  # a second run adds nothing
    account = ProviderAccount.objects.get(organization__name="Demo Org", provider="sandbox", channel="whatsapp")
    [template] = Template.objects.filter(organization=account.organization, name="hello_world")
    assert template.kind == Template.Kind.WHATSAPP
    assert template.provider_account == account
    assert template.is_approved and template.language == "en_US"
    assert template.channel == Channel.WHATSAPP


def test_hello_world_to_a_number_that_never_wrote_is_sent(db, dispatching):
    call_command("seed_demo", stdout=StringIO())
    from tests.factories import make_api_client

    api = make_api_client(Organization.objects.get(name="Demo Org"))
    with dispatching():
        response = send(api, template="hello_world")
    assert response.status_code == 202, response.content
    assert response.json()["status"] != "rejected", response.json()
    assert Message.objects.get().status in (Status.SENT, Status.DELIVERED, Status.READ)


def test_an_own_whatsapp_template_through_the_sandbox_is_not_refused_as_free_form(
    acme, acme_api, whatsapp_sandbox, dispatching
):
    Template.objects.create(organization=acme, channel=Channel.WHATSAPP, name="welcome", body="Hello {{name}}")
    with dispatching():
        response = send(acme_api, template="welcome", parameters={"name": "Sara"})
    assert response.status_code == 202, response.content
    assert response.json()["status"] != "rejected", response.json()
    assert Message.objects.get().body == "Hello Sara"


def test_an_own_whatsapp_template_through_meta_says_it_needs_an_approved_template(acme, acme_api, dispatching):
    make_account(acme, provider="whatsapp", channel=Channel.WHATSAPP, credentials={"access_token": "x"})
    Template.objects.create(organization=acme, channel=Channel.WHATSAPP, name="welcome", body="Hello {{name}}")
    with dispatching():
        response = send(acme_api, template="welcome", parameters={"name": "Sara"})
    answer = response.json()
    assert answer["status"] == "rejected"
    assert answer["error"]["code"] == "whatsapp_window_closed"
    assert "free-form" not in answer["error"]["message"]
    assert "approved by Meta" in answer["error"]["message"]


def test_a_simulated_reply_opens_the_window_for_free_form(acme, acme_api, whatsapp_sandbox, dispatching):
    assert send(acme_api, body="Hi").json()["status"] == "rejected"
    with dispatching():
        response = acme_api.post(
            "/api/v1/sandbox/inbound", {"from": "+966 50 123 4567", "body": "Hello?"}, format="json"
        )
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["from"] == TO and answer["channel"] == "whatsapp" and answer["body"] == "Hello?"
    assert answer["window_expires_at"]
    inbound = InboundMessage.objects.get()
    assert inbound.provider_account == whatsapp_sandbox and inbound.organization == acme
    window = ConversationWindow.objects.get(organization=acme, phone=TO)
    assert timezone.now() - window.last_inbound_at < timezone.timedelta(minutes=1)
    # It went through the provider intake path, as a real reply does.
    from webhooks.models import WebhookEvent

    assert WebhookEvent.objects.get(provider="sandbox").state == "processed"
    with dispatching():
        response = send(acme_api, body="Thanks for writing")
    assert response.json()["status"] != "rejected", response.json()


def test_simulating_needs_a_sandbox_account(acme, acme_api):
    make_account(acme, provider="whatsapp", channel=Channel.WHATSAPP, credentials={"access_token": "x"})
    response = acme_api.post("/api/v1/sandbox/inbound", {"from": TO, "body": "Hi"}, format="json")
    assert_error(response, 400, "no_sandbox_account")
    assert not InboundMessage.objects.exists()


def test_simulating_through_another_organizations_account_is_a_404(acme_api, globex):
    other = make_account(globex, channel=Channel.WHATSAPP)
    response = acme_api.post(
        "/api/v1/sandbox/inbound",
        {"from": TO, "body": "Hi", "provider_account": str(other.public_id)},
        format="json",
    )
    assert_error(response, 404, "not_found")
    assert not InboundMessage.objects.exists()


def test_simulating_an_invalid_number_is_a_400(acme_api, whatsapp_sandbox):
    assert_error(
        acme_api.post("/api/v1/sandbox/inbound", {"from": "12", "body": "Hi"}, format="json"), 400, "invalid_number"
    )


def test_a_viewer_key_cannot_simulate(acme_viewer_api, whatsapp_sandbox):
    response = acme_viewer_api.post("/api/v1/sandbox/inbound", {"from": TO, "body": "Hi"}, format="json")
    assert response.status_code == 403


def test_the_portal_button_simulates_a_reply(acme, whatsapp_sandbox, dispatching):
    client = login(make_user("m@acme.test", acme, "member"))
    with dispatching():
        response = client.post("/portal/sandbox/inbound/", {"from_number": TO, "body": "Hi there"})
    assert response.status_code == 302
    assert InboundMessage.objects.get().body == "Hi there"
    assert ConversationWindow.objects.filter(organization=acme, phone=TO).exists()


@pytest.mark.parametrize("code", ["whatsapp_window_closed", "opted_out"])
def test_a_rejection_we_made_says_refused_before_sending(acme, code):
    client = login(make_user("m@acme.test", acme, "member"))
    message = Message.objects.create(
        organization=acme,
        channel="whatsapp",
        to=TO,
        body="Hi",
        status=Status.REJECTED,
        error_code=code,
        error_message="Not allowed.",
        failed_at=timezone.now(),
    )
    page = client.get(f"/portal/messages/{message.public_id}/").content.decode()
    assert "refused before sending" in page
    assert "the provider said" not in page


def test_a_providers_error_still_says_the_provider_said(acme, whatsapp_sandbox):
    client = login(make_user("m@acme.test", acme, "member"))
    message = Message.objects.create(
        organization=acme,
        channel="whatsapp",
        to=TO,
        body="Hi",
        status=Status.FAILED,
        provider="whatsapp",
        provider_account=whatsapp_sandbox,
        error_code="131026",
        error_message="Message undeliverable",
        failed_at=timezone.now(),
    )
    page = client.get(f"/portal/messages/{message.public_id}/").content.decode()
    assert "the provider said" in page


def test_the_reply_is_stored_when_the_call_returns_even_with_no_worker_running(acme, whatsapp_sandbox):
    from webhooks.services import simulate_sandbox_inbound

    inbound = simulate_sandbox_inbound(acme, TO, "Hi")
    assert inbound.pk and inbound.from_number == TO
    assert ConversationWindow.objects.filter(organization=acme, phone=TO).exists()


def test_the_send_page_says_a_refusal_was_ours(acme, whatsapp_sandbox):
    client = login(make_user("m@acme.test", acme, "member"))
    response = client.post("/portal/send/", {"channel": "whatsapp", "to": TO, "body": "Hi"}, follow=True)
    flashes = [str(m) for m in response.context["messages"]]
    assert any(f.startswith("Refused before sending") for f in flashes), flashes
    assert not any("rejected:" in f for f in flashes)
