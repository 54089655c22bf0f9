"""The web app through PgBouncer in transaction mode (README "Scaling out").

A send (dispatched in the web process: embedded mode, so the claim's
`select_for_update(skip_locked)` goes through PgBouncer too), reading it back,
and a data export (which streams rows with `.iterator()`: server-side cursors
are off with DISABLE_SERVER_SIDE_CURSORS). Skips when pgbouncer is not installed.
"""

from __future__ import annotations

import pytest
import requests
from django.db import connection

from providers import services
from tests.factories import make_privacy_api_client
from tests.ops.processes import PgBouncer, WebApp, database_url_via, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)"),
]


def test_the_app_works_through_pgbouncer_in_transaction_mode(acme, acme_api, owner):
    services.connect_account(
        acme, provider="sandbox", channel="sms", label="Sandbox", credentials={}, messages_per_second=0
    )
    admin = make_privacy_api_client(acme, owner)  # a data export is an owner-only action
    bouncer = PgBouncer()
    web = None
    try:
        web = WebApp(
            DATABASE_URL=database_url_via(bouncer.port),
            DISABLE_SERVER_SIDE_CURSORS="true",
            REDIS_URL="",
            CELERY_BROKER_URL="",
        )
        member = {"Authorization": f"Token {acme_api.secret}"}
        response = requests.post(
            web.url + "/api/v1/messages", json={"to": "+966501234567", "body": "Hi"}, headers=member, timeout=20
        )
        assert response.status_code == 202, response.text[:500]
        url = f"{web.url}/api/v1/messages/{response.json()['id']}"

        def sent():
            return requests.get(url, headers=member, timeout=10).json()["status"] not in ("queued", "sending")

        assert wait_for(sent, timeout=30)
        listing = requests.get(web.url + "/api/v1/messages", headers=member, timeout=10)
        assert listing.status_code == 200 and len(listing.json()["results"]) == 1

        headers = {"Authorization": f"Token {admin.secret}"}
        export = requests.post(web.url + "/api/v1/exports", headers=headers, timeout=30)
        assert export.status_code == 202, export.text[:500]
        detail = f"{web.url}/api/v1/exports/{export.json()['id']}"
        assert wait_for(lambda: requests.get(detail, headers=headers, timeout=10).json()["state"] == "ready", 30)
    finally:
        if web is not None:
            web.stop()
        bouncer.stop()
