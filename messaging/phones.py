"""Phone numbers to E.164 with phonenumbers."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong length for its country",
}


class InvalidNumber(ValueError):
    def __init__(self, number: str, reason: str):
        super().__init__(f"{number!r} is not a valid phone number: {reason}.")
        self.number = number
        self.reason = reason


def to_e164(raw: str, default_region: str | None = None) -> str:
    """Return the number in E.164 (+9665...) or raise InvalidNumber with the reason."""
    return _to_e164(str(raw if raw is not None else ""), default_region)


# The same numbers come back all day (a customer's users, a bulk list sent again):
# phonenumbers costs ~60 µs a number, a cache hit well under 1 µs.
@lru_cache(maxsize=100_000)
def _to_e164(raw: str, default_region: str | None) -> str:
    given = raw.strip()
    quick = _e164_quick(given)
    if quick is not None:
        return quick
    if not given:
        raise InvalidNumber(given, "empty")
    # The international prefix 00 (most of the world) means +; errors name the number as given.
    text = "+" + given[2:] if given.startswith("00") else given
    try:
        parsed = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        reason = {
            NumberParseException.INVALID_COUNTRY_CODE: (
                "unknown country code" if text.startswith("+") else "no country code (use the +<country code> form)"
            ),
            NumberParseException.NOT_A_NUMBER: "not a phone number",
            NumberParseException.TOO_SHORT_NSN: "too short",
            NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
            NumberParseException.TOO_LONG: "too long",
        }.get(exc.error_type, str(exc))
        raise InvalidNumber(given, reason) from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible not in (
        phonenumbers.ValidationResult.IS_POSSIBLE,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        raise InvalidNumber(given, _REASONS.get(possible, "not a possible number"))
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(given, "not a number in use in its country's numbering plan")
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


_COUNTRY_CODES = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


def _e164_quick(given: str) -> str | None:
    """Check a number written in E.164 already without `phonenumbers.parse` (about a third of the cost).

    Returns the number when it is valid, None when the full path must decide
    (another form, an unknown country code, a national number with a leading
    zero); raises InvalidNumber as the full path would. Same answers as
    `phonenumbers` (tests/messaging/test_phones.py holds them equal).
    """
    if not (9 <= len(given) <= 16 and given[0] == "+" and given[1:].isdigit() and given.isascii()):
        return None
    digits = given[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in _COUNTRY_CODES:
            break
    else:
        return None
    national = digits[size:]
    if not national or national[0] == "0":
        return None
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in (
        phonenumbers.ValidationResult.IS_POSSIBLE,
        phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ):
        raise InvalidNumber(given, _REASONS.get(possible, "not a possible number"))
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(given, "not a number in use in its country's numbering plan")
    return given
