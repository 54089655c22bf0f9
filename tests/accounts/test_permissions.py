"""Roles: viewers read, members write, admins also manage settings."""

from __future__ import annotations

import pytest
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.permissions import IsOrganizationAdmin, IsOrganizationMember


class _MemberView(APIView):
    """A stand-in for a write endpoint of another app (sending a message)."""

    permission_classes = [IsOrganizationMember]

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True}, status=201)


class _AdminView(_MemberView):
    permission_classes = [IsOrganizationAdmin]


def _call(view, method: str, client) -> int:
    request = getattr(APIRequestFactory(), method)("/", HTTP_AUTHORIZATION=f"Token {client.secret}")
    return view.as_view()(request).status_code


@pytest.mark.parametrize(
    ("view", "fixture", "get_status", "post_status"),
    [
        (_MemberView, "acme_viewer_api", 200, 403),
        (_MemberView, "acme_api", 200, 201),
        (_MemberView, "acme_admin_api", 200, 201),
        (_AdminView, "acme_viewer_api", 200, 403),
        (_AdminView, "acme_api", 200, 403),
        (_AdminView, "acme_admin_api", 200, 201),
    ],
)
def test_a_role_may_do_what_its_rank_allows(request, view, fixture, get_status, post_status):
    client = request.getfixturevalue(fixture)
    assert _call(view, "get", client) == get_status
    assert _call(view, "post", client) == post_status


def test_a_viewer_cannot_post_where_a_member_can(acme_api, acme_viewer_api):
    assert _call(_MemberView, "post", acme_api) == 201
    assert _call(_MemberView, "post", acme_viewer_api) == 403


def test_an_admin_key_creates_a_key_a_member_key_cannot(acme_admin_api, acme_api):
    assert acme_admin_api.post("/api/v1/api-keys", {"name": "Ops"}).status_code == 201
    assert acme_api.post("/api/v1/api-keys", {"name": "Ops"}).status_code == 403
    assert acme_api.get("/api/v1/api-keys").status_code == 200
