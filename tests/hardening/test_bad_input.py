"""Bad input never reaches a 500 (issue 13, hole 5).

Each probe walks every operation of the OpenAPI document, so an endpoint or a
filter added later is probed too: NUL bytes and impossible time-zone offsets
in every query parameter, NUL bytes, lone surrogates and deep nesting in
every JSON body, tampered cursors, oversized bodies, unknown paths. Every
`/api/` answer is the JSON error shape; the portal answers with its own pages.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role
from tests.factories import login, make_api_client, make_privacy_api_client

pytestmark = pytest.mark.django_db

SAMPLE_UUID = "00000000-0000-4000-8000-000000000000"


def _schema() -> dict:
    client = Client()
    return client.get("/api/schema/?format=json").json()


def _operations(methods: tuple[str, ...]):
    """(method, path with sample path parameters, operation) for every documented operation."""
    document = _schema()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in methods:
                continue
            concrete = re.sub(r"\{(\w*id\w*)\}", lambda m: "1" if m.group(1) == "id" else SAMPLE_UUID, path)
            yield method, concrete, operation


def _api(organization, role=Role.ADMIN) -> APIClient:
    client = make_api_client(organization, role)
    client.raise_request_exception = False
    return client


def assert_json_error(response, status: int | None = None) -> None:
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}, body


# Percent-encoded as a client would send them: %ED%B3%BF is a lone surrogate in
# "UTF-8" (not UTF-8), %FF%FE the start of UTF-16.
QUERY_PROBES = [
    "a%00b",
    "%00",
    "2026-01-01T00:00:00%2B23:59",
    "2026-01-01T00:00:00-23:59",
    "%ED%B3%BF",
    "%FF%FE",
    "9" * 400,
    "2026-13-45",
    "2026-01-01",
]


def test_every_query_parameter_survives_bad_values(acme, owner):
    # A key with the owner's `privacy` scope: the owner-only lists (exports) are probed too.
    client = make_privacy_api_client(acme, owner)
    client.raise_request_exception = False
    probed = 0
    for _method, path, operation in _operations(("get",)):
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        for name in names:
            for value in QUERY_PROBES:
                response = client.get(f"{path}?{name}={value}")
                probed += 1
                assert response.status_code < 500, (path, name, repr(value), response.content[:300])
                if response.status_code >= 400:
                    assert_json_error(response)
    assert probed > 50


JSON_PROBES = ["a\x00b", "\ud800", "x\udfffy"]


def _bodies(operation: dict, document: dict):
    """Request bodies with each string-ish field set to each probe."""
    content = (operation.get("requestBody") or {}).get("content", {})
    if "application/json" not in content:
        return
    ref = content["application/json"]["schema"].get("$ref", "")
    schema = document["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    fields = list(schema.get("properties", {})) or ["name"]
    for field in fields:
        for probe in JSON_PROBES:
            yield {field: probe}
            yield {field: {probe: probe}}
            yield {field: [probe]}
            yield {probe: probe}


def test_every_json_body_survives_nul_bytes_and_lone_surrogates(acme):
    client = _api(acme)
    document = _schema()
    probed = 0
    for method, path, operation in _operations(("post", "put", "patch")):
        for body in _bodies(operation, document):
            raw = json.dumps(body)  # escapes: \u0000 and \ud800 reach the parser as JSON escapes
            response = client.generic(method.upper(), path, raw, content_type="application/json")
            probed += 1
            assert response.status_code < 500, (method, path, raw[:80], response.content[:300])
            if response.status_code >= 400:
                assert_json_error(response)
    assert probed > 50


def test_deeply_nested_json_is_a_400(acme):
    client = _api(acme)
    for depth in (100, 5000, 100_000):
        raw = "[" * depth + "]" * depth
        response = client.generic("POST", "/api/v1/messages", raw, content_type="application/json")
        assert_json_error(response, 400)
        raw = '{"metadata": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
        response = client.generic("POST", "/api/v1/messages", raw, content_type="application/json")
        assert_json_error(response, 400)


def test_invalid_json_is_a_400(acme):
    client = _api(acme)
    for raw in (b"{", b"\xff\xfe{}", "{}".encode("utf-16"), b'{"a": NaN}', b"\x00"):
        response = client.generic("POST", "/api/v1/messages", raw, content_type="application/json")
        assert_json_error(response, 400)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        base64.b64encode(b"p=not-a-date&r=0").decode(),
        base64.b64encode(b"p=2026-01-01T00:00:00%2B23:59").decode(),
        base64.b64encode(b"p=%00").decode(),
        base64.b64encode(b"o=99999999999999999999999999&p=2026-01-01").decode(),
        base64.b64encode(b"o=-5").decode(),
        base64.b64encode("p=\udcff".encode("utf-8", "surrogatepass")).decode(),
    ],
)
def test_a_tampered_cursor_is_a_404_or_400_on_every_list(acme, owner, cursor):
    # A key with the owner's `privacy` scope: it reaches the owner-only lists (exports) too.
    client = make_privacy_api_client(acme, owner)
    client.raise_request_exception = False
    for _method, path, operation in _operations(("get",)):
        if not any(p["name"] == "cursor" for p in operation.get("parameters", [])):
            continue
        response = client.get(path, {"cursor": cursor})
        assert response.status_code in (200, 400, 404), (path, response.status_code, response.content[:300])
        if response.status_code != 200:
            assert_json_error(response)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v1/messages/not-a-uuid", "/api/", "/api/v2/messages", "/api/v1/messages/"],
)
def test_an_unknown_api_path_is_a_json_404(acme, path):
    client = _api(acme)
    for method in ("get", "post", "delete"):
        response = getattr(client, method)(path)
        assert_json_error(response, 404)


def test_an_unknown_api_path_is_a_json_404_without_a_key(db):
    client = Client(raise_request_exception=False)
    assert_json_error(client.get("/api/v1/nope"), 404)


def test_a_wrong_method_is_a_json_405(acme):
    client = _api(acme)
    assert_json_error(client.put("/api/v1/analytics", {}), 405)
    assert_json_error(client.delete("/api/v1/messages"), 405)


def test_an_unsupported_media_type_is_a_json_415(acme):
    client = _api(acme)
    response = client.generic("POST", "/api/v1/messages", b"<x/>", content_type="application/xml")
    assert_json_error(response, 415)


def test_a_body_over_the_limit_is_a_json_413(acme, settings):
    client = _api(acme)
    big = json.dumps({"channel": "sms", "to": "+966501234567", "body": "x" * (3 * 1024 * 1024)})
    response = client.generic("POST", "/api/v1/messages", big, content_type="application/json")
    assert_json_error(response, 413)
    form = "body=" + "x" * (3 * 1024 * 1024)
    response = client.generic("POST", "/api/v1/opt-outs", form, content_type="application/x-www-form-urlencoded")
    assert_json_error(response, 413)


def test_an_unexpected_error_is_a_json_500(acme, monkeypatch):
    from messaging import api

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(api.Analytics, "get", boom)
    client = _api(acme)
    response = client.get("/api/v1/analytics")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "server_error"
    assert "boom" not in response.content.decode()


# --- the portal -------------------------------------------------------------------------------


@pytest.fixture
def portal(owner):
    client = login(owner)
    client.raise_request_exception = False
    return client


def _portal_lists():
    from django.urls import reverse

    names = ["portal-messages", "portal-batches", "portal-opt-outs", "portal-access-log", "portal-callback-deliveries"]
    paths = []
    for name in names:
        try:
            paths.append(reverse(name))
        except Exception:
            continue
    return paths


@pytest.mark.parametrize("page", ["99999999999999999999999", "-1", "1e9", "\x00", str(2**63)])
def test_a_huge_or_bad_portal_page_number_is_not_a_500(portal, page):
    paths = _portal_lists()
    assert len(paths) >= 3
    for path in paths:
        response = portal.get(path, {"page": page})
        assert response.status_code in (200, 400, 404), (path, response.status_code)


@pytest.mark.parametrize("value", ["a%00b", "2026-01-01T00:00:00%2B23:59", "%ED%B3%BF", "2026-99-01"])
def test_portal_list_filters_survive_bad_values(portal, value):
    for path in _portal_lists():
        for name in ("status", "channel", "phone", "action", "state", "q", "start", "end", "to", "batch", "page"):
            response = portal.get(f"{path}?{name}={value}")
            assert response.status_code in (200, 400), (path, name, response.status_code)


def test_an_unknown_portal_page_is_the_portal_404_page(portal):
    response = portal.get("/portal/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Jood" in response.content


def test_a_portal_500_is_the_portal_error_page(portal, monkeypatch):
    from accounts import views

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.AccessLog.objects, "filter", boom)
    response = portal.get("/portal/access-log/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"boom" not in response.content


def test_the_error_handlers_answer_by_path(db):
    from django.test import RequestFactory

    from jood import views as jood_views

    request = RequestFactory().get("/portal/messages/")
    response = jood_views.server_error(request)
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    request = RequestFactory().get("/api/v1/messages")
    response = jood_views.server_error(request)
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "server_error"


def test_bad_request_and_forbidden_pages_are_the_portals(db):
    from django.core.exceptions import SuspiciousOperation
    from django.test import RequestFactory

    from jood import views as jood_views

    request = RequestFactory().get("/portal/")
    assert jood_views.bad_request(request, SuspiciousOperation("x")).status_code == 400
    assert jood_views.permission_denied(request, Exception("x")).status_code == 403
    request = RequestFactory().get("/api/v1/messages")
    response = jood_views.bad_request(request, SuspiciousOperation("x"))
    assert json.loads(response.content)["error"]["code"] == "invalid_request"


def test_a_portal_body_over_the_limit_is_the_portals_413_page(db):
    client = Client(raise_request_exception=False)
    form = "username=" + "x" * (3 * 1024 * 1024)
    response = client.generic("POST", "/portal/login/", form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"over 2,621,440 bytes" in response.content


def test_a_nul_in_a_portal_query_is_the_portals_400_page(portal):
    response = portal.get("/portal/messages/?status=a%00b")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"Bad request" in response.content


def test_a_form_without_its_csrf_token_gets_the_portals_403_page(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post("/portal/api-keys/", {"name": "x", "role": "member"})
    assert response.status_code == 403
    assert b"The form expired" in response.content
    assert b"<style" not in response.content


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/messages/export", {"format": "csv", "status": "lost"}),
        ("/api/v1/analytics/export", {"format": "csv", "start": "2026-02-30"}),
    ],
)
def test_an_export_asked_for_as_csv_answers_its_errors_in_json(acme, path, params):
    response = _api(acme).get(path, params, HTTP_ACCEPT="text/csv")
    assert_json_error(response, 400)
    assert response.json()["error"]["code"] in ("invalid_status", "invalid_date")


def test_every_documented_answer_says_its_content(db):
    """A client generated from the document knows each body: errors are the JSON error shape."""
    for path, item in _schema()["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if code == "204":
                    continue
                assert response.get("content"), (method, path, code)
                if code[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
