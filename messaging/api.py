"""The messaging API: send, bulk, messages, batches, templates, opt-outs, analytics."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, timedelta

from django.conf import settings
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsOrganizationAdmin, IsOrganizationMember, organization_of
from accounts.services import Actor
from jood.api import ApiError, CursorPagination, named_or_refused
from jood.phones import InvalidNumber, any_form, restore_plus, to_e164
from messaging import analytics, logs, services, sms, spend
from messaging.analytics import counts
from messaging.idempotency import idempotent
from messaging.models import Batch, DeliveryAttempt, Message, MessageEvent, OptOut, Template
from messaging.serializers import (
    AnalyticsReportSerializer,
    BatchSerializer,
    BulkSendSerializer,
    EstimateRequestSerializer,
    EstimateSerializer,
    MessageDetailSerializer,
    MessageSerializer,
    OptOutSerializer,
    SendMessageSerializer,
    TemplateSerializer,
    message_json,
    quick_send_data,
)
from providers.models import Channel, ProviderAccount

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Same key and body within 24 h: the first answer again, nothing new created.",
)


def _resolve_template(organization, data) -> Template | None:
    ref = data.get("template")
    if not ref:
        return None
    qs = Template.objects.filter(organization=organization)
    template = None
    try:
        template = qs.filter(public_id=uuid.UUID(ref)).first()
    except ValueError:
        pass
    if template is None:
        named = qs.filter(name=ref, channel=data["channel"])
        if data.get("language"):
            named = named.filter(language=data["language"])
        template = named.first()
    if template is None:
        raise ApiError(400, "unknown_template", f"No template {ref!r} in this organization.", {"template": ref})
    return template


def _parsed(parse, value: str, name: str, form: str):
    """`parse(value)`, or a 400 invalid_date saying `name` must be `form`."""
    try:
        parsed = parse(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ApiError(400, "invalid_date", f"{name} must be {form}.", {name: value})
    return parsed


def _datetime_param(value: str, name: str):
    """An ISO 8601 date-time (or a date: its midnight) from a query string; naive means the site's time zone."""
    parsed = _parsed(parse_datetime, value, name, "an ISO 8601 date-time")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    # In UTC: an offset the database cannot store (+23:59 is valid ISO 8601) is a 500 otherwise.
    return parsed.astimezone(UTC)


def _date_param(value: str | None, name: str):
    """An ISO 8601 date from a query string, or None when not given."""
    if not value:
        return None
    return _parsed(parse_date, value, name, "an ISO 8601 date (YYYY-MM-DD)")


def _phone_param(value: str, name: str) -> str:
    """A phone number from a query string, in E.164; an unencoded '+' arrives as a space."""
    try:
        return to_e164(restore_plus(value))
    except InvalidNumber as exc:
        raise ApiError(400, "invalid_number", str(exc), {name: exc.number, "reason": exc.reason}) from None


def provider_account_param(organization, public_id) -> ProviderAccount | None:
    """The organization's provider account of that id (None if none was asked for); another's is a 400, as none is."""
    return named_or_refused(
        ProviderAccount.objects.filter(organization=organization),
        public_id,
        ApiError(400, "unknown_provider_account", "No such provider account in this organization."),
    )


def _build_request(organization, data, recipients) -> services.SendRequest:
    account = provider_account_param(organization, data.get("provider_account"))
    media = data.get("media") or []
    for item in media:
        if item.get("media_id") and not organization.media_files.filter(public_id=item["media_id"]).exists():
            raise ApiError(400, "unknown_media", f"No media file {item['media_id']} in this organization.")
    return services.SendRequest(
        channel=data["channel"],
        recipients=recipients,
        body=data.get("body", ""),
        template=_resolve_template(organization, data),
        media=[dict(item) for item in media],
        provider_account=account,
        sender=data.get("sender", ""),
        scheduled_at=data.get("scheduled_at"),
        callback_url=data.get("callback_url", ""),
        metadata=data.get("metadata") or {},
        batch_name=data.get("name", ""),
    )


def _accept(request, send_request, *, bulk):
    try:
        return services.accept_messages(
            organization_of(request), send_request, actor=Actor.from_request(request), bulk=bulk
        )
    except services.SendError as exc:
        raise ApiError(400, exc.code, exc.message, exc.details) from None


class NewestFirstPagination(CursorPagination):
    """Newest first, ties broken by id.

    A bulk send gives thousands of messages one creation time; without a
    tie-breaker their order is up to the database and a cursor page can
    repeat or skip some of them.
    """

    ordering = ("-created_at", "-id")


LOG_FILTER_PARAMETERS = [
    OpenApiParameter(
        "q",
        str,
        description="A number in any common form (+966…, 00966…, 05…), a message id, "
        "a provider's message id, or words of the text.",
    ),
    OpenApiParameter(
        "to", str, description="A number in any common form; a local one (05…) is read in the organization's country."
    ),
    OpenApiParameter("status", str, description="Comma-separated statuses (or the parameter repeated).", enum=None),
    OpenApiParameter("channel", str, enum=[c for c, _ in Channel.choices]),
    OpenApiParameter("provider_account", OpenApiTypes.UUID),
    OpenApiParameter("batch", OpenApiTypes.UUID),
    OpenApiParameter("error_code", str),
    OpenApiParameter("start", OpenApiTypes.DATE, description="From this day (inclusive), in the site's time zone."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="To this day (inclusive)."),
    OpenApiParameter("created_after", OpenApiTypes.DATETIME),
    OpenApiParameter("created_before", OpenApiTypes.DATETIME),
]


FILTER_ERROR_CODES = {
    "to": "invalid_number",
    "batch": "invalid_batch",
    "provider_account": "invalid_provider_account",
    "status": "invalid_status",
    "channel": "invalid_channel",
    "start": "invalid_date",
    "end": "invalid_date",
    "created_after": "invalid_date",
    "created_before": "invalid_date",
}


def filtered_messages(request):
    """The organization's messages filtered by the query string (messaging.logs); 400 on bad input."""
    organization = organization_of(request)
    form = logs.MessageLogFilter(request.query_params, organization=organization)
    if not form.is_valid():
        name, errors = next(iter(form.errors.items()))
        message = str(errors[0])
        if name == "to":
            raw = request.query_params.get("to", "")
            reason = message.split(": ", 1)[-1].rstrip(".") if "is not a valid phone number" in message else message
            raise ApiError(400, "invalid_number", message, {"to": raw.strip(), "reason": reason})
        raise ApiError(400, FILTER_ERROR_CODES.get(name, "invalid_filter"), message, form.errors_as_details())
    return logs.filter_messages(organization, form)


class MessageList(generics.ListAPIView):
    """List messages (newest first) or send one."""

    serializer_class = MessageSerializer
    permission_classes = [IsOrganizationMember]
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        return filtered_messages(self.request).select_related("template", "provider_account", "batch")

    @extend_schema(parameters=LOG_FILTER_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=SendMessageSerializer,
        responses={202: MessageSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "Text SMS",
                value={"channel": "sms", "to": "+966501234567", "body": "Your code is 4821"},
                request_only=True,
            ),
            OpenApiExample(
                "Template",
                value={
                    "channel": "sms",
                    "to": "+966501234567",
                    "template": "welcome",
                    "parameters": {"first_name": "Sara"},
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request, *args, **kwargs):
        def handle():
            data = quick_send_data(request.data)
            if data is None:
                serializer = SendMessageSerializer(data=request.data)
                serializer.is_valid(raise_exception=True)
                data = serializer.validated_data
            recipient = services.Recipient(to=data["to"], params=data.get("parameters") or {})
            result = _accept(request, _build_request(organization_of(request), data, [recipient]), bulk=False)
            message = result.messages[0]
            if settings.CELERY_TASK_ALWAYS_EAGER:
                # Embedded mode: the dispatch already ran after commit; answer with where it got.
                message.refresh_from_db()
            return Response(message_json(message), status=status.HTTP_202_ACCEPTED)

        return idempotent(request, "messages", handle)


class BulkSend(APIView):
    permission_classes = [IsOrganizationMember]

    @extend_schema(
        request=BulkSendSerializer,
        responses={202: OpenApiTypes.OBJECT},
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "Bulk with parameters",
                value={
                    "channel": "sms",
                    "template": "welcome",
                    "recipients": [
                        {"to": "+966501234567", "parameters": {"first_name": "Sara"}},
                        {"to": "+971501234567", "parameters": {"first_name": "Omar"}},
                    ],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        """Send to up to 10,000 recipients; refused numbers are listed while the valid ones go out."""

        def handle():
            serializer = BulkSendSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            recipients = [
                services.Recipient(to=str(r["to"]), params=r.get("parameters") or {}, metadata=r.get("metadata") or {})
                for r in data["recipients"]
            ]
            result = _accept(request, _build_request(organization_of(request), data, recipients), bulk=True)
            body = {
                "batch": {"id": str(result.batch.public_id), "total": result.batch.total},
                "accepted": result.accepted,
                "rejected": result.rejected,
                "refused": [r.__dict__ for r in result.refused],
            }
            return Response(body, status=status.HTTP_202_ACCEPTED)

        return idempotent(request, "messages/bulk", handle)


class CSVRenderer(BaseRenderer):
    """Lets a client ask for text/csv; the view streams the body itself, errors stay JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


class MessageExport(APIView):
    permission_classes = [IsOrganizationMember]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=LOG_FILTER_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request):
        """The filtered messages as CSV (streamed, any size; cells that a spreadsheet would run start with ')."""
        return logs.export_response(filtered_messages(request))


class MessageDetail(generics.RetrieveAPIView):
    serializer_class = MessageDetailSerializer
    permission_classes = [IsOrganizationMember]
    lookup_field = "public_id"

    def get_queryset(self):
        return (
            Message.objects.filter(organization=organization_of(self.request))
            .select_related("template", "provider_account", "batch")
            .prefetch_related(
                Prefetch("events", queryset=MessageEvent.objects.order_by("received_at", "id")),
                Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.select_related("provider_account")),
            )
        )


class MessageCancel(APIView):
    permission_classes = [IsOrganizationMember]

    @extend_schema(request=None, responses={200: MessageSerializer})
    def post(self, request, public_id):
        """Cancel a scheduled or queued message."""
        message = get_object_or_404(Message, organization=organization_of(request), public_id=public_id)
        if not services.cancel_message(message, actor=Actor.from_request(request)):
            raise ApiError(
                409, "not_cancelable", f"A {message.status} message cannot be canceled; only scheduled or queued ones."
            )
        message.refresh_from_db()
        return Response(MessageSerializer(message).data)


class BatchDetail(generics.RetrieveAPIView):
    serializer_class = BatchSerializer
    permission_classes = [IsOrganizationMember]
    lookup_field = "public_id"

    def get_queryset(self):
        return Batch.objects.filter(organization=organization_of(self.request))


class TemplateList(generics.ListCreateAPIView):
    serializer_class = TemplateSerializer
    permission_classes = [IsOrganizationAdmin]

    def get_queryset(self):
        return Template.objects.filter(organization=organization_of(self.request)).select_related("provider_account")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "organization": organization_of(self.request)}

    def perform_create(self, serializer):
        template = Template(**serializer.validated_data)
        serializer.instance = services.save_template(
            organization_of(self.request), template, actor=Actor.from_request(self.request)
        )


class TemplateDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = TemplateSerializer
    permission_classes = [IsOrganizationAdmin]
    lookup_field = "public_id"

    def get_queryset(self):
        return Template.objects.filter(organization=organization_of(self.request)).select_related("provider_account")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "organization": organization_of(self.request)}

    def perform_update(self, serializer):
        template = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(template, name, value)
        services.save_template(organization_of(self.request), template, actor=Actor.from_request(self.request))

    def perform_destroy(self, instance):
        if instance.kind != Template.Kind.OWN:
            # Sync would bring it back: it is deleted in Meta's console.
            raise ApiError(400, "synced_template", "Synced WhatsApp templates are deleted in Meta's console, not here.")
        services.delete_template(instance, actor=Actor.from_request(self.request))


class OptOutList(generics.ListCreateAPIView):
    serializer_class = OptOutSerializer
    permission_classes = [IsOrganizationMember]

    def get_queryset(self):
        qs = OptOut.objects.filter(organization=organization_of(self.request))
        params = self.request.query_params
        if params.get("phone"):
            qs = qs.filter(phone=_phone_param(params["phone"], "phone"))
        if params.get("channel"):
            qs = qs.filter(channel=params["channel"])
        return qs

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            optout = services.add_opt_out(
                organization_of(request),
                serializer.validated_data["channel"],
                serializer.validated_data["phone"],
                source="api",
            )
        except InvalidNumber as exc:
            raise ApiError(400, "invalid_number", str(exc), {"phone": exc.number}) from None
        return Response(OptOutSerializer(optout).data, status=status.HTTP_201_CREATED)


class OptOutDetail(generics.RetrieveDestroyAPIView):
    serializer_class = OptOutSerializer
    permission_classes = [IsOrganizationMember]

    def get_queryset(self):
        return OptOut.objects.filter(organization=organization_of(self.request))

    def perform_destroy(self, instance):
        services.remove_opt_out(
            organization_of(self.request), instance.channel, instance.phone, actor=Actor.from_request(self.request)
        )


class Estimate(APIView):
    permission_classes = [IsOrganizationMember]

    @extend_schema(request=EstimateRequestSerializer, responses={200: EstimateSerializer})
    def post(self, request):
        """Estimate the segments and cost of a send before making it, from the last prices paid."""
        serializer = EstimateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_of(request)
        account = provider_account_param(organization, data.get("provider_account"))
        region = logs.region_of(organization)
        numbers, refused = [], []
        for raw in data["to"]:
            try:
                numbers.append(any_form(raw, region))
            except InvalidNumber as exc:
                refused.append({"to": raw, "reason": exc.reason})
        segments = data.get("segments") or 1
        if data.get("body") and data["channel"] == Channel.SMS:
            segments = sms.analyse(data["body"]).segments
        result = spend.estimate(organization, data["channel"], numbers, segments, account=account)
        body = {
            "messages": result.messages,
            "segments": result.segments,
            "priced": result.priced,
            "cost": [{"currency": c, "amount": f"{a.normalize():f}"} for c, a in sorted(result.cost.items())],
            "unpriced_countries": result.unpriced_countries,
            "refused": refused,
        }
        return Response(EstimateSerializer(body).data)


def _analytics_range(request):
    today = timezone.localdate()
    end = _date_param(request.query_params.get("end"), "end") or today
    if end.year < logs.MIN_YEAR:
        raise ApiError(400, "invalid_range", f"Dates must be between the years {logs.MIN_YEAR} and {logs.MAX_YEAR}.")
    start = _date_param(request.query_params.get("start"), "start") or end - timedelta(days=29)
    if not (logs.MIN_YEAR <= start.year and end.year <= logs.MAX_YEAR):
        raise ApiError(400, "invalid_range", f"Dates must be between the years {logs.MIN_YEAR} and {logs.MAX_YEAR}.")
    if start > end or (end - start).days > 366:
        raise ApiError(400, "invalid_range", "start must be before end, at most 366 days apart.")
    return start, end


ANALYTICS_PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, description="First day (default: 29 days before end)."),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, inclusive (default: today)."),
]


class Analytics(APIView):
    permission_classes = [IsOrganizationMember]

    @extend_schema(parameters=ANALYTICS_PARAMETERS, responses={200: AnalyticsReportSerializer})
    def get(self, request):
        """Counts by day, channel, provider and status; rates, median time to delivered, spend and breakdowns."""
        start, end = _analytics_range(request)
        organization = organization_of(request)
        data = analytics.report(organization, start, end)
        data["results"] = counts(organization, start, end)
        return Response(AnalyticsReportSerializer(data).data)


class AnalyticsExport(APIView):
    permission_classes = [IsOrganizationMember]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(parameters=ANALYTICS_PARAMETERS, responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        """The analytics numbers as CSV: one row per day, per breakdown entry, and the totals."""
        start, end = _analytics_range(request)
        data = analytics.report(organization_of(request), start, end)
        return logs.csv_response(
            f"analytics-{start.isoformat()}-{end.isoformat()}.csv",
            logs.csv_rows(analytics.CSV_HEADER, analytics.report_csv_rows(data)),
        )
