"""Phone numbers: normalized to E.164, invalid ones refused with the number and the reason."""

from __future__ import annotations

import pytest

from messaging.models import Message
from messaging.phones import InvalidNumber, to_e164
from tests.messaging.conftest import assert_error


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+966501234567", "+966501234567"),
        ("00966 50 123 4567", "+966501234567"),
        ("+966 (50) 123-4567", "+966501234567"),
        (" +971 50 123 4567 ", "+971501234567"),
        ("+1 415 555 2671", "+14155552671"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_numbers_are_normalized_to_e164(raw, e164):
    assert to_e164(raw) == e164


def test_a_national_number_needs_a_region():
    assert to_e164("050 123 4567", default_region="SA") == "+966501234567"
    with pytest.raises(InvalidNumber) as caught:
        to_e164("050 123 4567")
    assert "country code" in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("hello", "not a phone number"),
        ("+96650", "too short"),
        ("+9665012345678901234", "too long"),
        ("+999 501234567", "country code"),
        ("+966 40 123 4567", "numbering plan"),
    ],
)
def test_invalid_numbers_are_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidNumber) as caught:
        to_e164(raw)
    assert reason in caught.value.reason


def test_the_refusal_names_the_number_as_it_was_given():
    with pytest.raises(InvalidNumber) as caught:
        to_e164("00966 50")
    assert caught.value.number == "00966 50"
    assert "'00966 50'" in str(caught.value)


def test_the_api_stores_the_e164_form(acme_api, sandbox):
    response = acme_api.post("/api/v1/messages", {"to": "00966 50 123 4567", "body": "Hi"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["to"] == "+966501234567"
    assert Message.objects.get().to == "+966501234567"


def test_an_invalid_number_is_a_400_naming_the_number_and_the_reason(acme_api, sandbox):
    response = acme_api.post("/api/v1/messages", {"to": "+96650", "body": "Hi"}, format="json")
    error = assert_error(response, 400, "invalid_number")
    assert error["details"]["to"] == "+96650"
    assert error["details"]["reason"] == "too short"
    assert "+96650" in error["message"] and "too short" in error["message"]
    assert not Message.objects.exists()


def test_a_number_without_country_code_is_refused_by_the_api(acme_api, sandbox):
    response = acme_api.post("/api/v1/messages", {"to": "0501234567", "body": "Hi"}, format="json")
    error = assert_error(response, 400, "invalid_number")
    assert error["details"]["to"] == "0501234567"
    assert "country code" in error["details"]["reason"]


def _full_path(raw: str):
    """What phonenumbers alone says (the quick E.164 check bypassed)."""
    from messaging import phones

    saved = phones._e164_quick
    phones._e164_quick = lambda given: None
    try:
        return phones._to_e164.__wrapped__(raw, None)
    except phones.InvalidNumber as exc:
        return ("refused", exc.reason)
    finally:
        phones._e164_quick = saved


QUICK_CASES = [
    "+966501234567",
    "+14155550100",
    "+14155551234",
    "+447911123456",
    "+390612345678",  # Italy: a leading zero goes the full way
    "+9665012345",  # too short
    "+96650123456789",  # too long
    "+966401234567",  # not in Saudi Arabia's plan
    "+999123456789",  # no such country code
    "+2901234567",
    "+8613800138000",
    "+97150123456",
    "+4915112345678",
]


@pytest.mark.parametrize("raw", QUICK_CASES)
def test_the_quick_e164_check_answers_as_phonenumbers_does(raw):
    from messaging import phones

    phones._to_e164.cache_clear()
    try:
        quick = phones.to_e164(raw)
    except phones.InvalidNumber as exc:
        quick = ("refused", exc.reason)
    assert quick == _full_path(raw)
