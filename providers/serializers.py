from __future__ import annotations

from rest_framework import serializers

from providers.base import provider_names
from providers.models import OPTION_FIELDS, SENDING_FIELDS, Channel, ProviderAccount


def shows_webhook_tokens(request) -> bool:
    """True when the request's key (or member) is an admin: the only ones who see webhook tokens."""
    from accounts.models import ROLE_RANK, ApiKey, Role

    key = getattr(request, "auth", None) if request is not None else None
    if isinstance(key, ApiKey):
        return ROLE_RANK[Role(key.role)] >= ROLE_RANK[Role.ADMIN]
    membership = getattr(request, "membership", None)
    return bool(membership is not None and membership.has_role(Role.ADMIN))


class ProviderAccountSerializer(serializers.ModelSerializer):
    """Credentials are write-only: the answer carries only masked hints."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    provider = serializers.ChoiceField(choices=[])
    channel = serializers.ChoiceField(choices=Channel.choices)
    credentials = serializers.DictField(child=serializers.CharField(allow_blank=True), write_only=True, required=False)
    credentials_hint = serializers.JSONField(read_only=True)
    callback_url = serializers.SerializerMethodField(
        help_text="Where the provider posts its reports. With the `?t=` token (Infobip, Unifonic) for admin keys only."
    )
    previous_token_valid_until = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="After a token rotation: until when the old token is accepted."
    )
    allowed_prefixes = serializers.ListField(child=serializers.RegexField(r"^\+\d{1,6}$"), required=False)
    # An operator's setting: staff set it in the admin. Shown, never taken (see `validate`).
    # A CharField: empty (the provider's public default) is not a URI, and the schema must allow it.
    api_base_url = serializers.CharField(
        read_only=True, help_text="The provider's API address, set by Jood staff; empty: its public default."
    )

    class Meta:
        model = ProviderAccount
        fields = [
            "id",
            "provider",
            "channel",
            "label",
            "credentials",
            "credentials_hint",
            *SENDING_FIELDS,
            *OPTION_FIELDS,
            "is_active",
            "callback_url",
            "previous_token_valid_until",
            "health_status",
            "health_detail",
            "health_checked_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["health_status", "health_detail", "health_checked_at", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [(name, name) for name in provider_names()]
        if self.instance is not None and not isinstance(self.instance, list):
            # Provider and channel are fixed once connected.
            self.fields["provider"].read_only = True
            self.fields["channel"].read_only = True

    def validate(self, data):
        given = self.initial_data.get("api_base_url") if isinstance(self.initial_data, dict) else None
        current = self.instance.api_base_url if self.instance is not None else ""
        if given is not None and (given or "") != current:
            raise serializers.ValidationError(
                {"api_base_url": "Set by Jood staff only: the provider's address cannot be changed through the API."}
            )
        if self.instance is None and "credentials" not in data:
            data["credentials"] = {}
        return data

    def get_callback_url(self, account: ProviderAccount) -> str:
        # The token in the URL lets whoever holds it post delivery reports: admins only.
        if shows_webhook_tokens(self.context.get("request")):
            return account.callback_url
        return account.public_callback_url

    def validate_settings(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("settings must be a JSON object.")
        return value

    def validate_messages_per_second(self, value):
        if value < 0 or value > 10_000:
            raise serializers.ValidationError("Between 0 (no limit) and 10,000.")
        return value
