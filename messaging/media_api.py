"""Media files: the API (`/api/v1/media`) and the public signed download.

An upload is checked by its content, never its name, against WhatsApp's
limits (`providers.whatsapp.check_media`, whatsapp-cloud.md §5): those are
the strictest of our providers, so a stored file can go out on any channel.
Files are sent as a WhatsApp media id (uploaded to Meta on first use) or as a
signed, expiring URL to `media_download` (what Twilio fetches for MMS).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Sum
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from accounts.models import Organization
from accounts.permissions import IsOrganizationMember, organization_of
from jood.api import ApiError
from messaging.media import unsign
from messaging.models import PENDING, MediaFile, Message
from providers.whatsapp import MEDIA_LIMITS, check_media

log = logging.getLogger(__name__)

# The largest file any kind allows (documents, 100 MB): bigger is refused before it is read.
MAX_UPLOAD_BYTES = max(limits["max_bytes"] for limits in MEDIA_LIMITS.values())


class MediaRefused(ValueError):
    """The file cannot be stored (too big, wrong type, empty); the message says why."""


class QuotaExceeded(MediaRefused):
    """The organization's stored media would pass MEDIA_QUOTA_BYTES."""

    def __init__(self, used: int, size: int):
        self.used, self.size, self.quota = used, size, settings.MEDIA_QUOTA_BYTES
        super().__init__(
            f"This file ({size:,} bytes) would pass the organization's storage quota of {self.quota:,} bytes "
            f"({used:,} in use). Delete files you no longer send, or ask us for a larger quota."
        )


def _check_quota(organization: Organization, size: int) -> None:
    used = MediaFile.objects.filter(organization=organization).aggregate(total=Sum("size"))["total"] or 0
    if used + size > settings.MEDIA_QUOTA_BYTES:
        raise QuotaExceeded(used, size)


# --- writes ------------------------------------------------------------------


def _clean_filename(name: str) -> str:
    name = os.path.basename((name or "").replace("\\", "/"))
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[-255:]


def store_media(organization: Organization, upload, kind: str | None = None) -> MediaFile:
    """Check an uploaded file by its content and store it for the organization.

    Raises MediaRefused with a readable reason when WhatsApp would refuse it.
    """
    filename = _clean_filename(getattr(upload, "name", "") or "")
    if kind is not None and kind not in MEDIA_LIMITS:
        raise MediaRefused(f"Unknown media kind {kind!r}; use one of {', '.join(sorted(MEDIA_LIMITS))}.")
    limit = MEDIA_LIMITS[kind]["max_bytes"] if kind else MAX_UPLOAD_BYTES
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        # Refused from the declared size, before reading a large body into memory.
        raise MediaRefused(f"{filename or 'The file'!r} is {size:,} bytes; at most {limit:,} bytes are allowed.")
    if size is not None:
        _check_quota(organization, size)  # early, from the declared size; again under the lock below
    data = upload.read()
    try:
        kind, content_type = check_media(kind, data, filename)
    except ValueError as exc:
        raise MediaRefused(str(exc)) from None
    media = MediaFile(
        organization=organization,
        filename=filename,
        kind=kind,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    # The storage name comes from `media_upload_to` (organization and public id), never the client's name.
    media.file.save(media.public_id.hex, ContentFile(data), save=False)
    try:
        with transaction.atomic():
            # One upload at a time per organization past this point, so two cannot both fit the last space.
            Organization.objects.select_for_update().filter(pk=organization.pk).first()
            _check_quota(organization, media.size)
            media.save()
    except Exception:
        media.file.delete(save=False)
        raise
    return media


def delete_media(media: MediaFile) -> None:
    """Delete a media file and its stored bytes (after commit).

    Refused (MediaRefused) while a message waiting to be sent still uses it:
    the dispatcher would find nothing to attach.
    """
    in_use = Message.objects.filter(
        organization_id=media.organization_id, status__in=list(PENDING), media__icontains=str(media.public_id)
    ).exists()
    if in_use:
        raise MediaRefused("A message waiting to be sent uses this file; delete it once the message has gone out.")
    storage, name = media.file.storage, media.file.name

    def remove_bytes() -> None:
        try:
            if name:
                storage.delete(name)
        except OSError:
            log.warning("could not delete the stored bytes of media file %s", name)

    with transaction.atomic():
        media.delete()
        transaction.on_commit(remove_bytes)


# --- API ---------------------------------------------------------------------


class MediaFileSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = MediaFile
        fields = ["id", "filename", "kind", "content_type", "size", "sha256", "created_at"]
        read_only_fields = fields


class MediaUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file; its type is read from its content, not its name.")
    kind = serializers.ChoiceField(
        choices=sorted(MEDIA_LIMITS), required=False, help_text="Default: chosen from the content."
    )


class MediaList(generics.ListAPIView):
    """List the organization's media files (newest first) or upload one."""

    serializer_class = MediaFileSerializer
    permission_classes = [IsOrganizationMember]
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        qs = MediaFile.objects.filter(organization=organization_of(self.request))
        if self.request.query_params.get("kind"):
            qs = qs.filter(kind=self.request.query_params["kind"])
        return qs

    @extend_schema(parameters=[OpenApiParameter("kind", OpenApiTypes.STR)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request={"multipart/form-data": MediaUploadSerializer}, responses={201: MediaFileSerializer})
    def post(self, request):
        """Upload a file (multipart `file`, optional `kind`); 400 if WhatsApp would refuse it."""
        serializer = MediaUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            media = store_media(organization_of(request), upload, serializer.validated_data.get("kind"))
        except QuotaExceeded as exc:
            details = {"file": upload.name, "quota_bytes": exc.quota, "used_bytes": exc.used, "size": exc.size}
            raise ApiError(413, "media_quota_exceeded", str(exc), details) from None
        except MediaRefused as exc:
            raise ApiError(400, "media_refused", str(exc), {"file": upload.name}) from None
        return Response(MediaFileSerializer(media).data, status=status.HTTP_201_CREATED)


class MediaDetail(generics.RetrieveDestroyAPIView):
    serializer_class = MediaFileSerializer
    permission_classes = [IsOrganizationMember]
    lookup_field = "public_id"

    def get_queryset(self):
        return MediaFile.objects.filter(organization=organization_of(self.request))

    def perform_destroy(self, instance):
        try:
            delete_media(instance)
        except MediaRefused as exc:
            raise ApiError(409, "media_in_use", str(exc)) from None


# --- public download -----------------------------------------------------------


@require_safe
def media_download(request, token: str):
    """Serve a media file for a valid, unexpired signed token (messaging.media.signed_url); 404 otherwise.

    Public on purpose: Twilio (MMS `MediaUrl`) and Meta (`link`) fetch it
    without credentials, so the token is the only key.
    """
    try:
        public_id = unsign(token)
        media = MediaFile.objects.get(public_id=public_id)
    except (signing.BadSignature, MediaFile.DoesNotExist, ValueError, TypeError):
        raise Http404("No such file.") from None
    try:
        handle = media.file.open("rb")
    except (FileNotFoundError, OSError, ValueError):
        log.warning("media file %s has no stored bytes", media.public_id)
        raise Http404("No such file.") from None
    response = FileResponse(
        handle,
        content_type=media.content_type,
        as_attachment=False,
        filename=media.filename or f"{media.public_id.hex}",
    )
    # Served as the type read from its content, never sniffed again, and never as a page.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["Referrer-Policy"] = "no-referrer"
    return response
