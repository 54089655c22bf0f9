"""The provider accounts API: connect, change, test, disconnect. Credentials never come back."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsOrganizationAdmin, organization_of
from accounts.services import Actor
from jood.api import ApiError
from providers import services
from providers.models import ProviderAccount
from providers.serializers import ProviderAccountSerializer


def _invalid(exc: services.InvalidAccount) -> ApiError:
    return ApiError(400, "validation_error", str(exc), exc.errors)


class ProviderAccountList(generics.ListCreateAPIView):
    serializer_class = ProviderAccountSerializer
    permission_classes = [IsOrganizationAdmin]

    def get_queryset(self):
        return ProviderAccount.objects.filter(organization=organization_of(self.request))

    @extend_schema(
        description=(
            "Connect an account. The credentials' shape is validated (400), then the provider's harmless read "
            "endpoint is called: `health_status` in the answer is `ok`, or `bad_credentials` / `unreachable` with "
            "`health_detail` saying what failed. An unhealthy account is skipped by routing until a check passes "
            "(re-checked every 5 minutes)."
        ),
        examples=[
            OpenApiExample(
                "Twilio",
                value={
                    "provider": "twilio",
                    "channel": "sms",
                    "label": "Twilio KSA",
                    "credentials": {"account_sid": "AC…", "auth_token": "…"},
                    "default_sender": "+15005550006",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        try:
            serializer.instance = services.connect_account(
                organization_of(self.request),
                credentials=data.pop("credentials"),
                actor=Actor.from_request(self.request),
                **data,
            )
        except services.InvalidAccount as exc:
            raise _invalid(exc) from None
        # Connecting runs the credentials check: the answer carries health_status and health_detail.
        services.check_account(serializer.instance)
        serializer.instance.refresh_from_db(fields=["health_status", "health_detail", "health_checked_at"])


class ProviderAccountDetail(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = ProviderAccountSerializer
    permission_classes = [IsOrganizationAdmin]
    lookup_field = "public_id"

    def get_queryset(self):
        return ProviderAccount.objects.filter(organization=organization_of(self.request))

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        try:
            services.update_account(
                serializer.instance,
                credentials=data.pop("credentials", None),
                actor=Actor.from_request(self.request),
                **data,
            )
        except services.InvalidAccount as exc:
            raise _invalid(exc) from None

    def perform_destroy(self, instance):
        services.delete_account(instance, actor=Actor.from_request(self.request))


class ProviderAccountCheck(APIView):
    permission_classes = [IsOrganizationAdmin]

    @extend_schema(request=None, responses={200: dict})
    def post(self, request, public_id):
        """Test the credentials against the provider's harmless read endpoint."""
        account = generics.get_object_or_404(
            ProviderAccount, organization=organization_of(request), public_id=public_id
        )
        result = services.check_account(account)
        return Response({"status": result.status, "ok": result.ok, "detail": result.detail}, status=status.HTTP_200_OK)


class ProviderAccountRotateWebhookToken(APIView):
    permission_classes = [IsOrganizationAdmin]

    @extend_schema(
        summary="Rotate the webhook token",
        description=(
            "Needs an admin key. Gives the account a new `?t=` token (Infobip, Unifonic; the sandbox's signing "
            "key). The old one keeps working for 24 hours (`previous_token_valid_until`): paste the new "
            "`callback_url` where you pasted the old one before then."
        ),
        request=None,
        responses={200: ProviderAccountSerializer},
    )
    def post(self, request, public_id):
        account = generics.get_object_or_404(
            ProviderAccount, organization=organization_of(request), public_id=public_id
        )
        services.rotate_webhook_secret(account, actor=Actor.from_request(request))
        return Response(ProviderAccountSerializer(account, context={"request": request}).data)
