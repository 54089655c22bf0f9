from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jood.outbound import UnsafeDestination, validate_url
from messaging.models import Batch, DeliveryAttempt, Message, MessageEvent, OptOut, Template
from messaging.services import MAX_BULK
from providers.models import Channel


@extend_schema_field(
    {"type": "object", "nullable": True, "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
)
class ErrorField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["source"] = "*"
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, message):
        if not message.error_code and not message.error_message:
            return None
        return {"code": message.error_code, "message": message.error_message}


class MessageEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageEvent
        fields = [
            "status",
            "raw_status",
            "source",
            "applied",
            "provider_timestamp",
            "received_at",
            "error_code",
            "error_message",
            "detail",
        ]


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    provider_account = serializers.UUIDField(source="provider_account.public_id", read_only=True, allow_null=True)

    class Meta:
        model = DeliveryAttempt
        fields = [
            "provider_account",
            "started_at",
            "latency_ms",
            "outcome",
            "http_status",
            "error_code",
            "error_message",
        ]


class MessageSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    template = serializers.SerializerMethodField()
    parameters = serializers.JSONField(source="template_params", read_only=True)
    provider_account = serializers.SerializerMethodField()
    batch = serializers.SerializerMethodField()
    error = ErrorField()

    class Meta:
        model = Message
        fields = [
            "id",
            "channel",
            "to",
            "sender",
            "body",
            "template",
            "parameters",
            "media",
            "status",
            "provider",
            "provider_account",
            "provider_message_id",
            "encoding",
            "segments",
            "price",
            "price_currency",
            "error",
            "batch",
            "metadata",
            "callback_url",
            "scheduled_at",
            "attempts",
            "created_at",
            "queued_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "canceled_at",
        ]

    def get_template(self, message) -> str | None:
        return str(message.template.public_id) if message.template_id and message.template else None

    def get_provider_account(self, message) -> str | None:
        return str(message.provider_account.public_id) if message.provider_account_id else None

    def get_batch(self, message) -> str | None:
        return str(message.batch.public_id) if message.batch_id else None


def _when(value) -> str | None:
    """A date-time as DRF's DateTimeField writes it (ISO 8601 in the current time zone, UTC as Z)."""
    if value is None:
        return None
    value = timezone.localtime(value) if timezone.is_aware(value) else value
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# The field MessageSerializer builds for `Message.price` (a string with six places, as DRF writes decimals).
_PRICE = serializers.DecimalField(max_digits=12, decimal_places=6, read_only=True)


def message_json(message) -> dict:
    """What `MessageSerializer(message).data` gives, built by hand.

    The send endpoint answers with one message per request; DRF builds the
    28 fields of a ModelSerializer anew for every instance, which cost more
    than the rest of the answer (BENCHMARKS.md, intake). A test holds the two
    equal, field for field.
    """
    error = None
    if message.error_code or message.error_message:
        error = {"code": message.error_code, "message": message.error_message}
    return {
        "id": str(message.public_id),
        "channel": message.channel,
        "to": message.to,
        "sender": message.sender,
        "body": message.body,
        "template": str(message.template.public_id) if message.template_id and message.template else None,
        "parameters": message.template_params,
        "media": message.media,
        "status": message.status,
        "provider": message.provider,
        "provider_account": str(message.provider_account.public_id) if message.provider_account_id else None,
        "provider_message_id": message.provider_message_id,
        "encoding": message.encoding,
        "segments": message.segments,
        "price": None if message.price is None else _PRICE.to_representation(message.price),
        "price_currency": message.price_currency,
        "error": error,
        "batch": str(message.batch.public_id) if message.batch_id else None,
        "metadata": message.metadata,
        "callback_url": message.callback_url,
        "scheduled_at": _when(message.scheduled_at),
        "attempts": message.attempts,
        "created_at": _when(message.created_at),
        "queued_at": _when(message.queued_at),
        "sent_at": _when(message.sent_at),
        "delivered_at": _when(message.delivered_at),
        "read_at": _when(message.read_at),
        "failed_at": _when(message.failed_at),
        "canceled_at": _when(message.canceled_at),
    }


class MessageDetailSerializer(MessageSerializer):
    events = MessageEventSerializer(many=True, read_only=True)
    delivery_attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta(MessageSerializer.Meta):
        fields = MessageSerializer.Meta.fields + ["events", "delivery_attempts"]


class MediaItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["image", "document", "audio", "video"],
        required=False,
        help_text="Default: read from the uploaded file (media_id), or image (url).",
    )
    url = serializers.URLField(required=False)
    media_id = serializers.UUIDField(required=False, help_text="A file uploaded to /api/v1/media.")
    caption = serializers.CharField(required=False, allow_blank=True, max_length=1024)

    def validate(self, data):
        if bool(data.get("url")) == bool(data.get("media_id")):
            raise serializers.ValidationError("Give exactly one of url or media_id.")
        if data.get("media_id"):
            data["media_id"] = str(data["media_id"])
        return data


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its offset (`Z` or `+03:00`): a naive one is refused.

    A naive time is ambiguous (whose 09:00?), so the API does not guess a zone for it.
    """

    default_error_messages = {
        "naive": "Give the time with its UTC offset, e.g. 2026-03-01T09:00:00+03:00 or 2026-03-01T06:00:00Z.",
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class _SendCommon(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.SMS)
    body = serializers.CharField(required=False, allow_blank=True, max_length=4096, trim_whitespace=False)
    template = serializers.CharField(required=False, help_text="A template id, or its name.")
    language = serializers.CharField(required=False, help_text="With a template name: its language.")
    media = MediaItemSerializer(many=True, required=False)
    provider_account = serializers.UUIDField(required=False, help_text="Send through this account; default: routing.")
    sender = serializers.CharField(required=False, allow_blank=True, max_length=64)
    scheduled_at = AwareDateTimeField(
        required=False, allow_null=True, help_text="ISO 8601 with an offset (Z or +03:00); a naive time is a 400."
    )
    callback_url = serializers.URLField(
        required=False, allow_blank=True, max_length=500, help_text="http(s) on a public host; checked now."
    )
    metadata = serializers.JSONField(required=False)

    def validate_callback_url(self, value):
        # The same guard as every outbound request (jood/outbound.py): refused now, not at send time.
        if value:
            try:
                validate_url(value)
            except UnsafeDestination as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_metadata(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("metadata must be a JSON object.")
        if len(str(value)) > 4000:
            raise serializers.ValidationError("metadata is limited to 4,000 characters.")
        return value

    def validate(self, data):
        if not data.get("body") and not data.get("template") and not data.get("media"):
            raise serializers.ValidationError("Give a body, a template or media.")
        if data.get("body") and data.get("template"):
            raise serializers.ValidationError("Give a body or a template, not both.")
        return data


class SendMessageSerializer(_SendCommon):
    to = serializers.CharField(max_length=32, help_text="E.164, e.g. +966501234567.")
    parameters = serializers.JSONField(required=False, help_text="Template parameters by name.")

    def validate_parameters(self, value):
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("parameters must be a JSON object.")
        return value


# The fields of the common single send that `quick_send_data` checks by hand.
QUICK_SEND_FIELDS = frozenset({"to", "body", "channel", "sender"})


def _plain_text(value) -> bool:
    """A str DRF's CharField would take as is: no NUL, no lone surrogate."""
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def quick_send_data(data) -> dict | None:
    """The validated data of a plain text send (to, body, channel, sender), checked by hand; None otherwise.

    Building SendMessageSerializer costs ~0.5 ms a request (BENCHMARKS.md,
    intake); this costs microseconds. Anything else (a template, media, a
    callback_url, metadata, an error to explain) returns None and goes through
    the serializer, which stays the one definition of the API (a test holds
    the two equal on valid input).
    """
    if not isinstance(data, dict) or not data.keys() <= QUICK_SEND_FIELDS:
        return None
    to, body = data.get("to"), data.get("body")
    channel = data.get("channel", Channel.SMS)
    sender = data.get("sender", "")
    if not (_plain_text(to) and _plain_text(body) and _plain_text(sender) and isinstance(channel, str)):
        return None
    to, sender = to.strip(), sender.strip()
    if not (0 < len(to) <= 32 and 0 < len(body) <= 4096 and len(sender) <= 64 and channel in Channel.values):
        return None
    quick = {"channel": channel, "body": body, "to": to}
    if "sender" in data:
        quick["sender"] = sender
    return quick


class BulkSendSerializer(_SendCommon):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    recipients = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=MAX_BULK)

    def validate_recipients(self, value):
        # Checked by hand rather than with a nested serializer: 10,000 nested
        # serializers cost seconds; these checks cost milliseconds.
        errors = {}
        for index, item in enumerate(value):
            if not isinstance(item.get("to"), str | int) or not str(item.get("to")).strip():
                errors[str(index)] = "Each recipient needs a 'to' phone number."
            elif not isinstance(item.get("parameters", {}), dict) or not isinstance(item.get("metadata", {}), dict):
                errors[str(index)] = "'parameters' and 'metadata' must be JSON objects."
            if len(errors) >= 20:
                break
        if errors:
            raise serializers.ValidationError(errors)
        return value


class BatchSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Batch
        fields = ["id", "name", "channel", "total", "accepted", "refused", "created_at", "progress"]

    def get_progress(self, batch) -> dict:
        from messaging.services import batch_progress

        return batch_progress(batch)


# What Meta and the sync set on a template (and the times): read only in the API.
_TEMPLATE_READ_ONLY = [
    "provider_account",
    "category",
    "components",
    "approval_status",
    "synced_at",
    "created_at",
    "updated_at",
]


class TemplateSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    placeholders = serializers.ListField(child=serializers.CharField(), read_only=True)
    provider_account = serializers.SerializerMethodField()

    class Meta:
        model = Template
        fields = ["id", "kind", "channel", "name", "language", "body", "placeholders", *_TEMPLATE_READ_ONLY]
        read_only_fields = ["kind", *_TEMPLATE_READ_ONLY]

    def get_provider_account(self, template) -> str | None:
        return str(template.provider_account.public_id) if template.provider_account_id else None

    def validate(self, data):
        if self.instance is not None and self.instance.kind != Template.Kind.OWN:
            raise serializers.ValidationError("Synced WhatsApp templates are changed in Meta's console, not here.")
        body = data.get("body", getattr(self.instance, "body", ""))
        if not body:
            raise serializers.ValidationError({"body": "A template needs a body."})
        organization = self.context["organization"]
        name = data.get("name", getattr(self.instance, "name", None))
        language = data.get("language", getattr(self.instance, "language", "en"))
        channel = data.get("channel", getattr(self.instance, "channel", Channel.SMS))
        clash = Template.objects.filter(
            organization=organization, kind=Template.Kind.OWN, channel=channel, name=name, language=language
        )
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"name": "A template with this name and language exists."})
        return data


class OptOutSerializer(serializers.ModelSerializer):
    # Any common form ("00966 50 123 4567"): stored in E.164 by the service.
    phone = serializers.CharField(max_length=32)

    class Meta:
        model = OptOut
        fields = ["id", "channel", "phone", "source", "created_at"]
        read_only_fields = ["id", "source", "created_at"]


class AnalyticsRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    channel = serializers.CharField()
    provider = serializers.CharField()
    status = serializers.CharField()
    count = serializers.IntegerField()
    segments = serializers.IntegerField()


class AnalyticsSpendSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO 4217 code as the provider reported it ('?' if it gave none).")
    amount = serializers.CharField(help_text="A decimal number, e.g. 12.5.")


class AnalyticsFiguresSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    delivered = serializers.IntegerField(help_text="Delivered or read.")
    read = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Undelivered, failed or rejected.")
    segments = serializers.IntegerField(help_text="SMS segments.")
    delivery_rate = serializers.FloatField(
        allow_null=True, help_text="Percent delivered of those a provider gave a final answer for."
    )
    read_rate = serializers.FloatField(allow_null=True, help_text="Percent read of delivered WhatsApp messages.")
    median_seconds_to_delivered = serializers.FloatField(
        allow_null=True, help_text="From creation to delivered (from a histogram: to the second for short times)."
    )
    spend = AnalyticsSpendSerializer(many=True)


class AnalyticsDaySerializer(AnalyticsFiguresSerializer):
    day = serializers.DateField()


class AnalyticsEntrySerializer(AnalyticsFiguresSerializer):
    key = serializers.CharField(
        help_text="The channel, the country calling code, the provider account id or the error code."
    )
    label = serializers.CharField()


class AnalyticsBreakdownsSerializer(serializers.Serializer):
    channel = AnalyticsEntrySerializer(many=True)
    country = AnalyticsEntrySerializer(many=True)
    provider_account = AnalyticsEntrySerializer(many=True)
    error_code = AnalyticsEntrySerializer(many=True)


class AnalyticsReportSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    results = AnalyticsRowSerializer(many=True, help_text="Counts by day, channel, provider and status.")
    totals = AnalyticsFiguresSerializer()
    days = AnalyticsDaySerializer(many=True)
    breakdowns = AnalyticsBreakdownsSerializer()


class EstimateRequestSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    to = serializers.ListField(
        child=serializers.CharField(max_length=40), min_length=1, max_length=MAX_BULK, help_text="Numbers, any form."
    )
    body = serializers.CharField(
        required=False, allow_blank=True, max_length=1600, help_text="The text, to count its SMS segments."
    )
    segments = serializers.IntegerField(
        required=False, min_value=1, max_value=10, help_text="Segments per message when no body is given."
    )
    provider_account = serializers.UUIDField(required=False, help_text="The account that will send; else routing's.")


class EstimateRefusedSerializer(serializers.Serializer):
    to = serializers.CharField()
    reason = serializers.CharField()


class EstimateSerializer(serializers.Serializer):
    messages = serializers.IntegerField()
    segments = serializers.IntegerField()
    priced = serializers.IntegerField(help_text="Recipients whose country has a known price.")
    cost = AnalyticsSpendSerializer(many=True, help_text="From the last price paid per account and country.")
    unpriced_countries = serializers.ListField(child=serializers.CharField(), help_text="Calling codes, e.g. 971.")
    refused = EstimateRefusedSerializer(many=True)
