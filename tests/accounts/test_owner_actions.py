"""Owner-only actions over the API: one rule, one permission, every privacy endpoint.

The rule: a privacy endpoint (export, pause, resume, deletion, and any other
view of the `retention` app under /api/v1/) answers only to an admin key that an
owner created with the `privacy` scope in the portal, and only while that owner
is still an owner. Any other key, admin or not, gets 403. The test walks the URL
conf, so a new privacy endpoint without the permission fails here.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKey, Membership, Role
from accounts.permissions import OwnerAction
from tests.factories import login

API_PREFIX = "api/v1/"


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def privacy_endpoints() -> list[tuple[str, type]]:
    """Every /api/v1/ route whose view belongs to the retention app (the privacy rights)."""
    found = []
    for route, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if route.startswith(API_PREFIX) and view is not None and view.__module__.startswith("retention."):
            found.append((route, view))
    return found


def _path(route: str) -> str:
    return "/" + route.replace("<uuid:public_id>", str(uuid.uuid4()))


def _methods(view) -> list[str]:
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)]


def test_the_walk_finds_the_privacy_endpoints():
    routes = {route for route, _ in privacy_endpoints()}
    assert {"api/v1/exports", "api/v1/organization/delete", "api/v1/organization/pause"} <= routes


def test_every_privacy_endpoint_carries_the_owner_action_permission():
    for route, view in privacy_endpoints():
        assert OwnerAction in view.permission_classes, route


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER, Role.VIEWER])
def test_no_key_without_the_owner_scope_reaches_a_privacy_endpoint(acme, role):
    from tests.factories import make_api_client

    api = make_api_client(acme, role)
    for route, view in privacy_endpoints():
        for method in _methods(view):
            response = getattr(api, method)(_path(route), {"confirm": acme.name}, format="json")
            assert response.status_code == 403, (method, route, response.status_code)
            assert response.json()["error"]["code"] == "owner_scope_required", (method, route)
    acme.refresh_from_db()
    assert acme.deletion_requested_at is None


def _scoped_client(organization, owner) -> APIClient:
    key, secret = services.create_api_key(
        organization, "Privacy", role=Role.ADMIN, scopes=["privacy"], actor=services.Actor(user=owner)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    client.key = key
    return client


@pytest.mark.django_db
def test_a_key_an_owner_gave_the_privacy_scope_reaches_every_privacy_endpoint(acme, owner):
    api = _scoped_client(acme, owner)
    for route, view in privacy_endpoints():
        for method in _methods(view):
            if route.endswith("delete"):
                continue  # would revoke the key; checked below
            response = getattr(api, method)(_path(route), format="json")
            assert response.status_code != 403, (method, route, response.content)
    assert api.post("/api/v1/organization/delete", {"confirm": acme.name}, format="json").status_code == 202


@pytest.mark.django_db
def test_the_scope_stops_working_when_its_owner_is_no_longer_an_owner(acme, owner):
    api = _scoped_client(acme, owner)
    assert api.get("/api/v1/exports").status_code == 200
    Membership.objects.filter(user=owner, organization=acme).update(role=Role.ADMIN)
    response = api.get("/api/v1/exports")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "owner_scope_required"


@pytest.mark.django_db
def test_only_an_owner_can_give_the_privacy_scope(acme, owner, admin_user, acme_admin_api):
    with pytest.raises(services.ScopeError):
        services.create_api_key(acme, "X", role=Role.ADMIN, scopes=["privacy"], actor=services.Actor(user=admin_user))
    with pytest.raises(services.ScopeError):
        services.create_api_key(acme, "X", role=Role.MEMBER, scopes=["privacy"], actor=services.Actor(user=owner))
    # An API key is not an owner: it cannot mint one.
    response = acme_admin_api.post("/api/v1/api-keys", {"name": "X", "role": "admin", "scopes": ["privacy"]})
    assert response.status_code == 400
    assert all("privacy" not in k.scopes for k in ApiKey.objects.filter(organization=acme))

    # The portal offers it to owners only.
    as_admin = login(admin_user).post("/portal/api-keys/", {"name": "A", "role": "admin", "privacy_scope": "on"})
    assert as_admin.status_code in (200, 302)
    assert all("privacy" not in k.scopes for k in ApiKey.objects.filter(organization=acme))
    as_owner = login(owner).post("/portal/api-keys/", {"name": "O", "role": "admin", "privacy_scope": "on"})
    assert as_owner.status_code == 200
    assert ApiKey.objects.get(organization=acme, name="O").scopes == ["privacy"]
