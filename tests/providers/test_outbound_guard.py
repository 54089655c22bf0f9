"""Server-side request forgery: every outbound provider request goes through one address guard.

`api_base_url` is an operator's setting (the admin only); each adapter's send,
credentials check, media upload and template sync refuses a non-public address
unless `OUTBOUND_ALLOW_PRIVATE` is on; a message's `callback_url` is checked when
the message is accepted.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jood import outbound
from providers.base import AccountConfig, HealthResult, OutboundMessage, ProviderError, get_adapter, provider_names
from tests.factories import make_account

CREDENTIALS = {
    "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": "test-auth-token-value-1234"},
    "infobip": {"api_key": "test-infobip-key", "base_url": "https://abcde.api.infobip.com"},
    "unifonic": {"app_sid": "test-app-sid"},
    "whatsapp": {"access_token": "test-token", "phone_number_id": "1234567890", "waba_id": "9876543210"},
    "sandbox": {},
}
CHANNEL = {"whatsapp": "whatsapp"}


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def _answer(self):
        type(self).hits.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"data": [], "id": "1", "messages": [{"id": "wamid.1"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def internal_service():
    """A server on 127.0.0.1 standing for a metadata service or an internal API; records what reached it."""
    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _config(provider: str, base_url: str) -> AccountConfig:
    return AccountConfig(
        id=str(uuid.uuid4()),
        provider=provider,
        channel=CHANNEL.get(provider, "sms"),
        credentials=CREDENTIALS[provider],
        sender="+15005550006",
        api_base_url=base_url,
        callback_url="https://jood.example/webhooks/x/",
    )


def _operations(provider: str):
    """Every outbound operation of an adapter: send, the credentials check, media upload, template sync."""
    adapter = get_adapter(provider)
    message = OutboundMessage(
        id=str(uuid.uuid4()), channel=CHANNEL.get(provider, "sms"), to="+966501234567", sender="+15005550006", body="hi"
    )
    ops = {
        "send": lambda account: adapter.send(account, message),
        "check_credentials": lambda account: adapter.check_credentials(account),
    }
    if hasattr(adapter, "upload_media"):
        ops["upload_media"] = lambda account: adapter.upload_media(
            account, b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image/png", "a.png"
        )
    if hasattr(adapter, "fetch_templates"):
        ops["fetch_templates"] = lambda account: adapter.fetch_templates(account)
    return ops


NETWORK_PROVIDERS = [name for name in provider_names() if name != "sandbox"]


@pytest.mark.parametrize("provider", NETWORK_PROVIDERS)
def test_every_outbound_request_of_every_adapter_refuses_a_private_address(provider, internal_service, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.CALLBACKS_ALLOW_PRIVATE = False
    _server, url = internal_service
    account = _config(provider, url)
    for name, operation in _operations(provider).items():
        try:
            result = operation(account)
        except ProviderError as exc:
            assert exc.code == "unsafe_destination", (provider, name, exc)
            assert exc.permanent, (provider, name)
        else:
            assert isinstance(result, HealthResult) and not result.ok, (provider, name, result)
            assert "not a public address" in result.detail, (provider, name, result)
    assert _Recorder.hits == [], f"{provider} reached the internal service: {_Recorder.hits}"


@pytest.mark.parametrize("provider", NETWORK_PROVIDERS)
def test_outbound_allow_private_is_the_only_way_in(provider, internal_service, settings):
    settings.CALLBACKS_ALLOW_PRIVATE = False
    settings.OUTBOUND_ALLOW_PRIVATE = True
    _server, url = internal_service
    account = _config(provider, url)
    try:
        _operations(provider)["send"](account)
    except ProviderError as exc:
        assert exc.code != "unsafe_destination"
    assert _Recorder.hits, "with OUTBOUND_ALLOW_PRIVATE the local server is reached"


def test_the_old_setting_name_still_allows_private_addresses(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.CALLBACKS_ALLOW_PRIVATE = True
    assert outbound.allow_private()
    settings.CALLBACKS_ALLOW_PRIVATE = False
    assert not outbound.allow_private()


@pytest.mark.parametrize("provider", NETWORK_PROVIDERS)
def test_every_adapter_session_mounts_the_guard(provider):
    session = get_adapter(provider).session(_config(provider, ""))
    for prefix in ("http://", "https://"):
        assert isinstance(session.get_adapter(prefix + "example.com/"), outbound.GuardedAdapter)
    assert session.trust_env is False


def test_a_name_that_rebinds_to_loopback_between_check_and_connect_is_refused(internal_service, settings, monkeypatch):
    """DNS rebinding: the first answer is public, the one used to connect is 127.0.0.1."""
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.CALLBACKS_ALLOW_PRIVATE = False
    server, _url = internal_service
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34"])

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            address = next(answers, "127.0.0.1")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    account = _config("twilio", f"http://rebind.example:{server.server_port}/2010-04-01")
    health = get_adapter("twilio").check_credentials(account)
    assert not health.ok
    assert "127.0.0.1" in health.detail
    assert _Recorder.hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8000/x",
        "http://localhost/x",
        "http://10.0.0.5/x",
        "http://[::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://[::ffff:a9fe:a9fe]/latest",
        "http://127.1/x",
        "http://0x7f.0.0.1/x",
        "http://2130706433/x",
        "http://0177.0.0.1/x",
        "http://0/x",
        "http://LOCALHOST./x",
        "http://metadata.localhost/x",
        "ftp://example.com/x",
    ],
)
def test_validate_url_refuses_non_public_destinations(url, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.CALLBACKS_ALLOW_PRIVATE = False
    with pytest.raises(outbound.UnsafeDestination):
        outbound.validate_url(url)


# --- api_base_url is an operator's setting ------------------------------------------------------
@pytest.mark.django_db
def test_api_base_url_cannot_be_set_through_the_api(acme, acme_admin_api):
    created = acme_admin_api.post(
        "/api/v1/provider-accounts",
        {
            "provider": "twilio",
            "channel": "sms",
            "label": "T",
            "credentials": CREDENTIALS["twilio"],
            "api_base_url": "http://169.254.169.254/latest",
        },
        format="json",
    )
    assert created.status_code == 400
    assert "api_base_url" in created.json()["error"]["details"]

    account = make_account(acme, "twilio", credentials=CREDENTIALS["twilio"])
    changed = acme_admin_api.patch(
        f"/api/v1/provider-accounts/{account.public_id}", {"api_base_url": "http://127.0.0.1:6379/"}, format="json"
    )
    assert changed.status_code == 400
    account.refresh_from_db()
    assert account.api_base_url == ""
    # What a GET returned can be PUT back unchanged.
    shown = acme_admin_api.get(f"/api/v1/provider-accounts/{account.public_id}").json()
    assert "api_base_url" in shown
    same = acme_admin_api.patch(
        f"/api/v1/provider-accounts/{account.public_id}",
        {"api_base_url": shown["api_base_url"], "label": "Renamed"},
        format="json",
    )
    assert same.status_code == 200, same.content


@pytest.mark.django_db
def test_api_base_url_cannot_be_set_through_the_portal(acme, owner):
    from tests.factories import login

    account = make_account(acme, "twilio", credentials=CREDENTIALS["twilio"])
    client = login(owner)
    client.post(
        f"/portal/providers/{account.public_id}/edit/",
        {"label": "T2", "api_base_url": "http://169.254.169.254/", "priority": 100, "messages_per_second": 10},
    )
    account.refresh_from_db()
    assert account.api_base_url == ""


@pytest.mark.django_db
def test_the_check_action_never_returns_what_an_internal_service_answered(
    acme, acme_admin_api, internal_service, settings
):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.CALLBACKS_ALLOW_PRIVATE = False
    _server, url = internal_service
    account = make_account(acme, "twilio", credentials=CREDENTIALS["twilio"], api_base_url=url + "/2010-04-01")
    response = acme_admin_api.post(f"/api/v1/provider-accounts/{account.public_id}/check")
    assert response.status_code == 200
    assert response.json()["ok"] is False
    assert _Recorder.hits == []


# --- a message's own callback_url is checked when the message is accepted ----------------------
UNSAFE_CALLBACKS = [
    "http://169.254.169.254/latest",
    "http://127.0.0.1:9000/hook",
    "http://2130706433/hook",
    "http://[::1]/hook",
    "gopher://example.com/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("callback_url", UNSAFE_CALLBACKS)
def test_a_message_callback_url_to_a_private_address_is_refused_at_accept_time(callback_url, acme, acme_api, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.CALLBACKS_ALLOW_PRIVATE = False
    make_account(acme)
    one = acme_api.post(
        "/api/v1/messages", {"to": "+966501234567", "body": "hi", "callback_url": callback_url}, format="json"
    )
    assert one.status_code == 400, one.content
    assert "callback_url" in one.json()["error"]["details"]
    bulk = acme_api.post(
        "/api/v1/messages/bulk",
        {"recipients": [{"to": "+966501234567"}], "body": "hi", "callback_url": callback_url},
        format="json",
    )
    assert bulk.status_code == 400, bulk.content
    assert "callback_url" in bulk.json()["error"]["details"]


@pytest.mark.parametrize("url", ["https://example.com/hook", "http://93.184.216.34:8080/x", "https://[2606:4700::1]/"])
def test_validate_url_accepts_public_destinations(url, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.CALLBACKS_ALLOW_PRIVATE = False
    outbound.validate_url(url)


def test_check_deploy_warns_when_private_addresses_are_allowed_in_production(settings):
    from jood.checks import check_outbound_allow_private

    settings.DEBUG = False
    settings.CALLBACKS_ALLOW_PRIVATE = False
    settings.OUTBOUND_ALLOW_PRIVATE = False
    assert check_outbound_allow_private(None) == []
    settings.OUTBOUND_ALLOW_PRIVATE = True
    [warning] = check_outbound_allow_private(None)
    assert warning.id == "jood.W001" and "OUTBOUND_ALLOW_PRIVATE" in warning.msg
