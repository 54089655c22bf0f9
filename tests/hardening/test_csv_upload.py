"""A bulk CSV upload is read or refused with a reason, never a 500 (issue 13, hole 5)."""

from __future__ import annotations

import csv

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging.forms import parse_csv
from tests.factories import login, make_account

PROBES = {
    "binary": bytes(range(256)) * 20,
    "nul bytes": b"phone,name\n+966501234567,Sa\x00ra\n",
    "png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    "field over the csv limit": b"phone,name\n+966501234567," + b"x" * (csv.field_size_limit() + 10) + b"\n",
    "unclosed quote over the limit": b'phone,name\n+966501234567,"' + b"x" * (csv.field_size_limit() + 10),
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_unreadable_bytes_are_refused_with_a_reason(name):
    with pytest.raises(ValueError) as exc:
        parse_csv(PROBES[name])
    assert str(exc.value)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_export_is_read(encoding):
    text = "phone,name\n+966501234567,سارة\n"
    data = text.encode(encoding)
    if encoding != "utf-16":  # with a byte order mark, as Excel writes "Unicode text"
        data = ("\ufeff" + text).encode(encoding)
    parsed = parse_csv(data)
    assert parsed["rows"] == [["+966501234567", "سارة"]]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000) | st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_are_parsed_or_refused_with_value_error(data):
    try:
        parsed = parse_csv(data)
    except ValueError:
        return
    for row in parsed["rows"]:
        for cell in row:
            assert "\x00" not in cell
            cell.encode("utf-8")  # storable text


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PROBES))
def test_the_bulk_page_shows_the_reason(acme, member, name, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    make_account(acme)
    client = login(member)
    client.raise_request_exception = False
    upload = SimpleUploadedFile("customers.csv", PROBES[name], "text/csv")
    response = client.post(reverse("portal-bulk"), {"channel": "sms", "body": "Hi", "file": upload})
    assert response.status_code == 200, response.status_code
    assert b'id="id_file_error"' in response.content
