"""Template parameters cannot bypass the body limit, and are text (issue 13, hole 6).

A 1 MB parameter once made a 6,537-segment SMS; a dict parameter was sent as
its Python repr. Limits apply to the rendered body, on every way in: the
single send, the bulk send and the service the portal calls.
"""

from __future__ import annotations

import pytest

from messaging import services
from messaging.models import Message, Template
from tests.factories import make_account
from tests.messaging.conftest import assert_error

pytestmark = pytest.mark.django_db

HUGE = "x" * (1024 * 1024)


@pytest.fixture
def sandbox(acme):
    return make_account(acme, default_sender="Acme")


@pytest.fixture
def welcome(acme) -> Template:
    return Template.objects.create(organization=acme, name="welcome", body="Hello {{first_name}}, code {{code}}.")


def send(client, parameters):
    return client.post(
        "/api/v1/messages",
        {"to": "+966501234567", "template": "welcome", "parameters": parameters},
        format="json",
    )


def bulk(client, parameters):
    return client.post(
        "/api/v1/messages/bulk",
        {
            "channel": "sms",
            "template": "welcome",
            "recipients": [
                {"to": "+966501234567", "parameters": parameters},
                {"to": "+971501234567", "parameters": {"first_name": "Omar", "code": "1"}},
            ],
        },
        format="json",
    )


@pytest.mark.parametrize(
    "parameters",
    [
        {"first_name": HUGE, "code": "1"},
        {"first_name": "y" * 2100, "code": "z" * 2100},  # each under the limit, together over it
    ],
)
def test_a_rendered_body_over_the_limit_is_refused(acme_api, sandbox, welcome, parameters):
    error = assert_error(send(acme_api, parameters), 400, "body_too_long")
    assert "4,096" in error["message"] or "4096" in error["message"]
    assert not Message.objects.exists()

    answer = bulk(acme_api, parameters)
    assert answer.status_code == 202, answer.content
    assert answer.json()["accepted"] == 1
    assert [r["code"] for r in answer.json()["refused"]] == ["body_too_long"]
    assert Message.objects.get().body == "Hello Omar, code 1."


@pytest.mark.parametrize(
    "value", [{"a": 1}, ["a", "b"], True, None, {"first_name": "nested"}], ids=["dict", "list", "bool", "null", "obj"]
)
def test_a_parameter_that_is_not_text_or_a_number_is_refused(acme_api, sandbox, welcome, value):
    error = assert_error(send(acme_api, {"first_name": value, "code": "1"}), 400)
    assert error["code"] in ("invalid_parameter", "missing_parameter", "validation_error")
    assert not Message.objects.exists()
    answer = bulk(acme_api, {"first_name": value, "code": "1"})
    assert answer.status_code in (202, 400), answer.content
    assert not Message.objects.filter(to="+966501234567").exists()
    assert not Message.objects.filter(body__contains="{").exists()
    assert not Message.objects.filter(body__contains="[").exists()


def test_numbers_are_converted_to_text(acme_api, sandbox, welcome):
    response = send(acme_api, {"first_name": 7, "code": 4821.5})
    assert response.status_code == 202, response.content
    assert Message.objects.get().body == "Hello 7, code 4821.5."


def test_the_service_refuses_what_the_api_refuses(acme, sandbox, welcome):
    """The portal's single and bulk sends call the same service."""
    request = services.SendRequest(
        channel="sms",
        recipients=[services.Recipient(to="+966501234567", params={"first_name": HUGE, "code": "1"})],
        template=welcome,
    )
    with pytest.raises(services.SendError) as exc:
        services.accept_messages(acme, request)
    assert exc.value.code == "body_too_long"
    request.recipients = [services.Recipient(to="+966501234567", params={"first_name": {"x": 1}, "code": "1"})]
    with pytest.raises(services.SendError) as exc:
        services.accept_messages(acme, request)
    assert exc.value.code == "invalid_parameter"


def test_whatsapp_template_parameters_are_text_within_the_limit(acme, acme_api):
    from providers.models import Channel

    account = make_account(acme, channel=Channel.WHATSAPP, default_sender="+966500000001")
    Template.objects.create(
        organization=acme,
        name="order",
        language="en",
        channel="whatsapp",
        kind=Template.Kind.WHATSAPP,
        body="Order {{1}} ships",
        approval_status="APPROVED",
        provider_account=account,
        components=[{"type": "BODY", "text": "Order {{1}} ships"}],
    )
    for parameters in ({"body": [HUGE]}, {"body": [["nested"]]}, {"body": [True]}):
        response = acme_api.post(
            "/api/v1/messages",
            {"channel": "whatsapp", "to": "+966501234567", "template": "order", "parameters": parameters},
            format="json",
        )
        assert_error(response, 400)
    assert not Message.objects.exists()
    response = acme_api.post(
        "/api/v1/messages",
        {"channel": "whatsapp", "to": "+966501234567", "template": "order", "parameters": {"body": [1042]}},
        format="json",
    )
    assert response.status_code == 202, response.content
