"""Fuzz every API operation from its OpenAPI document (issue 13, hole 5).

Schemathesis generates requests from /api/schema/ (valid ones and not), sends
them to the WSGI application with an admin key, and checks each answer: no
5xx, a status code and a content type the document lists, a body that matches
the documented schema (the error shape included). The examples per operation
are bounded (FUZZ_EXAMPLES, default 15) so the suite stays fast; raise it to
hunt locally: `FUZZ_EXAMPLES=200 .venv/bin/pytest tests/hardening/test_fuzz_api.py`.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import Organization, Role
from tests.factories import make_account, make_api_client

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# Loaded at collection (schemathesis' lazy `from_fixture` does not run on pytest 9).
# The coverage phase (boundary values of every field) is left to FUZZ_COVERAGE=1: it
# sends hundreds of requests per operation.
CONFIG = SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"enabled": os.environ.get("FUZZ_COVERAGE") == "1"}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), config=CONFIG)


@pytest.fixture(autouse=True)
def wsgi_in_the_test_transaction(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # As Django's test client does: the WSGI handler must not close the
    # connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def admin_key(db):
    organization, _ = Organization.objects.get_or_create(name="Fuzz Corp")
    if not organization.provider_accounts.exists():
        make_account(organization)
    return make_api_client(organization, Role.ADMIN).secret


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_generated_request_as_documented(case, admin_key):
    case.call_and_validate(headers={"Authorization": f"Token {admin_key}"}, checks=CHECKS)
