"""API key authentication: `Authorization: Token <key>` or `Bearer <key>`."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from accounts.models import ApiKey, hash_key
from accounts.services import client_ip, touch_api_key


class ApiKeyPrincipal:
    """The `request.user` of a key-authenticated API request."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, key: ApiKey):
        self.key = key

    def __str__(self) -> str:
        return f"API key {self.key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() not in self.keywords:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Token <key>' or 'Bearer <key>'.", code="malformed_credentials"
            )
        try:
            key = ApiKey.objects.select_related("organization").get(hashed_key=hash_key(parts[1]))
        except ApiKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown API key.", code="invalid_api_key")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        if not key.organization.is_active:
            raise exceptions.AuthenticationFailed("This organization is closed.", code="organization_inactive")
        touch_api_key(key, client_ip(request))
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'
