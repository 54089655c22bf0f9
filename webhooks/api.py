"""API views of callback endpoints: CRUD, a test event and the delivery log.

Scoped to the organization of the request's key: another organization's
endpoint answers 404. Reads need a viewer key, writes an admin key.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response

from accounts.permissions import IsOrganizationAdmin, IsOrganizationMember, organization_of
from accounts.services import Actor
from jood.api import ApiError, named_or_refused
from jood.schema import create_examples
from providers.models import ProviderAccount
from webhooks import callbacks, services
from webhooks.models import CallbackDelivery, CallbackEndpoint
from webhooks.serializers import (
    CallbackDeliverySerializer,
    CallbackEndpointCreatedSerializer,
    CallbackEndpointSerializer,
    SandboxInboundSerializer,
    SimulatedInboundSerializer,
)

MAX_ENDPOINTS = 20
TAGS = ["callback endpoints"]

_ENDPOINT_EXAMPLE = {
    "id": "3f6c1a52-93c4-4d0e-8f0a-2b7d9e1c4a55",
    "url": "https://example.com/jood/callbacks",
    "events": ["all"],
    "description": "Order service",
    "active": True,
    "created_at": "2026-01-15T09:30:00Z",
    "updated_at": "2026-01-15T09:30:00Z",
}
_DELIVERY_EXAMPLE = {
    "id": "0c9f7e52-1f7a-4c36-b7a4-3ad5e8a3c0d1",
    "webhook_id": "msg_5f0e8c1d2b3a49d8a7e6f5c4b3a29180",
    "event_type": "message.status",
    "url": "https://example.com/jood/callbacks",
    "state": "pending",
    "message_id": "8c1f0b7e-2f4a-4c55-9a0e-3b1d2f6a7c90",
    "payload": {
        "type": "message.status",
        "timestamp": "2026-01-15T09:31:02Z",
        "data": {"id": "8c1f0b7e-2f4a-4c55-9a0e-3b1d2f6a7c90", "status": "delivered", "to": "+966501234567"},
    },
    "attempt_count": 1,
    "next_attempt_at": "2026-01-15T09:31:08Z",
    "last_status_code": 500,
    "last_latency_ms": 87,
    "last_error": "HTTP 500",
    "created_at": "2026-01-15T09:31:02Z",
    "finished_at": None,
    "attempts": [
        {
            "number": 1,
            "started_at": "2026-01-15T09:31:02Z",
            "status_code": 500,
            "latency_ms": 87,
            "succeeded": False,
            "error": "HTTP 500",
            "response_excerpt": "Internal Server Error",
        }
    ],
}


class _EndpointMixin:
    lookup_field = "public_id"
    permission_classes = [IsOrganizationAdmin]
    serializer_class = CallbackEndpointSerializer

    def get_queryset(self):
        return CallbackEndpoint.objects.filter(organization=organization_of(self.request)).order_by("-created_at")


@extend_schema_view(
    get=extend_schema(
        summary="List callback endpoints",
        description="The organization's endpoints, newest first. Secrets are never shown.",
        tags=TAGS,
    ),
    post=extend_schema(
        summary="Create a callback endpoint",
        description=(
            "Needs an admin key. The answer carries the signing `secret` once. Each callback is a JSON POST "
            "signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`)."
        ),
        tags=TAGS,
        request=CallbackEndpointSerializer,
        responses={201: CallbackEndpointCreatedSerializer},
        examples=create_examples(
            {"url": "https://example.com/jood/callbacks", "events": ["all"], "description": "Order service"},
            {**_ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
        ),
    ),
)
class CallbackEndpointListView(_EndpointMixin, generics.ListCreateAPIView):
    def create(self, request, *args, **kwargs):
        serializer = CallbackEndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = organization_of(request)
        if CallbackEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS:
            raise ApiError(409, "too_many_endpoints", f"An organization can have at most {MAX_ENDPOINTS} endpoints.")
        data = serializer.validated_data
        endpoint, secret = services.create_endpoint(
            organization,
            data["url"],
            events=data.get("events") or ["all"],
            description=data.get("description", ""),
            is_active=data.get("is_active", True),
            actor=Actor.from_request(request),
        )
        endpoint.secret = secret  # the plain secret, serialized in this answer only
        return Response(CallbackEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="Retrieve a callback endpoint", tags=TAGS),
    put=extend_schema(summary="Replace a callback endpoint", tags=TAGS),
    patch=extend_schema(
        summary="Change a callback endpoint",
        description="Change `url`, `events`, `description` or `active`. The secret stays.",
        tags=TAGS,
        examples=[OpenApiExample("Disable", value={"active": False}, request_only=True)],
    ),
    delete=extend_schema(
        summary="Delete a callback endpoint",
        description="Deletes the endpoint and its delivery log; pending retries stop.",
        tags=TAGS,
        responses={204: OpenApiResponse(description="Deleted.")},
    ),
)
class CallbackEndpointDetailView(_EndpointMixin, generics.RetrieveUpdateDestroyAPIView):
    def perform_update(self, serializer):
        changes = {name: value for name, value in serializer.validated_data.items() if name in services.ENDPOINT_FIELDS}
        services.update_endpoint(serializer.instance, actor=Actor.from_request(self.request), **changes)

    def perform_destroy(self, instance: CallbackEndpoint) -> None:
        services.delete_endpoint(instance, actor=Actor.from_request(self.request))


class CallbackEndpointRotateSecretView(_EndpointMixin, generics.GenericAPIView):
    serializer_class = CallbackEndpointCreatedSerializer

    @extend_schema(
        summary="Rotate the signing secret",
        description=(
            "Needs an admin key. Makes a new signing secret and answers with it, once. For 24 hours "
            "(`previous_secret_valid_until`) each callback carries two signatures in `webhook-signature`, "
            "space separated: one with the new secret and one with the old, so your server can switch at its pace."
        ),
        tags=TAGS,
        request=None,
        responses={200: CallbackEndpointCreatedSerializer},
    )
    def post(self, request, *args, **kwargs):
        endpoint = self.get_object()
        secret = services.rotate_endpoint_secret(endpoint, actor=Actor.from_request(request))
        endpoint.secret = secret  # the plain secret, serialized in this answer only
        return Response(CallbackEndpointCreatedSerializer(endpoint).data)


class CallbackEndpointTestView(_EndpointMixin, generics.GenericAPIView):
    serializer_class = CallbackDeliverySerializer

    @extend_schema(
        summary="Send a test event",
        description=(
            'Posts `{"type": "test", ...}` to the endpoint now, signed like every callback, and answers with the '
            "delivery and its one try (a test is not retried)."
        ),
        tags=TAGS,
        request=None,
        responses={200: CallbackDeliverySerializer},
        examples=[
            OpenApiExample(
                "Delivered",
                value={
                    **_DELIVERY_EXAMPLE,
                    "event_type": "test",
                    "state": "succeeded",
                    "message_id": None,
                    "payload": {"type": "test", "timestamp": "2026-01-15T09:31:02Z", "data": {}},
                    "last_status_code": 200,
                    "last_error": "",
                    "next_attempt_at": None,
                    "attempts": [],
                },
                response_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        endpoint = self.get_object()
        delivery = callbacks.send_test_event(endpoint)
        delivery = CallbackDelivery.objects.prefetch_related("attempt_log").get(pk=delivery.pk)
        return Response(CallbackDeliverySerializer(delivery).data)


@extend_schema_view(
    get=extend_schema(
        summary="List an endpoint's deliveries",
        description="Every callback posted (or waiting to be) to the endpoint, newest first, with each try.",
        tags=TAGS,
        parameters=[
            OpenApiParameter("state", str, enum=["pending", "succeeded", "failed"], description="Only this state."),
            OpenApiParameter("event_type", str, enum=["message.status", "message.inbound", "test"]),
        ],
        examples=[OpenApiExample("Retrying", value=_DELIVERY_EXAMPLE, response_only=True)],
    )
)
class CallbackDeliveryListView(_EndpointMixin, generics.ListAPIView):
    serializer_class = CallbackDeliverySerializer

    def get_queryset(self):
        endpoint = generics.get_object_or_404(
            CallbackEndpoint.objects.filter(organization=organization_of(self.request)),
            public_id=self.kwargs["public_id"],
        )
        deliveries = CallbackDelivery.objects.filter(endpoint=endpoint).prefetch_related("attempt_log")
        state = self.request.query_params.get("state")
        if state:
            deliveries = deliveries.filter(state=state)
        event_type = self.request.query_params.get("event_type")
        if event_type:
            deliveries = deliveries.filter(event_type=event_type)
        return deliveries


class SandboxInboundView(generics.GenericAPIView):
    """Simulate a customer's reply to a sandbox account (it opens the WhatsApp 24-hour window)."""

    serializer_class = SandboxInboundSerializer
    permission_classes = [IsOrganizationMember]

    @extend_schema(
        summary="Simulate a customer's reply (sandbox)",
        description=(
            "Stores an inbound message from `from` as if the customer had written to the organization's sandbox "
            "account, through the same webhook intake a real provider's reply takes: it is posted to your "
            "callback endpoints as `message.inbound`, and on WhatsApp it opens the 24-hour window in which "
            "free-form messages to that number are allowed. Only sandbox accounts can be used."
        ),
        tags=["sandbox"],
        request=SandboxInboundSerializer,
        responses={201: SimulatedInboundSerializer},
        examples=[
            OpenApiExample(
                "A reply",
                value={"from": "+966501234567", "body": "Hello, is my order ready?"},
                request_only=True,
            ),
            OpenApiExample(
                "Stored",
                value={
                    "id": "5b2f8a4e-0c1d-4e7f-9a3b-6d5c4b3a2f10",
                    "channel": "whatsapp",
                    "from": "+966501234567",
                    "to": "JoodDemo",
                    "body": "Hello, is my order ready?",
                    "received_at": "2026-01-15T09:30:00Z",
                    "provider_account": "0b3f2a3c-8d7e-4f5a-9b6c-1d2e3f4a5b6c",
                    "window_expires_at": "2026-01-16T09:30:00Z",
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request):
        serializer = SandboxInboundSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = organization_of(request)
        account = named_or_refused(
            ProviderAccount.objects.filter(organization=organization),
            data.get("provider_account"),
            ApiError(404, "not_found", "No such provider account in this organization."),
        )
        try:
            inbound = services.simulate_sandbox_inbound(
                organization, data["from"], data["body"], channel=data["channel"], account=account
            )
        except services.SandboxError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        return Response(SimulatedInboundSerializer(inbound).data, status=status.HTTP_201_CREATED)
