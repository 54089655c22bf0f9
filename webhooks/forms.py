"""Forms of the callback-endpoint portal pages."""

from __future__ import annotations

from django import forms

from webhooks.callbacks import UnsafeDestination, validate_url
from webhooks.models import SUBSCRIBABLE_EVENTS

EVENT_LABELS = {
    "message.status": "Message status changes (sent, delivered, read, failed…)",
    "message.inbound": "Inbound messages (replies from your customers)",
    "all": "Everything, including event types added later",
}


class CallbackEndpointForm(forms.Form):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/jood/callbacks", "autocomplete": "off"}),
        help_text="We POST signed JSON here. It must be reachable from the internet (http or https).",
    )
    events = forms.MultipleChoiceField(
        choices=[(e, EVENT_LABELS.get(e, e)) for e in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        initial=["all"],
        error_messages={"required": "Choose at least one event type."},
    )
    description = forms.CharField(max_length=200, required=False, help_text="For you, e.g. “Order service”.")
    is_active = forms.BooleanField(label="Active: send callbacks to it", required=False, initial=True)

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            validate_url(url)
        except UnsafeDestination as exc:
            raise forms.ValidationError(str(exc))
        return url

    def clean_events(self) -> list[str]:
        return sorted(set(self.cleaned_data["events"]))
