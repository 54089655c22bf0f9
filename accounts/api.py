"""API views of the accounts app: the key's organization and its API keys.

Every queryset is scoped to the organization of the request's key, so an
object of another organization answers 404, never 403.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response

from accounts import services
from accounts.models import ApiKey, Organization
from accounts.permissions import IsOrganizationAdmin, IsOrganizationMember, organization_of
from accounts.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    OrganizationSerializer,
)
from jood.api import ApiError
from jood.schema import create_examples


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describe `Authorization: Token <key>` (or `Bearer <key>`) in the OpenAPI document."""

    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` or `Bearer <key>`. Create keys in the portal or with an admin key.",
        }


_KEY_EXAMPLE = {
    "id": "7d1b6f7e-5a8e-4c7e-9a57-0d2a3b8e6c11",
    "name": "Billing service",
    "prefix": "jood_AbCdEfG",
    "role": "member",
    "active": True,
    "created_at": "2026-01-15T09:30:00Z",
    "created_by": None,
    "last_used_at": None,
    "last_used_ip": None,
    "revoked_at": None,
}


class OrganizationView(generics.RetrieveAPIView):
    """The organization the API key belongs to."""

    serializer_class = OrganizationSerializer
    permission_classes = [IsOrganizationMember]

    def get_object(self) -> Organization:
        return organization_of(self.request)

    @extend_schema(
        operation_id="organization_retrieve",
        tags=["organization"],
        examples=[
            OpenApiExample(
                "Organization",
                value={
                    "id": "0b3f2a3c-8d7e-4f5a-9b6c-1d2e3f4a5b6c",
                    "name": "Acme Corp",
                    "created_at": "2026-01-01T00:00:00Z",
                    "retention_days": 90,
                    "paused": False,
                    "time_zone": "Asia/Riyadh",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class _ApiKeyQuerysetMixin:
    lookup_field = "public_id"
    permission_classes = [IsOrganizationAdmin]

    def get_queryset(self):
        return ApiKey.objects.filter(organization=organization_of(self.request)).select_related("created_by")


@extend_schema_view(
    get=extend_schema(
        summary="List API keys",
        description="Every key of the organization, revoked ones included, newest first. Secrets are never shown.",
        tags=["api keys"],
    ),
    post=extend_schema(
        summary="Create an API key",
        description="Needs an admin key. The answer carries the `secret` once; only its hash is stored.",
        tags=["api keys"],
        request=ApiKeyCreateSerializer,
        responses={201: ApiKeyCreatedSerializer},
        examples=create_examples(
            {"name": "Billing service", "role": "member"},
            {**_KEY_EXAMPLE, "secret": "jood_AbCdEfG-example-not-a-real-key"},
        ),
    ),
)
class ApiKeyListView(_ApiKeyQuerysetMixin, generics.ListCreateAPIView):
    serializer_class = ApiKeySerializer

    def get_serializer_class(self):
        return ApiKeyCreateSerializer if self.request.method == "POST" else ApiKeySerializer

    def create(self, request, *args, **kwargs):
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            key, secret = services.create_api_key(
                organization_of(request),
                serializer.validated_data["name"],
                role=serializer.validated_data["role"],
                scopes=serializer.validated_data["scopes"],
                actor=services.Actor.from_request(request),
            )
        except services.ScopeError as exc:
            raise ApiError(400, "validation_error", str(exc), {"scopes": [str(exc)]}) from None
        key.secret = secret  # transient: serialized in this answer only, never saved
        return Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(summary="Retrieve an API key", tags=["api keys"]),
    delete=extend_schema(
        summary="Revoke an API key",
        description="Same as `POST /api/v1/api-keys/{id}/revoke`; the key stays listed as revoked.",
        tags=["api keys"],
        responses={204: OpenApiResponse(description="Revoked (or revoked already).")},
    ),
)
class ApiKeyDetailView(_ApiKeyQuerysetMixin, generics.RetrieveDestroyAPIView):
    serializer_class = ApiKeySerializer

    def perform_destroy(self, instance: ApiKey) -> None:
        services.revoke_api_key(instance, actor=services.Actor.from_request(self.request))


class ApiKeyRevokeView(_ApiKeyQuerysetMixin, generics.GenericAPIView):
    serializer_class = ApiKeySerializer

    @extend_schema(
        summary="Revoke an API key",
        description="Requests with the key answer 401 from now on. Revoking a revoked key changes nothing.",
        tags=["api keys"],
        request=None,
        responses={200: ApiKeySerializer},
        examples=[
            OpenApiExample("Revoked", value={**_KEY_EXAMPLE, "active": False, "revoked_at": "2026-02-01T12:00:00Z"})
        ],
    )
    def post(self, request, *args, **kwargs):
        key = self.get_object()
        services.revoke_api_key(key, actor=services.Actor.from_request(request))
        return Response(ApiKeySerializer(key).data)
