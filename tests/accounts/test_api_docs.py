"""The OpenAPI document and its reader, served from our own static files."""

from __future__ import annotations

import re


def test_schema_is_an_openapi_3_document(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/api-keys" in document["paths"]
    assert "/api/v1/api-keys/{public_id}/revoke" in document["paths"]
    assert "ApiKey" in document["components"]["securitySchemes"]


def test_docs_load_no_script_from_a_cdn(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)", html)
    assert scripts, "Redoc should be loaded from a script"
    for src in scripts:
        assert not re.match(r"^(https?:)?//", src), f"external script: {src}"
    assert "cdn." not in html
