"""Phone numbers: normalized to E.164, invalid ones refused with the number and the reason."""

from __future__ import annotations

import pytest

from jood import phones
from jood.phones import InvalidNumber, to_e164
from messaging.models import Message
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
    from jood import phones

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
    from jood import phones

    phones._to_e164.cache_clear()
    try:
        quick = phones.to_e164(raw)
    except phones.InvalidNumber as exc:
        quick = ("refused", exc.reason)
    assert quick == _full_path(raw)


# --- the other readings of jood/phones.py: one module, the answers each caller gave before -----------
@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("966501234567", None, "+966501234567"),  # Infobip's and Unifonic's form
        ("0501234567", "SA", "+966501234567"),
        ("07911 123456", "GB", "+447911123456"),
        ("(050) 123-4567", "SA", "+966501234567"),
    ],
)
def test_any_form_reads_the_forms_people_and_providers_write(raw, region, e164):
    assert phones.any_form(raw, region) == e164


def test_any_form_refuses_a_national_number_without_a_region():
    with pytest.raises(InvalidNumber):
        phones.any_form("0501234567", None)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("whatsapp:+966501234567", "+966501234567"),
        ("966501234567", "+966501234567"),  # WhatsApp Cloud: digits without +
        ("12345", "+12345"),  # a short code is kept
        ("hello", "hello"),
        ("", ""),
    ],
)
def test_a_sender_is_read_and_never_refused(raw, e164):
    assert phones.sender(raw) == e164


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("00966 50 123 4567", "+966501234567"),
        ("966501234567", "+966501234567"),
        ("+1-555-0100", "+15550100"),  # unknown to phonenumbers: its digits
        ("hello", None),
        ("12345", None),
    ],
)
def test_a_search_term_is_a_number_or_none(term, found):
    assert phones.searched_number(term) == found


def test_a_local_number_is_searched_in_each_region():
    assert phones.is_local("050 123 4567") and not phones.is_local("00966501234567")
    assert phones.candidates("0501234567", ["sa", "GB", ""]) == ["+966501234567"]
    assert phones.candidates("07911123456", ["SA", "GB"]) == ["+447911123456"]
    assert phones.candidates("+966501234567", ["GB"]) == ["+966501234567"]


def test_a_plus_sent_unencoded_in_a_query_string_is_restored():
    assert phones.restore_plus(" 966501234567") == "+966501234567"
    assert phones.restore_plus("966501234567", raw=" 966501234567") == "+966501234567"
    assert phones.restore_plus(" abc") == " abc"


@pytest.mark.parametrize(
    ("value", "ok"),
    [("+966 50 123 4567", True), ("050 (123) 45-67", True), ("(050) 1234567", False), ("+12", False), ("abc", False)],
)
def test_a_contact_number_is_checked_loosely(value, ok):
    assert phones.looks_like_phone(value) is ok
