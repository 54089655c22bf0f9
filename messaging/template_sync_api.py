"""`POST /api/v1/templates/sync`: read the organization's WhatsApp templates from Meta now."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsOrganizationAdmin, organization_of
from jood.api import ApiError
from messaging.api import provider_account_param
from messaging.template_sync import sync_templates, whatsapp_accounts
from providers.base import ProviderError
from providers.models import Provider


class TemplateSyncSerializer(serializers.Serializer):
    provider_account = serializers.UUIDField(
        required=False, help_text="Sync this WhatsApp account only; default: every active one."
    )


class TemplateSync(APIView):
    """Sync WhatsApp templates from Meta (admin key)."""

    permission_classes = [IsOrganizationAdmin]

    @extend_schema(
        request=TemplateSyncSerializer,
        responses={200: OpenApiTypes.OBJECT},
        examples=[
            OpenApiExample(
                "Result",
                value={
                    "results": [
                        {
                            "provider_account": "7f3c2a9e-5b1d-4c3e-9a0f-1b2c3d4e5f60",
                            "created": 2,
                            "updated": 1,
                            "removed": 0,
                            "skipped": 0,
                        }
                    ]
                },
                response_only=True,
            )
        ],
    )
    def post(self, request):
        """Create, update and mark deleted the templates of each account; 502 if Meta could not be read."""
        serializer = TemplateSyncSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = organization_of(request)
        wanted = serializer.validated_data.get("provider_account")
        if wanted:
            account = provider_account_param(organization, wanted)  # another organization's: unknown, as a missing one
            if account.provider != Provider.WHATSAPP or not account.is_active:
                raise ApiError(
                    400, "not_whatsapp_account", "Templates are synced for active WhatsApp Cloud accounts only."
                )
            accounts = [account]
        else:
            accounts = list(whatsapp_accounts(organization.pk).order_by("priority", "id"))
            if not accounts:
                raise ApiError(400, "no_whatsapp_account", "No active WhatsApp Cloud account: connect one first.")

        results = []
        for account in accounts:
            row: dict = {"provider_account": str(account.public_id)}
            try:
                row.update(sync_templates(account))
            except ProviderError as exc:
                row["error"] = {"code": exc.code, "message": exc.message}
            results.append(row)
        if all("error" in row for row in results):
            first = results[0]["error"]
            raise ApiError(502, "sync_failed", f"Meta could not be read: {first['message']}", {"results": results})
        return Response({"results": results})
