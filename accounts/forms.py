"""Forms of the accounts portal pages; the writes they lead to are in accounts/services.py."""

from __future__ import annotations

import re

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.utils.safestring import mark_safe

from accounts.models import ApiKey, Membership, Role, User

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{5,24}$")


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
        # A registered address is not an error here: saying so would tell anyone
        # which addresses have an account (issue 13). The owner is told by email.
        return self.cleaned_data["email"].strip().lower()

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
