"""Media attachments: signed expiring URLs to our own files, and provider media ids."""

from __future__ import annotations

import time

from django.conf import settings
from django.core import signing
from django.urls import reverse

from messaging.models import MediaFile
from providers.base import MediaRef

URL_MAX_AGE = 24 * 3600
_SALT = "jood.media"


def signed_url(media: MediaFile) -> str:
    """A URL the provider can fetch for a day (Twilio MMS fetches MediaUrl itself)."""
    token = signing.dumps(str(media.public_id), salt=_SALT)
    return settings.PUBLIC_BASE_URL + reverse("media-download", args=[token])


def unsign(token: str) -> str:
    return signing.loads(token, salt=_SALT, max_age=URL_MAX_AGE)


def provider_ref(organization, item: dict, account) -> MediaRef:
    """The MediaRef for one of our files: a provider media id (WhatsApp uploads first) or a signed URL."""
    media = MediaFile.objects.get(organization=organization, public_id=item["media_id"])
    kind = item.get("kind") or media.kind
    if account.provider == "whatsapp":
        # Meta keeps an uploaded file 30 days: upload again after 29.
        key = str(account.public_id)
        cached = (media.provider_media_ids or {}).get(key) or {}
        if isinstance(cached, str):  # an id stored without its upload time
            cached = {}
        fresh = cached.get("uploaded_at", 0) > time.time() - 29 * 86400
        media_id = cached.get("id") if fresh else None
        if not media_id:
            with media.file.open("rb") as handle:
                data = handle.read()
            media_id = account.adapter.upload_media(account.to_config(), data, media.content_type, media.filename)
            ids = {**(media.provider_media_ids or {}), key: {"id": media_id, "uploaded_at": time.time()}}
            MediaFile.objects.filter(pk=media.pk).update(provider_media_ids=ids)
        return MediaRef(
            kind=kind,
            provider_media_id=media_id,
            content_type=media.content_type,
            filename=media.filename,
            caption=item.get("caption", ""),
        )
    return MediaRef(
        kind=kind,
        url=signed_url(media),
        content_type=media.content_type,
        filename=media.filename,
        caption=item.get("caption", ""),
    )
