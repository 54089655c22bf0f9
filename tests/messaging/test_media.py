"""The media API (`/api/v1/media`) and the public signed download."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from messaging.media import signed_url
from messaging.models import MediaFile, Message, Status
from tests.messaging.conftest import assert_error

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 64
WEBP_STATIC = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "https://jood.example.com"


def upload(api, name: str, data: bytes, **fields):
    return api.post("/api/v1/media", {"file": SimpleUploadedFile(name, data), **fields}, format="multipart")


def test_an_upload_is_stored_with_its_digest_size_and_type(acme, acme_api):
    response = upload(acme_api, "logo.png", PNG)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert set(answer) == {"id", "filename", "kind", "content_type", "size", "sha256", "created_at"}
    assert answer["kind"] == "image" and answer["content_type"] == "image/png"
    assert answer["size"] == len(PNG)
    assert answer["sha256"] == hashlib.sha256(PNG).hexdigest()

    media = MediaFile.objects.get(public_id=answer["id"])
    assert media.organization == acme
    assert media.file.name == f"media/{acme.pk}/{media.public_id}"  # never the client's name
    with media.file.open("rb") as handle:
        assert handle.read() == PNG


def test_the_kind_asked_for_is_checked_against_the_content(acme_api):
    assert upload(acme_api, "logo.png", PNG, kind="document").status_code == 400
    assert upload(acme_api, "sticker.webp", WEBP_STATIC, kind="sticker").json()["kind"] == "sticker"
    assert_error(upload(acme_api, "logo.png", PNG, kind="hologram"), 400, "validation_error")


def test_a_static_sticker_over_100_kb_is_refused(acme_api):
    error = assert_error(upload(acme_api, "big.webp", WEBP_STATIC + b"\x00" * 100_000), 400, "media_refused")
    assert "100,000" in error["message"]


def test_an_empty_file_or_no_file_is_refused(acme_api):
    assert_error(upload(acme_api, "empty.png", b""), 400, "validation_error")
    assert_error(acme_api.post("/api/v1/media", {}, format="multipart"), 400, "validation_error")


def test_the_file_name_is_cleaned_of_paths(acme_api):
    response = upload(acme_api, "../../etc/passwd.pdf", PDF)
    assert response.status_code == 201, response.content
    assert response.json()["filename"] == "passwd.pdf"


def test_a_viewer_reads_but_cannot_upload_or_delete(acme_api, acme_viewer_api):
    media_id = upload(acme_api, "logo.png", PNG).json()["id"]
    assert upload(acme_viewer_api, "logo.png", PNG).status_code == 403
    assert acme_viewer_api.get(f"/api/v1/media/{media_id}").status_code == 200
    assert acme_viewer_api.delete(f"/api/v1/media/{media_id}").status_code == 403


def test_the_list_shows_only_the_organizations_files_newest_first(acme_api, globex_api):
    first = upload(acme_api, "a.png", PNG).json()["id"]
    second = upload(acme_api, "b.pdf", PDF).json()["id"]
    upload(globex_api, "theirs.png", PNG)

    listed = acme_api.get("/api/v1/media").json()["results"]
    assert [m["id"] for m in listed] == [second, first]
    assert [m["id"] for m in acme_api.get("/api/v1/media?kind=document").json()["results"]] == [second]


def test_another_organizations_file_is_not_found(acme_api, globex_api):
    media_id = upload(acme_api, "logo.png", PNG).json()["id"]
    assert_error(globex_api.get(f"/api/v1/media/{media_id}"), 404, "not_found")
    assert_error(globex_api.delete(f"/api/v1/media/{media_id}"), 404, "not_found")
    assert MediaFile.objects.filter(public_id=media_id).exists()


def test_delete_removes_the_row_and_the_bytes(acme_api, django_capture_on_commit_callbacks):
    media_id = upload(acme_api, "logo.png", PNG).json()["id"]
    media = MediaFile.objects.get(public_id=media_id)
    storage, name = media.file.storage, media.file.name
    with django_capture_on_commit_callbacks(execute=True):
        assert acme_api.delete(f"/api/v1/media/{media_id}").status_code == 204
    assert not MediaFile.objects.filter(public_id=media_id).exists()
    assert not storage.exists(name)


def test_a_file_that_a_waiting_message_uses_cannot_be_deleted(acme, acme_api):
    media_id = upload(acme_api, "logo.png", PNG).json()["id"]
    message = Message.objects.create(
        organization=acme, channel="sms", to="+966501234567", status=Status.QUEUED, media=[{"media_id": media_id}]
    )
    assert_error(acme_api.delete(f"/api/v1/media/{media_id}"), 409, "media_in_use")

    Message.objects.filter(pk=message.pk).update(status=Status.SENT)
    assert acme_api.delete(f"/api/v1/media/{media_id}").status_code == 204


def test_the_signed_download_serves_the_file_without_credentials(acme_api, client):
    media = MediaFile.objects.get(public_id=upload(acme_api, "the logo.png", PNG).json()["id"])
    url = signed_url(media)
    assert url.startswith("https://jood.example.com/media/signed/")

    response = client.get(urlsplit(url).path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(PNG))
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert client.head(urlsplit(url).path).status_code == 200
    assert client.post(urlsplit(url).path).status_code == 405


def test_the_download_is_404_for_a_bad_token_or_a_deleted_file(acme_api, client):
    media = MediaFile.objects.get(public_id=upload(acme_api, "logo.png", PNG).json()["id"])
    url_path = urlsplit(signed_url(media)).path
    assert client.get("/media/signed/not-a-token/").status_code == 404
    assert client.get(url_path.replace("/media/signed/", "/media/signed/x")).status_code == 404
    media.delete()
    assert client.get(url_path).status_code == 404
