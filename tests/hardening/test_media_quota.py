"""A per-organization media quota, and the purge of media no message uses (issue 13, hole 10).

A member key once stored 3 x 90 MB files with nothing to stop it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from messaging.models import MediaFile, Message, Status
from retention import purge
from tests.messaging.conftest import assert_error

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1000


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_QUOTA_BYTES = 2500
    settings.MEDIA_UNREFERENCED_DAYS = 7


def upload(api, data: bytes = PNG):
    return api.post("/api/v1/media", {"file": SimpleUploadedFile("a.png", data)}, format="multipart")


def test_uploads_past_the_quota_are_a_413(acme_api, globex_api):
    assert upload(acme_api).status_code == 201
    assert upload(acme_api).status_code == 201
    error = assert_error(upload(acme_api), 413, "media_quota_exceeded")
    assert "2,500" in error["message"]
    assert error["details"]["quota_bytes"] == 2500
    assert MediaFile.objects.filter(organization__name="Acme Corp").count() == 2
    # Another organization has its own quota.
    assert upload(globex_api).status_code == 201


def test_deleting_a_file_frees_its_space(acme_api):
    first = upload(acme_api).json()["id"]
    upload(acme_api)
    assert upload(acme_api).status_code == 413
    assert acme_api.delete(f"/api/v1/media/{first}").status_code == 204
    assert upload(acme_api).status_code == 201


def test_the_quota_is_read_from_the_declared_size_before_the_body(acme_api, settings):
    settings.MEDIA_QUOTA_BYTES = 500
    assert_error(upload(acme_api), 413, "media_quota_exceeded")
    assert not MediaFile.objects.exists()


def test_the_portal_send_page_shows_the_quota(acme, member, settings):
    from django.urls import reverse

    from tests.factories import login, make_account

    settings.MEDIA_QUOTA_BYTES = 500
    make_account(acme)
    client = login(member)
    response = client.post(
        reverse("portal-send"),
        {"channel": "sms", "to": "+966501234567", "body": "See", "media": SimpleUploadedFile("a.png", PNG)},
    )
    assert response.status_code == 200
    assert b"storage quota" in response.content
    assert not MediaFile.objects.exists()


def _media(organization, days_old: int) -> MediaFile:
    from django.core.files.base import ContentFile

    media = MediaFile(organization=organization, filename="a.png", kind="image", content_type="image/png", size=10)
    media.file.save(media.public_id.hex, ContentFile(b"x" * 10), save=False)
    media.save()
    MediaFile.objects.filter(pk=media.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    return media


def _message(organization, media: MediaFile, status=Status.DELIVERED):
    return Message.objects.create(
        organization=organization,
        channel="sms",
        to="+966501234567",
        body="See",
        status=status,
        media=[{"kind": "image", "media_id": str(media.public_id)}],
    )


def test_the_purge_removes_media_no_message_uses_after_n_days(acme, globex, django_capture_on_commit_callbacks):
    unused_old = _media(acme, days_old=8)
    unused_new = _media(acme, days_old=2)
    used_old = _media(acme, days_old=8)
    _message(acme, used_old)
    # A message of another organization naming acme's file does not keep it.
    foreign = _media(acme, days_old=8)
    _message(globex, foreign)
    path = unused_old.file.path
    with django_capture_on_commit_callbacks(execute=True):
        run = purge.run(trigger="test")
    left = set(MediaFile.objects.values_list("pk", flat=True))
    assert left == {unused_new.pk, used_old.pk}
    assert run.deleted["messaging.MediaFile.unreferenced"] == 2
    import os

    assert not os.path.exists(path)


def test_the_purge_keeps_unreferenced_media_under_a_legal_hold(acme):
    acme.legal_hold_until = timezone.localdate() + timedelta(days=30)
    acme.save()
    kept = _media(acme, days_old=30)
    purge.run(trigger="test")
    assert MediaFile.objects.filter(pk=kept.pk).exists()


def test_a_dry_run_counts_unreferenced_media_without_deleting(acme):
    _media(acme, days_old=30)
    run = purge.run(dry_run=True, trigger="test")
    assert run.deleted["messaging.MediaFile.unreferenced"] == 1
    assert MediaFile.objects.count() == 1
