"""Privacy rights over the API: data export, pausing, deleting the organization.

Exporting, pausing and deleting are an owner's rights. An API key is not a
person, so every endpoint here (every method, reads included) takes only an
admin key that an owner created with the `privacy` scope in the portal, while
that owner is still an owner (`accounts.permissions.OwnerAction`, the one rule);
deletion also needs `{"confirm": "<organization name>"}`. An export of another
organization answers 404.
"""

from __future__ import annotations

from functools import partial

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OwnerAction, organization_of
from accounts.services import Actor
from jood.api import ApiError
from retention import services
from retention.models import DataExport

# The one rule of owner-only actions; tests/accounts/test_owner_actions.py walks every route here.
IsOrganizationAdminKey = OwnerAction


class DataExportSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DataExport
        fields = [
            "id",
            "format",
            "state",
            "size",
            "created_at",
            "ready_at",
            "expires_at",
            "downloaded_at",
            "download_url",
        ]

    def get_download_url(self, export: DataExport) -> str | None:
        if not export.is_downloadable:
            return None
        request = self.context.get("request")
        path = f"/api/v1/exports/{export.public_id}/download"
        return request.build_absolute_uri(path) if request else path


class OrganizationStateSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    name = serializers.CharField()
    paused = serializers.BooleanField(source="is_paused", help_text="Nothing is sent: paused or restricted.")
    paused_at = serializers.DateTimeField(allow_null=True)
    processing_restricted_at = serializers.DateTimeField(allow_null=True)
    deletion_requested_at = serializers.DateTimeField(allow_null=True)
    deletion_scheduled_for = serializers.DateTimeField(allow_null=True)


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.CharField(
        required=False, default="json", help_text="`json` (default) or `csv`: the files in the zip."
    )


class PauseRequestSerializer(serializers.Serializer):
    cancel_waiting = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Cancel the messages still scheduled or queued (each says why); by default they wait.",
    )


class DeletionRequestSerializer(serializers.Serializer):
    confirm = serializers.CharField(help_text="The organization's name, exactly, to confirm.")


class _PrivacyView(APIView):
    permission_classes = [OwnerAction]


class ExportListView(generics.ListAPIView):
    """The organization's exports, newest first."""

    permission_classes = [OwnerAction]
    serializer_class = DataExportSerializer

    def get_queryset(self):
        return DataExport.objects.filter(organization=organization_of(self.request))

    @extend_schema(summary="List data exports", tags=["privacy"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Request a data export",
        description=(
            'Needs a privacy-scoped key. Builds a zip of JSON files, or CSV files with `{"format": "csv"}` '
            "(organization, members, templates, messages within "
            "retention with their events, opt-outs, callback endpoints and provider accounts without secrets, "
            "API keys without hashes, ...). Poll `GET /api/v1/exports/{id}`; when `state` is `ready`, download it "
            "once within 24 hours. A request while an export is still being built returns that export."
        ),
        tags=["privacy"],
        request=ExportRequestSerializer,
        responses={202: DataExportSerializer},
    )
    def post(self, request):
        serializer = ExportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            export = services.request_export(
                organization_of(request), Actor.from_request(request), format=serializer.validated_data["format"]
            )
        except services.PrivacyError as exc:
            raise ApiError(400, exc.code, exc.message, {"format": "json or csv"}) from None
        export.refresh_from_db()
        return Response(DataExportSerializer(export, context={"request": request}).data, status=202)


class ExportDetailView(_PrivacyView):
    @extend_schema(summary="Retrieve a data export", tags=["privacy"], responses={200: DataExportSerializer})
    def get(self, request, public_id):
        export = get_object_or_404(DataExport, organization=organization_of(request), public_id=public_id)
        return Response(DataExportSerializer(export, context={"request": request}).data)


class ExportDownloadView(_PrivacyView):
    @extend_schema(
        summary="Download a data export (once)",
        description="The zip, once: a second download answers 410 `export_gone`, as does an expired export.",
        tags=["privacy"],
        responses={
            (200, "application/zip"): OpenApiResponse(response=OpenApiTypes.BINARY, description="The zip file."),
            409: OpenApiResponse(description="`export_not_ready`: still being built."),
            410: OpenApiResponse(description="`export_gone`: downloaded already, expired or failed."),
        },
    )
    def get(self, request, public_id):
        export = get_object_or_404(DataExport, organization=organization_of(request), public_id=public_id)
        return download_response(export, Actor.from_request(request))


def download_response(export: DataExport, actor: Actor) -> FileResponse:
    """Claim the one download and stream the file, or raise the API error that says why not."""
    if export.state == DataExport.State.PENDING:
        raise ApiError(409, "export_not_ready", "The export is still being built; try again in a minute.")
    if not services.claim_download(export, actor):
        raise ApiError(410, "export_gone", "This export was downloaded already or has expired; request a new one.")
    handle = export.file.open("rb")
    filename = f"jood-export-{export.organization.public_id}-{export.created_at:%Y%m%d}.zip"
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type="application/zip")
    response["Cache-Control"] = "no-store"
    return response


def _switch(request, service) -> Response:
    """Turn one of the organization's switches with `service`; answer with its state, or 409 when it refuses."""
    organization = organization_of(request)
    try:
        service(organization, Actor.from_request(request))
    except services.PrivacyError as exc:
        raise ApiError(409, exc.code, exc.message)
    return Response(OrganizationStateSerializer(organization).data)


class PauseView(_PrivacyView):
    @extend_schema(
        summary="Pause sending (restrict processing)",
        description=(
            "Needs a privacy-scoped key. New messages are answered with status `rejected` and error "
            "`organization_paused`. "
            'Messages still scheduled or queued wait and go on resume; with `{"cancel_waiting": true}` they are '
            "`canceled` now (error `organization_paused`, with who paused and when). Messages a worker is sending "
            "at that moment finish. Undo with `POST /api/v1/organization/resume`."
        ),
        tags=["privacy"],
        request=PauseRequestSerializer,
        responses={200: OrganizationStateSerializer},
    )
    def post(self, request):
        serializer = PauseRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cancel_waiting = serializer.validated_data["cancel_waiting"]
        return _switch(request, partial(services.pause_organization, cancel_waiting=cancel_waiting))


class ResumeView(_PrivacyView):
    @extend_schema(
        summary="Resume sending",
        description="Needs a privacy-scoped key. Not possible once the organization's deletion was requested (409).",
        tags=["privacy"],
        request=None,
        responses={200: OrganizationStateSerializer},
    )
    def post(self, request):
        return _switch(request, services.resume_organization)


class RestrictView(_PrivacyView):
    @extend_schema(
        summary="Restrict processing",
        description=(
            "Needs a privacy-scoped key. The right to restriction, a switch of its own: the data is kept and "
            "nothing is sent. New messages are answered `rejected` with error `processing_restricted`; messages still "
            "scheduled or queued wait and go when it is lifted (`POST /api/v1/organization/unrestrict`)."
        ),
        tags=["privacy"],
        request=None,
        responses={200: OrganizationStateSerializer},
    )
    def post(self, request):
        return _switch(request, services.restrict_processing)


class UnrestrictView(_PrivacyView):
    @extend_schema(
        summary="Lift the restriction of processing",
        description="Needs a privacy-scoped key. Waiting messages go, unless sending is also paused.",
        tags=["privacy"],
        request=None,
        responses={200: OrganizationStateSerializer},
    )
    def post(self, request):
        return _switch(request, services.lift_restriction)


class DeleteView(_PrivacyView):
    @extend_schema(
        summary="Delete the organization",
        description=(
            'Needs a privacy-scoped key and `{"confirm": "<organization name>"}`. At once: every provider credential '
            "is erased, every API key revoked (this one included), sending stops and waiting messages are "
            "canceled. Everything else is erased after the grace period (`deletion_scheduled_for`, 7 days); "
            "until then Jood staff can stop it, but erased credentials and revoked keys do not come back."
        ),
        tags=["privacy"],
        request=DeletionRequestSerializer,
        responses={202: OrganizationStateSerializer},
        examples=[OpenApiExample("Confirm", value={"confirm": "Acme Corp"}, request_only=True)],
    )
    def post(self, request):
        organization = organization_of(request)
        serializer = DeletionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data["confirm"].strip() != organization.name.strip():
            raise ApiError(
                400,
                "confirmation_mismatch",
                "To delete the organization, give its name exactly in `confirm`.",
                {"confirm": "does not match the organization's name"},
            )
        services.request_organization_deletion(organization, Actor.from_request(request))
        return Response(OrganizationStateSerializer(organization).data, status=status.HTTP_202_ACCEPTED)
