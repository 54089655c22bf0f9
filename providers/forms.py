"""Forms of the provider-account pages.

Secret credentials are write-only: each is a password input that is never
filled in (`render_value=False`, also when the form comes back with errors).
When editing, a blank credential keeps the stored value; only its masked hint
is shown. Identifiers (the adapter's `public_credentials`: an account SID, a
base URL, a phone number ID) are plain text inputs, shown and kept.
"""

from __future__ import annotations

import re

from django import forms

from providers.base import get_adapter
from providers.models import Channel

CREDENTIAL_PREFIX = "cred_"
PREFIX_RE = re.compile(r"^\+[1-9][0-9]{0,5}$")

# Labels and where to find each credential (providers/README.md).
CREDENTIAL_LABELS = {
    "account_sid": "Account SID",
    "auth_token": "Auth token",
    "api_key_sid": "API key SID",
    "api_key_secret": "API key secret",
    "api_key": "API key",
    "base_url": "Base URL",
    "app_sid": "AppSid",
    "sender_id": "Sender ID",
    "username": "User name",
    "password": "Password",
    "timezone": "Time zone",
    "access_token": "Access token",
    "phone_number_id": "Phone number ID",
    "waba_id": "WhatsApp Business Account ID",
    "app_secret": "App secret",
    "verify_token": "Verify token",
}
CREDENTIAL_HELP = {
    ("twilio", "account_sid"): "Twilio Console home page, “Account Info”: AC followed by 32 characters.",
    ("twilio", "auth_token"): "Same panel, “Auth Token”: the primary token. It verifies Twilio's callback signatures.",
    ("twilio", "api_key_sid"): "Optional: an API key (SK…) to send with instead of the Auth Token.",
    ("twilio", "api_key_secret"): "Needed with the API key SID: shown once when the key is created.",
    ("infobip", "api_key"): "The API keys page of the Infobip portal; the key alone, without “App ”.",
    ("infobip", "base_url"): "Shown in the Infobip portal, like https://xxxxx.api.infobip.com.",
    ("unifonic", "app_sid"): "Unifonic console: the application's AppSid.",
    ("unifonic", "sender_id"): "A sender name registered on your Unifonic account.",
    ("unifonic", "username"): "Only if Unifonic asks for Basic auth on your account (with the password).",
    ("unifonic", "timezone"): "Your Unifonic account's time zone, e.g. Asia/Riyadh (default UTC).",
    ("whatsapp", "access_token"): "A System User token with whatsapp_business_messaging and _management.",
    ("whatsapp", "phone_number_id"): "App Dashboard → WhatsApp → API Setup, “Phone number ID” (not the number).",
    ("whatsapp", "waba_id"): "Same page, “WhatsApp Business Account ID”.",
    ("whatsapp", "app_secret"): "App Dashboard → App settings → Basic → “App secret”.",
    ("whatsapp", "verify_token"): "Any long random string; paste the same in Meta's webhook settings.",
    ("sandbox", "api_key"): "Not needed: the sandbox accepts everything.",
}

PROVIDER_INFO = {
    "twilio": "SMS and MMS worldwide through your Twilio account.",
    "infobip": "SMS through your Infobip account.",
    "unifonic": "SMS in Saudi Arabia and the region through your Unifonic account.",
    "whatsapp": "WhatsApp messages and approved templates through Meta's WhatsApp Cloud API.",
    "sandbox": "A simulated provider: accepts every message and reports it delivered (and read, on WhatsApp). "
    "Nothing leaves.",
}
PASTE_HELP = {
    "twilio": "Delivery reports need nothing pasted. For inbound SMS and STOP opt-outs, paste it in Twilio's console "
    "→ Phone Numbers → the number → Messaging → “A message comes in” (HTTP POST).",
    "infobip": "Nothing needed for delivery reports. If you route reports through Infobip Subscriptions, paste it "
    "there exactly as shown, token included.",
    "unifonic": "Nothing needed for per-message reports. For Unifonic's account-wide delivery webhook, paste it "
    "exactly as shown, token included.",
    "whatsapp": "Paste it in Meta's App Dashboard → WhatsApp → Configuration → Webhook as “Callback URL” with your "
    "verify token, then subscribe to “messages” and “message_template_status_update”.",
    "sandbox": "Nothing to paste: the sandbox posts its reports here by itself.",
}


def credential_names(provider: str) -> tuple[list[str], list[str]]:
    adapter = get_adapter(provider)
    return list(adapter.required_credentials), list(adapter.optional_credentials)


def parse_prefixes(text: str) -> list[str]:
    """Return E.164 prefixes from text separated by commas or spaces; raise ValidationError on a bad one."""
    prefixes = []
    for item in re.split(r"[\s,;]+", (text or "").strip()):
        if not item:
            continue
        if not item.startswith("+"):
            item = "+" + item
        if not PREFIX_RE.match(item):
            raise forms.ValidationError(f"{item!r} is not a country or number prefix like +966.")
        if item not in prefixes:
            prefixes.append(item)
    return prefixes


# Each provider's own words for the settings (no Twilio advice on an Infobip form).
SENDER_HELP = {
    "twilio": "A number in +E.164, an alphanumeric sender ID, or a Twilio Messaging Service SID (MG…).",
    "infobip": "A number in +E.164 or an alphanumeric sender registered with Infobip.",
    "unifonic": "A sender name registered on your Unifonic account (or leave blank to use the Sender ID credential).",
    "whatsapp": "Shown for reference: WhatsApp sends from the phone number ID below.",
    "sandbox": "Any number in +E.164 or an alphanumeric sender ID: the sandbox accepts all.",
}
LABEL_EXAMPLE = {
    "twilio": "Twilio KSA",
    "infobip": "Infobip KSA",
    "unifonic": "Unifonic KSA",
    "whatsapp": "WhatsApp support line",
    "sandbox": "Sandbox",
}


class AccountSettingsForm(forms.Form):
    label = forms.CharField(max_length=100, help_text="A name you will recognise.")
    default_sender = forms.CharField(
        label="Default sender",
        max_length=64,
        required=False,
        help_text="A number in +E.164 or an alphanumeric sender ID.",
    )
    priority = forms.IntegerField(
        min_value=0, max_value=32767, initial=100, help_text="Lower is tried first when routing automatically."
    )
    allowed_prefixes = forms.CharField(
        label="Allowed prefixes",
        required=False,
        help_text="Send only to numbers starting with these, e.g. “+966, +971”. Empty: every number.",
    )
    messages_per_second = forms.FloatField(
        label="Rate (segments per second)",
        min_value=0,
        max_value=10000,
        initial=10,
        help_text="Shared by every worker; set it to your sender's real throughput. 0: no limit.",
    )

    def clean_allowed_prefixes(self) -> list[str]:
        return parse_prefixes(self.cleaned_data.get("allowed_prefixes", ""))

    def settings_values(self) -> dict:
        data = self.cleaned_data
        return {
            "label": data["label"],
            "default_sender": data.get("default_sender", ""),
            "priority": data["priority"],
            "allowed_prefixes": data["allowed_prefixes"],
            "messages_per_second": data["messages_per_second"],
        }


class ProviderAccountForm(AccountSettingsForm):
    """Connect (account=None) or edit an account of one provider."""

    def __init__(self, *args, provider: str, account=None, **kwargs):
        if account is not None:
            kwargs.setdefault(
                "initial",
                {
                    "label": account.label,
                    "default_sender": account.default_sender,
                    "priority": account.priority,
                    "allowed_prefixes": ", ".join(account.allowed_prefixes or []),
                    "messages_per_second": account.messages_per_second,
                },
            )
        required, optional = credential_names(provider)
        adapter = get_adapter(provider)
        self.stored_public: dict[str, str] = {}
        if account is not None:
            # Identifiers (not secrets) come back in full, to read and correct.
            stored = account.get_credentials()
            self.stored_public = {name: stored.get(name, "") for name in adapter.public_credentials}
            kwargs["initial"].update({CREDENTIAL_PREFIX + name: v for name, v in self.stored_public.items()})
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.account = account
        self.fields["label"].help_text = f"A name you will recognise, e.g. “{LABEL_EXAMPLE.get(provider, 'Main')}”."
        self.fields["default_sender"].help_text = SENDER_HELP.get(provider, self.fields["default_sender"].help_text)
        if account is None:
            channels = [c for c in Channel.choices if c[0] in adapter.channels]
            self.fields["channel"] = forms.ChoiceField(
                choices=channels,
                initial=channels[0][0],
                help_text="What this account sends." if len(channels) > 1 else "",
            )
            self.order_fields(["channel", "label"])
        hints = (account.credentials_hint or {}) if account is not None else {}
        for name in required + optional:
            public = name in adapter.public_credentials
            help_text = CREDENTIAL_HELP.get((provider, name), "")
            if account is not None and not public:
                stored = hints.get(name)
                keep = f"Stored: {stored}. Leave blank to keep it." if stored else "Not set."
                help_text = f"{keep} {help_text}".strip()
            if public:
                # An identifier: shown, and kept when the form comes back with an error.
                widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
            else:
                # A secret: never rendered with a value (write-only), also after an error.
                widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            self.fields[CREDENTIAL_PREFIX + name] = forms.CharField(
                label=CREDENTIAL_LABELS.get(name, name.replace("_", " ").capitalize()),
                required=account is None and name in required,
                strip=True,
                widget=widget,
                help_text=help_text,
            )

    def credential_fields(self):
        return [self[name] for name in self.fields if name.startswith(CREDENTIAL_PREFIX)]

    def settings_fields(self):
        return [self[name] for name in self.fields if not name.startswith(CREDENTIAL_PREFIX)]

    def credentials(self) -> dict[str, str]:
        """The credentials typed in or changed (blank ones left out: on edit they keep the stored value)."""
        typed = {
            name[len(CREDENTIAL_PREFIX) :]: value
            for name, value in self.cleaned_data.items()
            if name.startswith(CREDENTIAL_PREFIX) and value
        }
        return {name: value for name, value in typed.items() if self.stored_public.get(name) != value}

    def add_service_errors(self, errors: dict[str, str]) -> None:
        """Put the errors of providers.services.InvalidAccount next to their fields."""
        for key, message in errors.items():
            field = None
            if key.startswith("credentials."):
                field = CREDENTIAL_PREFIX + key.split(".", 1)[1]
            elif key in self.fields:
                field = key
            self.add_error(field if field in self.fields else None, message)
