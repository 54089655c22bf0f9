"""API key authentication: `Authorization: Token <key>` or `Bearer <key>`.

Keys are looked up once per API_KEY_CACHE_SECONDS per web process (not a
query per request). A revocation through `revoke_api_key`, and any save of a
key or an organization, clears this process's cache at once; other processes
see it within API_KEY_CACHE_SECONDS.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save
from rest_framework import authentication, exceptions

from accounts.key_usage import record_key_use
from accounts.models import ApiKey, Organization, hash_key
from accounts.services import client_ip, touch_api_key

# hash of the secret -> (expires at, on time.monotonic(); the key with its organization)
_keys: dict[str, tuple[float, ApiKey]] = {}
_keys_lock = threading.Lock()
MAX_CACHED_KEYS = 10_000


def forget_api_keys(**kwargs) -> None:
    """Empty this process's key cache (a key was revoked, or a key or organization changed)."""
    with _keys_lock:
        _keys.clear()


def lookup_api_key(secret: str) -> ApiKey | None:
    """Return the key (with its organization) for a secret, from the cache while it is fresh."""
    hashed = hash_key(secret)
    now = time.monotonic()
    hit = _keys.get(hashed)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = ApiKey.objects.select_related("organization").filter(hashed_key=hashed).first()
    ttl = settings.API_KEY_CACHE_SECONDS
    if key is not None and ttl > 0:
        with _keys_lock:
            if len(_keys) >= MAX_CACHED_KEYS:
                _keys.clear()
            _keys[hashed] = (now + ttl, key)
    return key


for _model in (ApiKey, Organization):
    post_save.connect(forget_api_keys, sender=_model, dispatch_uid=f"accounts.api_key_cache.save.{_model.__name__}")
    post_delete.connect(forget_api_keys, sender=_model, dispatch_uid=f"accounts.api_key_cache.del.{_model.__name__}")


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
        key = lookup_api_key(parts[1])
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.", code="invalid_api_key")
        if key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API key has been revoked.", code="revoked_api_key")
        if not key.organization.is_active:
            raise exceptions.AuthenticationFailed("This organization is closed.", code="organization_inactive")
        ip = client_ip(request)
        touch_api_key(key, ip)
        record_key_use(key, ip, request.META.get("HTTP_USER_AGENT", ""))
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return 'Token realm="api"'
