"""Users, organizations, memberships, API keys and the access log."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


def validate_time_zone(value: str) -> None:
    """Accept an IANA time zone name that zoneinfo knows (e.g. Asia/Riyadh); refuse anything else."""
    if not value:
        return
    if value not in time_zone_names():
        raise ValidationError(f"{value!r} is not a known IANA time zone, e.g. Asia/Riyadh or Europe/London.")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known IANA time zone.") from None


@functools.cache
def time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def default_time_zone() -> str:
    """A new organization's zone: the site's TIME_ZONE (UTC unless the operator set another)."""
    return settings.TIME_ZONE


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email address is the login."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Can log in to the staff console.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Consent given at sign-up (privacy policy version and time; 18 or older).
    privacy_policy_version = models.CharField(max_length=20, blank=True)
    privacy_accepted_at = models.DateTimeField(null=True, blank=True)
    confirmed_adult_at = models.DateTimeField(null=True, blank=True)
    # Consent withdrawn (issue 17 item 8): the account is kept but restricted (read-only
    # portal, no sending) until the person gives consent again.
    consent_withdrawn_at = models.DateTimeField(null=True, blank=True)
    # The portal shows and takes times in it; blank: the organization's zone.
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email


class Organization(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retention_days = models.PositiveIntegerField(default=settings.MESSAGE_LOG_RETENTION_DAYS)
    # ISO 3166 region ("SA") that a number typed without its country code belongs to
    # (a search for 050…); blank: the PHONE_DEFAULT_REGION setting.
    country = models.CharField(max_length=2, blank=True)
    # A legal hold keeps message logs past retention; only staff set it.
    # IANA name: the portal shows and takes times in it (unless a user chose their own).
    time_zone = models.CharField(max_length=64, default=default_time_zone, validators=[validate_time_zone])
    legal_hold_until = models.DateField(null=True, blank=True)
    legal_hold_reason = models.CharField(max_length=300, blank=True)
    # A pause: no sending; new sends are rejected with organization_paused, waiting ones wait.
    paused_at = models.DateTimeField(null=True, blank=True)
    # Restriction of processing, an owner's switch of its own: data kept, nothing sent
    # (new sends rejected with processing_restricted, waiting ones wait) until lifted.
    processing_restricted_at = models.DateTimeField(null=True, blank=True)
    # Deletion requested by an owner; the rest is erased after a grace period.
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    deletion_scheduled_for = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_paused(self) -> bool:
        """True while nothing may be sent: paused, or processing restricted."""
        return self.paused_at is not None or self.processing_restricted_at is not None

    @property
    def is_restricted(self) -> bool:
        return self.processing_restricted_at is not None


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Higher rank can do everything a lower one can.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="uniq_membership")]
        ordering = ["organization__name"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]


KEY_PREFIX = "jood_"


def hash_key(secret: str) -> str:
    """Return the stored form of an API key secret.

    The secret has 256 bits of entropy, so a fast hash is enough (no
    password stretching is needed against brute force) and keeps the
    authentication path cheap.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


SCOPE_PRIVACY = "privacy"
API_KEY_SCOPES = (SCOPE_PRIVACY,)


class ApiKey(models.Model):
    """An organization's API key. Only a hash of the secret is stored."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, db_index=True, help_text="Shown so the key can be recognised.")
    hashed_key = models.CharField(max_length=64, unique=True)
    role = models.CharField(
        max_length=10,
        choices=[(Role.ADMIN, "Admin"), (Role.MEMBER, "Member"), (Role.VIEWER, "Viewer")],
        default=Role.MEMBER,
        help_text="What the key may do: viewer reads, member sends, admin also manages settings.",
    )
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Extra rights beyond the role. "privacy": the owner-only actions (export, pause,
    # deletion); only an owner can give it, in the portal (accounts/permissions.py OwnerAction).
    scopes = models.JSONField(default=list, blank=True, help_text='Extra rights: "privacy" (owner-only actions).')
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate_secret() -> str:
        return KEY_PREFIX + secrets.token_urlsafe(32)


class AccessLog(models.Model):
    """Who did what, from where: logins, keys, exports, deletions, credential changes."""

    class Action(models.TextChoices):
        LOGIN = "login"
        LOGIN_FAILED = "login_failed"
        LOGIN_THROTTLED = "login_throttled"
        LOGOUT = "logout"
        SIGNUP = "signup"
        KEY_CREATED = "key_created"
        KEY_REVOKED = "key_revoked"
        CREDENTIALS_CHANGED = "credentials_changed"
        MEMBER_INVITED = "member_invited"
        MEMBER_REMOVED = "member_removed"
        PROFILE_CHANGED = "profile_changed"
        ORGANIZATION_CHANGED = "organization_changed"
        CONSENT = "consent"
        EXPORT_REQUESTED = "export_requested"
        EXPORT_DOWNLOADED = "export_downloaded"
        PAUSED = "paused"
        RESUMED = "resumed"
        DELETION_REQUESTED = "deletion_requested"
        ORGANIZATION_DELETED = "organization_deleted"
        USER_DELETED = "user_deleted"
        LEGAL_HOLD = "legal_hold"
        CONSENT_WITHDRAWN = "consent_withdrawn"
        PROCESSING_RESTRICTED = "processing_restricted"
        RESTRICTION_LIFTED = "restriction_lifted"
        PERSONAL_EXPORT = "personal_export"

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="access_logs"
    )
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Kept when the user is gone or the login failed (the address tried).
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["organization", "-at"], name="accesslog_org_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.actor_label}"


class ApiKeyUse(models.Model):
    """API key use for the access log: one row per key, client address and user agent per hour.

    Aggregated in each web process and written in one upsert every few
    seconds after a response (accounts/key_usage.py), never a row per request.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="uses")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_key_uses")
    hour = models.DateTimeField(help_text="The start of the hour (UTC).")
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-hour", "-last_seen"]
        constraints = [
            models.UniqueConstraint(fields=["api_key", "hour", "ip", "user_agent"], name="apikeyuse_one_per_hour")
        ]
        indexes = [models.Index(fields=["organization", "-hour"], name="apikeyuse_org_hour")]

    def __str__(self) -> str:
        return f"key {self.api_key_id} {self.hour:%Y-%m-%d %H}:00 {self.ip} × {self.count}"
