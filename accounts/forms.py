"""Forms of the accounts portal pages, and the team writes they need.

The team writes (`sign_up`, `invite_member`, `change_role`, `remove_member`)
follow the house style of accounts/services.py: atomic, with an access-log
row for the person who acted.
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.safestring import mark_safe

from accounts import services
from accounts.models import AccessLog, ApiKey, Membership, Organization, Role, User

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,24}$")
DEFAULT_PRIVACY_POLICY_VERSION = "2026-11-01"


def privacy_policy_version() -> str:
    return getattr(settings, "PRIVACY_POLICY_VERSION", DEFAULT_PRIVACY_POLICY_VERSION)


def _clean_phone(value: str) -> str:
    value = (value or "").strip()
    if value and not PHONE_RE.match(value):
        raise forms.ValidationError("Enter a phone number in the +<country code> form, e.g. +966 50 123 4567.")
    return value


def _email_taken(email: str, exclude_pk: int | None = None) -> bool:
    qs = User.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


# --- sign up, log in, profile ---------------------------------------------------------------
class SignupForm(forms.Form):
    organization_name = forms.CharField(
        label="Organization name", max_length=200, help_text="Your company or team; you can rename it later."
    )
    name = forms.CharField(label="Your name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label="Work email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone = forms.CharField(
        label="Phone",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "placeholder": "+966 50 123 4567"}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters; not only digits, and not a common password.",
    )
    confirmed_adult = forms.BooleanField(label="I am 18 years old or older.", required=True)
    privacy_consent = forms.BooleanField(required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["privacy_consent"].label = mark_safe(
            'I have read and accept the <a href="/privacy/" target="_blank" rel="noopener">privacy policy</a>.'
        )
        self.fields["confirmed_adult"].error_messages["required"] = "You must be 18 or older to sign up."
        self.fields["privacy_consent"].error_messages["required"] = "Please accept the privacy policy to continue."

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if _email_taken(email):
            raise forms.ValidationError("An account with this email exists already. Log in instead.")
        return email

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data.get("phone", ""))

    def clean(self):
        data = super().clean()
        password = data.get("password")
        if password:
            probe = User(email=data.get("email", ""), name=data.get("name", ""))
            try:
                password_validation.validate_password(password, probe)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


def sign_up(
    *, organization_name: str, name: str, email: str, phone: str, password: str, actor: services.Actor
) -> tuple[User, Organization]:
    """Create a user with their consent recorded, and their organization with them as owner."""
    now = timezone.now()
    version = privacy_policy_version()
    with transaction.atomic():
        user = User.objects.create_user(
            email,
            password,
            name=name,
            phone=phone,
            privacy_policy_version=version,
            privacy_accepted_at=now,
            confirmed_adult_at=now,
        )
        acting = services.Actor(user=user, ip=actor.ip, user_agent=actor.user_agent)
        organization = services.create_organization(user, organization_name, actor=acting)
        services.record_access(AccessLog.Action.SIGNUP, acting, organization=organization)
        services.record_access(
            AccessLog.Action.CONSENT,
            acting,
            organization=organization,
            privacy_policy_version=version,
            confirmed_adult=True,
        )
    return user, organization


class LoginForm(AuthenticationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name", "email", "phone"]
        widgets = {
            "name": forms.TextInput(attrs={"autocomplete": "name"}),
            "email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
        }

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if _email_taken(email, exclude_pk=self.instance.pk):
            raise forms.ValidationError("Another account uses this email.")
        return email

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data.get("phone", ""))


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)


# --- API keys --------------------------------------------------------------------------------
class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. “Billing service”. Only for you to recognise it."
    )
    role = forms.ChoiceField(
        choices=ApiKey._meta.get_field("role").choices,
        initial=Role.MEMBER,
        help_text="Viewer reads; member also sends; admin also manages templates, accounts and endpoints.",
    )


# --- team --------------------------------------------------------------------------------------
def role_choices(acting: Membership) -> list[tuple[str, str]]:
    """Roles the acting member may give: an owner any, an admin up to admin."""
    if acting.has_role(Role.OWNER):
        return list(Role.choices)
    return [(value, label) for value, label in Role.choices if value != Role.OWNER]


class InviteForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args, acting: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.acting = acting
        self.fields["role"].choices = role_choices(acting)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if Membership.objects.filter(organization=self.acting.organization, user__email__iexact=email).exists():
            raise forms.ValidationError("This person is a member already.")
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, acting: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(acting)


class TeamError(ValueError):
    """A team change that is not allowed (the message says why)."""


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
    organization: Organization, email: str, role: str, *, acting: Membership, actor: services.Actor, request
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
        services.record_access(
            AccessLog.Action.MEMBER_INVITED, actor, organization=organization, email=email, role=role, new_user=created
        )
        transaction.on_commit(lambda: send_invitation(user, organization, inviter=actor.user, request=request))
    return membership


def needs_password(user: User) -> bool:
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


def change_role(membership: Membership, role: str, *, acting: Membership, actor: services.Actor) -> Membership:
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
        services.record_access(
            AccessLog.Action.ORGANIZATION_CHANGED,
            actor,
            organization=membership.organization,
            change="role_changed",
            email=membership.user.email,
            old_role=old,
            role=role,
        )
    return membership


def remove_member(membership: Membership, *, acting: Membership, actor: services.Actor) -> None:
    """Remove a person from the organization (their user stays); never the last owner."""
    with transaction.atomic():
        _check_may_touch(acting, membership)
        owners = _owners_locked(membership.organization)
        if membership.role == Role.OWNER and owners <= 1:
            raise TeamError("The last owner cannot be removed: make someone else an owner first.")
        services.record_access(
            AccessLog.Action.MEMBER_REMOVED,
            actor,
            organization=membership.organization,
            email=membership.user.email,
            role=membership.role,
        )
        membership.delete()
