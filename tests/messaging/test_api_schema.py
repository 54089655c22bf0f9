"""The OpenAPI document lists the messaging endpoints."""

from __future__ import annotations


def test_the_schema_includes_the_messaging_paths(client, db):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/messages",
        "/api/v1/messages/bulk",
        "/api/v1/messages/{public_id}",
        "/api/v1/messages/{public_id}/cancel",
        "/api/v1/batches/{public_id}",
        "/api/v1/templates",
        "/api/v1/templates/{public_id}",
        "/api/v1/opt-outs",
        "/api/v1/opt-outs/{id}",
        "/api/v1/analytics",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/messages"]) >= {"get", "post"}
    send = paths["/api/v1/messages"]["post"]
    assert "202" in send["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in send["parameters"])
