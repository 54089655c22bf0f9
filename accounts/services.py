"""Writes of the accounts app: every change goes through one of these."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import AccessLog, ApiKey, Membership, Organization, Role, User, hash_key


@dataclass(frozen=True)
class Actor:
    """Who acted and from where, for the access log."""

    user: User | None = None
    api_key: ApiKey | None = None
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> Actor:
        user = getattr(request, "user", None)
        auth = getattr(request, "auth", None)
        return cls(
            user=user if getattr(user, "pk", None) and isinstance(user, User) else None,
            api_key=auth if isinstance(auth, ApiKey) else None,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
        )


SYSTEM = Actor()


def client_ip(request) -> str | None:
    """Return the client's address; behind TRUSTED_PROXY_COUNT proxies, from X-Forwarded-For."""
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def record_access(
    action: str,
    actor: Actor = SYSTEM,
    *,
    organization: Organization | None = None,
    label: str = "",
    **detail,
) -> AccessLog:
    """Leave one access-log row."""
    if not label:
        if actor.user is not None:
            label = actor.user.email
        elif actor.api_key is not None:
            label = f"key {actor.api_key.prefix}"
    return AccessLog.objects.create(
        organization=organization,
        user=actor.user,
        api_key=actor.api_key,
        actor_label=label[:254],
        action=action,
        ip=actor.ip,
        user_agent=actor.user_agent,
        detail=detail,
    )


@transaction.atomic
def create_organization(owner: User, name: str, actor: Actor = SYSTEM) -> Organization:
    organization = Organization.objects.create(name=name)
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    record_access(AccessLog.Action.ORGANIZATION_CHANGED, actor, organization=organization, created=True)
    return organization


@transaction.atomic
def create_api_key(
    organization: Organization, name: str, *, role: str = Role.MEMBER, actor: Actor = SYSTEM
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored nor shown again."""
    secret = ApiKey.generate_secret()
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        role=role,
        prefix=secret[:12],
        hashed_key=hash_key(secret),
        created_by=actor.user,
    )
    record_access(AccessLog.Action.KEY_CREATED, actor, organization=organization, key=key.prefix, name=name)
    return key, secret


@transaction.atomic
def revoke_api_key(key: ApiKey, actor: Actor = SYSTEM) -> bool:
    """Revoke a key; return False if it was revoked already."""
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if updated:
        key.refresh_from_db(fields=["revoked_at"])
        record_access(AccessLog.Action.KEY_REVOKED, actor, organization=key.organization, key=key.prefix)
    return bool(updated)


def touch_api_key(key: ApiKey, ip: str | None) -> None:
    """Write last_used_at/ip at most once a minute per key (one conditional UPDATE)."""
    now = timezone.now()
    if key.last_used_at and (now - key.last_used_at).total_seconds() < 60:
        return
    from django.db.models import Q

    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timezone.timedelta(seconds=60))
    ).update(last_used_at=now, last_used_ip=ip)
    key.last_used_at, key.last_used_ip = now, ip
