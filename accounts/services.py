"""Writes of the accounts app: every change goes through one of these."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts.models import (
    API_KEY_SCOPES,
    SCOPE_PRIVACY,
    AccessLog,
    ApiKey,
    Membership,
    Organization,
    Role,
    User,
    hash_key,
    validate_time_zone,
)


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


class TeamError(ValueError):
    """A team change that is not allowed (the message says why)."""


def current_policy_version() -> str:
    """Return the privacy policy version a user must have accepted (settings.PRIVACY_POLICY_VERSION)."""
    return settings.PRIVACY_POLICY_VERSION


def client_ip(request) -> str | None:
    """Return the client's address: the one place every view, log and throttle reads it from.

    Behind TRUSTED_PROXY_COUNT proxies (load balancers) that each append the
    address they saw to X-Forwarded-For, the client is the entry that many
    from the end; entries before it are the client's own to forge. Without
    the setting, or with a header that does not hold an address, the peer's.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            try:
                return str(ipaddress.ip_address(forwarded[-proxies]))
            except ValueError:
                pass
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
def create_organization(owner: User, name: str, actor: Actor = SYSTEM, *, time_zone: str = "") -> Organization:
    """Create an organization owned by `owner`, in `time_zone` (default: the site's TIME_ZONE)."""
    validate_time_zone(time_zone)
    organization = Organization.objects.create(name=name, **({"time_zone": time_zone} if time_zone else {}))
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    record_access(AccessLog.Action.ORGANIZATION_CHANGED, actor, organization=organization, created=True)
    return organization


class ScopeError(ValueError):
    """A scope the acting person may not give (the message says why)."""


def check_scopes(organization: Organization, role: str, scopes: list[str], actor: Actor) -> list[str]:
    """Return the scopes, or raise ScopeError: "privacy" only on an admin key, given by an owner in person."""
    scopes = sorted(set(scopes or []))
    unknown = [s for s in scopes if s not in API_KEY_SCOPES]
    if unknown:
        raise ScopeError(f"Unknown scope: {', '.join(unknown)}.")
    if SCOPE_PRIVACY in scopes:
        if role != Role.ADMIN:
            raise ScopeError("The privacy scope is for admin keys only.")
        is_owner = (
            actor.user is not None
            and actor.api_key is None
            and Membership.objects.filter(user=actor.user, organization=organization, role=Role.OWNER).exists()
        )
        if not is_owner:
            raise ScopeError("Only an owner, signed in to the portal, can give a key the privacy scope.")
    return scopes


@transaction.atomic
def create_api_key(
    organization: Organization,
    name: str,
    *,
    role: str = Role.MEMBER,
    scopes: list[str] | None = None,
    actor: Actor = SYSTEM,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored nor shown again."""
    scopes = check_scopes(organization, role, scopes or [], actor)
    secret = ApiKey.generate_secret()
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        role=role,
        prefix=secret[:12],
        hashed_key=hash_key(secret),
        scopes=scopes,
        created_by=actor.user,
    )
    extra = {"scopes": scopes} if scopes else {}
    record_access(AccessLog.Action.KEY_CREATED, actor, organization=organization, key=key.prefix, name=name, **extra)
    return key, secret


@transaction.atomic
def revoke_api_key(key: ApiKey, actor: Actor = SYSTEM) -> bool:
    """Revoke a key; return False if it was revoked already."""
    updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if updated:
        from accounts.authentication import forget_api_keys

        forget_api_keys()  # this process at once; the others within API_KEY_CACHE_SECONDS
        transaction.on_commit(forget_api_keys)  # and not re-cached from a read before the commit
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


# --- sign up and team ---------------------------------------------------------------------------
def request_sign_up(
    *,
    organization_name: str,
    name: str,
    email: str,
    phone: str,
    password: str,
    actor: Actor,
    request,
    time_zone: str = "",
) -> None:
    """Start a sign-up without telling whether the address has an account (issue 13).

    A new address gets an inactive account and a link to confirm it; a
    registered one gets an email saying so. The caller shows the same page
    for both, and the work done is the same (a password hashed either way).
    """
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        make_password(password)  # as long as a new account takes: the answer's timing tells nothing
        transaction.on_commit(lambda: send_sign_up_notice(existing, request))
        return
    user, _ = sign_up(
        organization_name=organization_name,
        name=name,
        email=email,
        phone=phone,
        password=password,
        actor=actor,
        active=False,
        time_zone=time_zone,
    )
    transaction.on_commit(lambda: send_sign_up_confirmation(user, request))


def send_sign_up_confirmation(user: User, request) -> None:
    """Email the link that activates a new account and logs its owner in (once, for a few days)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    url = request.build_absolute_uri(reverse("portal-signup-confirm", kwargs={"uidb64": uid, "token": token}))
    body = render_to_string("accounts/email/signup_confirm.txt", {"user": user, "confirm_url": url})
    send_mail("Confirm your email for Jood Notifications", body, None, [user.email])


def send_sign_up_notice(user: User, request) -> None:
    """Tell the owner of a registered address that someone tried to sign up with it."""
    context = {
        "user": user,
        "login_url": request.build_absolute_uri(reverse("portal-login")),
        "reset_url": request.build_absolute_uri(reverse("portal-password-reset")),
    }
    body = render_to_string("accounts/email/signup_existing.txt", context)
    send_mail("Sign-up attempt on Jood Notifications", body, None, [user.email])


def confirm_sign_up(uidb64: str, token: str) -> User | None:
    """Activate the account a confirmation link names; None when the link is wrong, used or expired."""
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    user = User.objects.filter(pk=pk, is_active=False, last_login__isnull=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    user.is_active = True
    user.save(update_fields=["is_active"])
    return user


def sign_up(
    *,
    organization_name: str,
    name: str,
    email: str,
    phone: str,
    password: str,
    actor: Actor,
    active: bool = True,
    time_zone: str = "",
) -> tuple[User, Organization]:
    """Create a user with their consent recorded, and their organization with them as owner."""
    now = timezone.now()
    version = current_policy_version()
    with transaction.atomic():
        user = User.objects.create_user(
            email,
            password,
            name=name,
            phone=phone,
            privacy_policy_version=version,
            privacy_accepted_at=now,
            confirmed_adult_at=now,
            is_active=active,
        )
        acting = Actor(user=user, ip=actor.ip, user_agent=actor.user_agent)
        organization = create_organization(user, organization_name, actor=acting, time_zone=time_zone)
        record_access(AccessLog.Action.SIGNUP, acting, organization=organization)
        record_access(
            AccessLog.Action.CONSENT,
            acting,
            organization=organization,
            privacy_policy_version=version,
            confirmed_adult=True,
        )
    return user, organization


@transaction.atomic
def update_organization(organization: Organization, *, actor: Actor = SYSTEM, **changes) -> list[str]:
    """Change the organization's name or time zone; return the fields that changed (and log them)."""
    allowed = {"name", "time_zone"}
    if set(changes) - allowed:
        raise ValueError(f"Only {sorted(allowed)} can be changed here.")
    if "time_zone" in changes:
        validate_time_zone(changes["time_zone"])
    changed = [field for field, value in changes.items() if getattr(organization, field) != value]
    for field in changed:
        setattr(organization, field, changes[field])
    if changed:
        organization.save(update_fields=changed)
        record_access(AccessLog.Action.ORGANIZATION_CHANGED, actor, organization=organization, fields=changed)
    return changed


def _owners_locked(organization: Organization) -> int:
    """Lock the organization's owner memberships and return how many there are."""
    return len(
        list(
            Membership.objects.select_for_update()
            .filter(organization=organization, role=Role.OWNER)
            .values_list("pk", flat=True)
        )
    )


def _check_may_touch(acting: Membership, target: Membership) -> None:
    if target.role == Role.OWNER and not acting.has_role(Role.OWNER):
        raise TeamError("Only an owner can change or remove an owner.")


def invite_member(
    organization: Organization, email: str, role: str, *, acting: Membership, actor: Actor, request
) -> Membership:
    """Add a person to the organization; create their user (no password yet) if missing, and email them."""
    if role == Role.OWNER and not acting.has_role(Role.OWNER):
        raise TeamError("Only an owner can invite an owner.")
    email = email.strip().lower()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        created = user is None
        if created:
            user = User.objects.create_user(email, None)  # an unusable password until they set one
        membership, _ = Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": role})
        record_access(
            AccessLog.Action.MEMBER_INVITED, actor, organization=organization, email=email, role=role, new_user=created
        )
        transaction.on_commit(lambda: send_invitation(user, organization, inviter=actor.user, request=request))
    return membership


def needs_password(user: User) -> bool:
    """Return whether the user has not set a password yet (an invited person)."""
    return not user.has_usable_password()


def send_invitation(user: User, organization: Organization, *, inviter: User | None, request) -> None:
    """Email the invitation: a link to set a password (new people), or to log in (people with an account)."""
    context = {
        "user": user,
        "organization": organization,
        "inviter": inviter.get_full_name() if inviter else "Someone",
        "login_url": request.build_absolute_uri(reverse("portal-login")),
        "set_password_url": "",
    }
    if needs_password(user):
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        context["set_password_url"] = request.build_absolute_uri(
            reverse("portal-password-reset-confirm", kwargs={"uidb64": uid, "token": token})
        )
    subject = f"You are invited to {organization.name} on Jood Notifications"
    body = render_to_string("accounts/email/invitation.txt", context)
    send_mail(subject, body, None, [user.email])


def change_role(membership: Membership, role: str, *, acting: Membership, actor: Actor) -> Membership:
    """Give a member another role; the last owner stays an owner."""
    if role not in Role.values:
        raise TeamError("Unknown role.")
    with transaction.atomic():
        _check_may_touch(acting, membership)
        if role == Role.OWNER and not acting.has_role(Role.OWNER):
            raise TeamError("Only an owner can make someone an owner.")
        owners = _owners_locked(membership.organization)
        if membership.role == Role.OWNER and role != Role.OWNER and owners <= 1:
            raise TeamError("An organization needs an owner: make someone else an owner first.")
        old = membership.role
        if old == role:
            return membership
        membership.role = role
        membership.save(update_fields=["role"])
        record_access(
            AccessLog.Action.ORGANIZATION_CHANGED,
            actor,
            organization=membership.organization,
            change="role_changed",
            email=membership.user.email,
            old_role=old,
            role=role,
        )
    return membership


def remove_member(membership: Membership, *, acting: Membership, actor: Actor) -> None:
    """Remove a person from the organization (their user stays); never the last owner."""
    with transaction.atomic():
        _check_may_touch(acting, membership)
        owners = _owners_locked(membership.organization)
        if membership.role == Role.OWNER and owners <= 1:
            raise TeamError("The last owner cannot be removed: make someone else an owner first.")
        record_access(
            AccessLog.Action.MEMBER_REMOVED,
            actor,
            organization=membership.organization,
            email=membership.user.email,
            role=membership.role,
        )
        membership.delete()
