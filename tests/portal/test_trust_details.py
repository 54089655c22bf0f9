"""Details that cost trust (issue 17 item 10): each one a user ran into."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message, Status, Template
from providers.base import AccountConfig
from providers.sandbox import SandboxAdapter
from tests.factories import login, make_account, make_message

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_all_failed_on_the_dashboard_lists_every_recent_failure(member_client, acme, sandbox):
    undelivered = make_message(acme, status=Status.UNDELIVERED, error_code="30003", to="+966501110001")
    rejected = make_message(acme, status=Status.REJECTED, error_code="opted_out", to="+966501110002")
    make_message(acme, status=Status.DELIVERED, to="+966501110003")
    page = member_client.get(reverse("portal-dashboard")).content.decode()
    link = re.search(r'href="([^"]+)"[^>]*>All failed<', page).group(1).replace("&amp;", "&")

    listed = member_client.get(link).content.decode()

    assert undelivered.to in listed and rejected.to in listed
    assert "+966501110003" not in listed


def test_oldest_kept_is_the_oldest_message_not_the_cutoff(owner_client, acme):
    old = make_message(acme, status=Status.DELIVERED)
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=12))
    page = owner_client.get(reverse("portal-privacy")).content.decode()
    oldest = re.search(r'class="oldest-kept">([^<]+)<', page).group(1)
    assert oldest == (timezone.now() - timedelta(days=12)).strftime("%Y-%m-%d %H:%M")[:10] + oldest[10:]
    cutoff = (timezone.now() - timedelta(days=acme.retention_days)).strftime("%Y-%m-%d")
    assert cutoff not in oldest


def test_template_parameters_and_metadata_read_as_key_value(viewer_client, acme):
    template = Template.objects.create(organization=acme, channel="sms", name="otp", body="Code {{code}}")
    message = make_message(
        acme,
        status="queued",
        template=template,
        template_params={"code": "1234", "name": "Sara"},
        metadata={"order": "A-7"},
    )
    page = viewer_client.get(reverse("portal-message", args=[message.public_id])).content.decode()
    assert "code=1234" in page and "name=Sara" in page
    assert "order=A-7" in page
    assert "{&#x27;code&#x27;" not in page and "{'code'" not in page
    assert "{&#x27;order&#x27;" not in page


def sandbox_config(channel: str) -> AccountConfig:
    return AccountConfig(id="a", provider="sandbox", channel=channel, credentials={}, webhook_secret="s")


def statuses(channel: str) -> list[str]:
    import json

    callbacks = SandboxAdapter().callbacks(sandbox_config(channel), "SB1", "+966501234567", "our-id")
    return [json.loads(body)["status"] for body, _ in callbacks]


def test_the_sms_sandbox_never_reports_read_and_whatsapp_does():
    assert statuses("sms") == ["delivered"]
    assert statuses("whatsapp") == ["delivered", "read"]


def test_twilio_help_shows_only_on_twilio_forms(admin_client):
    for provider in ("infobip", "unifonic", "whatsapp", "sandbox"):
        page = admin_client.get(reverse("portal-provider-connect", args=[provider])).content.decode()
        assert "Twilio" not in page.split('id="main"')[1], provider
    assert "Messaging Service" in admin_client.get(reverse("portal-provider-connect", args=["twilio"])).content.decode()


SID = "AC" + "0123456789abcdef" * 2


def test_non_secret_credentials_show_and_survive_a_form_error_while_secrets_stay_write_only(admin_client):
    response = admin_client.post(
        reverse("portal-provider-connect", args=["twilio"]),
        {
            "channel": "sms",
            "label": "",
            "priority": "1",
            "messages_per_second": "1",
            "cred_account_sid": SID,
            "cred_auth_token": "s3cr3t-token-value-000",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200  # the label is missing
    assert re.search(rf'<input type="text" name="cred_account_sid" value="{SID}"', page)
    assert "s3cr3t-token-value-000" not in page
    assert 'type="password" name="cred_auth_token"' in page


def test_editing_shows_the_stored_non_secret_credentials_in_full(admin_client, acme):
    account = make_account(acme, "twilio", credentials={"account_sid": SID, "auth_token": "s3cr3t-token-value-000"})
    page = admin_client.get(reverse("portal-provider-edit", args=[account.public_id])).content.decode()
    assert f'value="{SID}"' in page
    assert "s3cr3t-token-value-000" not in page
    listing = admin_client.get(reverse("portal-providers")).content.decode()
    assert SID in listing and "s3cr3t-token-value-000" not in listing


def test_the_provider_list_filters_by_channel(viewer_client, acme):
    make_account(acme, label="SMS one", channel="sms")
    make_account(acme, label="WA one", channel="whatsapp")
    page = viewer_client.get(reverse("portal-providers") + "?channel=whatsapp").content.decode()
    assert "WA one" in page and "SMS one" not in page
    assert "SMS one" in viewer_client.get(reverse("portal-providers")).content.decode()
    assert 'name="channel"' in page


def test_the_api_docs_fetch_nothing_from_another_host(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    external = re.findall(r"""(?:href|src)=["']((?:https?:)?//[^"']+)""", html)
    assert external == []
    assert "fonts.googleapis" not in html and "fonts.gstatic" not in html


def settings_value(name: str, env: dict) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print(settings.{name})"
    clean = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "PORT")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "jood.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_public_base_url_follows_port_when_not_set():
    assert settings_value("PUBLIC_BASE_URL", {"PORT": "8001"}) == "http://localhost:8001"
    assert settings_value("PUBLIC_BASE_URL", {"PORT": "8001", "PUBLIC_BASE_URL": "https://x.example/"}) == (
        "https://x.example"
    )


def test_the_readme_says_how_to_get_chromium_for_the_browser_tests():
    readme = (ROOT / "README.md").read_text()
    assert "apt-get install -y chromium chromium-driver" in readme


def test_a_viewer_sees_the_message_list_filter_and_status(viewer_client, acme):
    make_message(acme, status=Status.DELIVERED)
    assert login  # the named clients come from tests/portal/conftest.py
    page = viewer_client.get(reverse("portal-messages")).content.decode()
    assert 'class="status status-delivered"' in page


def test_the_page_of_an_sms_sent_from_a_template_without_a_body_opens(viewer_client, acme):
    template = Template.objects.create(organization=acme, channel="sms", name="otp", body="Code {{code}}")
    message = make_message(
        acme, status="queued", body="", template=template, template_params={"code": "1"}, encoding=""
    )
    response = viewer_client.get(reverse("portal-message", args=[message.public_id]))
    assert response.status_code == 200
    assert "code=1" in response.content.decode()
