"""Forms of the accounts portal pages; the writes they lead to are in accounts/services.py."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.safestring import mark_safe

from accounts.models import (
    SCOPE_PRIVACY,
    ApiKey,
    Membership,
    Organization,
    Role,
    User,
    time_zone_names,
    validate_time_zone,
)
from jood.phones import looks_like_phone


def _clean_phone(value: str) -> str:
    value = (value or "").strip()
    if value and not looks_like_phone(value):
        raise forms.ValidationError("Enter a phone number in the +<country code> form, e.g. +966 50 123 4567.")
    return value


def time_zone_choices() -> list[tuple[str, str]]:
    """IANA zones, UTC first, then by name (Asia/Riyadh shows as "Asia/Riyadh")."""
    return [("UTC", "UTC")] + [(name, name.replace("_", " ")) for name in sorted(time_zone_names() - {"UTC"})]


class TimeZoneField(forms.ChoiceField):
    """A select of IANA zones, validated with zoneinfo."""

    def __init__(self, *, blank_label: str = "", browser_default: bool = False, **kwargs):
        choices = time_zone_choices()
        if blank_label:
            choices = [("", blank_label), *choices]
        attrs = {"data-browser-timezone": ""} if browser_default else {}
        kwargs.setdefault("label", "Time zone")
        super().__init__(choices=choices, widget=forms.Select(attrs=attrs), **kwargs)
        self.validators.append(validate_time_zone)

    def valid_value(self, value) -> bool:
        # The same rule as the model's validator, with its clearer message (see validate_time_zone).
        return value == "" or value in time_zone_names()


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
    time_zone = TimeZoneField(
        browser_default=True,
        required=False,
        help_text="Your organization's: times in the portal are shown and taken in it. Set from your browser.",
    )
    confirmed_adult = forms.BooleanField(label="I am 18 years old or older.", required=True)
    privacy_consent = forms.BooleanField(required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["privacy_consent"].label = mark_safe(
            'I have read and accept the <a href="/privacy/" target="_blank" rel="noopener">privacy policy</a>.'
        )
        self.fields["time_zone"].initial = settings.TIME_ZONE  # until the browser's is filled in
        self.fields["confirmed_adult"].error_messages["required"] = "You must be 18 or older to sign up."
        self.fields["privacy_consent"].error_messages["required"] = "Please accept the privacy policy to continue."

    def clean_email(self) -> str:
        # A registered address is not an error here: saying so would tell anyone
        # which addresses have an account (issue 13). The owner is told by email.
        return self.cleaned_data["email"].strip().lower()

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data.get("phone", ""))

    def clean_time_zone(self) -> str:
        return self.cleaned_data.get("time_zone") or ""  # none given (no script): the site's TIME_ZONE

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


class LoginForm(AuthenticationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Email"
        self.fields["username"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})

    def clean(self):
        from accounts.login_throttle import THROTTLED_ATTRIBUTE

        try:
            return super().clean()
        finally:
            wait = getattr(self.request, THROTTLED_ATTRIBUTE, None) if self.request is not None else None
            if wait:
                minutes = max(1, round(wait / 60))
                self.errors.pop("__all__", None)
                self.add_error(
                    None,
                    f"Too many failed log-in attempts for this account or from your network. "
                    f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, or reset your password.",
                )


class ProfileForm(forms.ModelForm):
    time_zone = TimeZoneField(required=False, help_text="Times in the portal are shown and taken in it.")

    class Meta:
        model = User
        fields = ["name", "email", "phone", "time_zone"]
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

    def __init__(self, *args, organization: Organization | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        zone = organization.time_zone if organization is not None else "UTC"
        self.fields["time_zone"].choices = [("", f"The organization's ({zone})"), *time_zone_choices()]

    def clean_phone(self) -> str:
        return _clean_phone(self.cleaned_data.get("phone", ""))


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)
    time_zone = TimeZoneField(
        help_text="Times in the portal are shown and taken in it, for members with no zone of their own."
    )


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
    privacy_scope = forms.BooleanField(
        required=False,
        label="Owner-only actions",
        help_text="An admin key that may also export, pause and delete the organization over the API. "
        "Only owners can give it; it stops working if you stop being an owner.",
    )

    def __init__(self, *args, is_owner: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not is_owner:
            del self.fields["privacy_scope"]

    def clean(self):
        data = super().clean()
        if data.get("privacy_scope") and data.get("role") != Role.ADMIN:
            self.add_error("privacy_scope", "Owner-only actions need an admin key.")
        return data

    @property
    def scopes(self) -> list[str]:
        return [SCOPE_PRIVACY] if self.cleaned_data.get("privacy_scope") else []


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
