"""Shapes of the callback-endpoints API. Serializers validate; services decide."""

from __future__ import annotations

from rest_framework import serializers

from providers.models import Channel
from webhooks.callbacks import UnsafeDestination, validate_url
from webhooks.models import SUBSCRIBABLE_EVENTS, CallbackAttempt, CallbackDelivery, CallbackEndpoint


class CallbackEndpointSerializer(serializers.ModelSerializer):
    """An endpoint as listed: never its secret."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    url = serializers.URLField(max_length=500, help_text="Where we POST the callbacks: http or https, public host.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS),
        allow_empty=False,
        required=False,
        help_text='Event types to receive: "message.status", "message.inbound", or "all" (the default).',
    )
    active = serializers.BooleanField(source="is_active", required=False, default=True)
    previous_secret_valid_until = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="After a secret rotation: until when callbacks are also signed with the old secret.",
    )

    class Meta:
        model = CallbackEndpoint
        fields = [
            "id",
            "url",
            "events",
            "description",
            "active",
            "previous_secret_valid_until",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "previous_secret_valid_until", "created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        try:
            validate_url(value)
        except UnsafeDestination as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value))


class CallbackEndpointCreatedSerializer(CallbackEndpointSerializer):
    """The answer to a create: the only time the signing secret is shown."""

    secret = serializers.CharField(
        read_only=True,
        help_text="`whsec_` + base64. Verify our `webhook-signature` with it. Shown once: store it now.",
    )

    class Meta(CallbackEndpointSerializer.Meta):
        fields = [*CallbackEndpointSerializer.Meta.fields, "secret"]


class CallbackAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackAttempt
        fields = ["number", "started_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt"]
        read_only_fields = fields


class CallbackDeliverySerializer(serializers.ModelSerializer):
    """One event posted (or to post) to an endpoint, with every try."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    webhook_id = serializers.CharField(read_only=True, help_text="The `webhook-id` header: the same on every retry.")
    message_id = serializers.SerializerMethodField()
    attempts = CallbackAttemptSerializer(source="attempt_log", many=True, read_only=True)
    attempt_count = serializers.IntegerField(source="attempts", read_only=True)

    class Meta:
        model = CallbackDelivery
        fields = [
            "id",
            "webhook_id",
            "event_type",
            "url",
            "state",
            "message_id",
            "payload",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_latency_ms",
            "last_error",
            "created_at",
            "finished_at",
            "attempts",
        ]
        read_only_fields = fields

    def get_message_id(self, obj: CallbackDelivery) -> str | None:
        return obj.payload.get("data", {}).get("id") if obj.event_type != "test" else None


class SandboxInboundSerializer(serializers.Serializer):
    """A customer's reply to simulate through a sandbox account."""

    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.WHATSAPP)
    # "from" is a Python keyword: the field is declared below.
    body = serializers.CharField(max_length=4096, allow_blank=True, default="")
    provider_account = serializers.UUIDField(
        required=False, help_text="A sandbox account of this organization; by default the first active one."
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField(max_length=32, help_text="The customer's number, e.g. +966501234567.")
        return fields


class SimulatedInboundSerializer(serializers.Serializer):
    """The stored reply, and until when the WhatsApp window it opened stays open."""

    id = serializers.UUIDField(source="public_id")
    channel = serializers.CharField()
    to = serializers.CharField(source="to_number")
    body = serializers.CharField()
    received_at = serializers.DateTimeField()
    provider_account = serializers.UUIDField(source="provider_account.public_id")
    window_expires_at = serializers.SerializerMethodField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.CharField(source="from_number")
        return fields

    def get_window_expires_at(self, inbound) -> str | None:
        if inbound.channel != "whatsapp":
            return None
        from messaging.services import WHATSAPP_WINDOW

        return serializers.DateTimeField().to_representation(inbound.received_at + WHATSAPP_WINDOW)
