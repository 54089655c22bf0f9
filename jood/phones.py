"""Phone numbers: the one place that reads them (E.164 with `phonenumbers`).

- `to_e164(raw, region)`: the strict reading every stored number goes through
  (+966…, 00966…, or a national 05… when a region is given); a refusal says why.
- `any_form(text, region)`: also the international form without its + (966501…,
  as Infobip and Unifonic write it): searches, filters, estimates.
- `searched_number(term)` and `candidates(term, regions)`: what a search box can mean.
- `sender(raw)`: a provider's sender address (whatsapp:…, digits without +), never refused.
- `restore_plus(value)`: a query string's unencoded + arrives as a space.
- `looks_like_phone(value)`: the loose check of a profile's contact number (kept as typed).

The base layer: it imports no app, so accounts, messaging and webhooks all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "too short",
    phonenumbers.ValidationResult.TOO_LONG: "too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "wrong length for its country",
}
_POSSIBLE = (phonenumbers.ValidationResult.IS_POSSIBLE, phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY)
# What people type between digits; dropped before a number is read.
_PUNCTUATION = " -()."
# A profile's contact number: loose, kept as typed (accounts/forms.py).
_CONTACT_NUMBER = re.compile(r"^\+?[0-9][0-9 ()\-]{5,24}$")


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
    _check(parsed, given)
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def _check(number: phonenumbers.PhoneNumber, given: str) -> None:
    """Raise InvalidNumber unless the number is possible and in use in its country's plan."""
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible not in _POSSIBLE:
        raise InvalidNumber(given, _REASONS.get(possible, "not a possible number"))
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(given, "not a number in use in its country's numbering plan")


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
    _check(phonenumbers.PhoneNumber(country_code=code, national_number=int(national)), given)
    return given


def _compact(text: str) -> str:
    return "".join(ch for ch in text.strip() if ch not in _PUNCTUATION)


def any_form(text: str, region: str | None) -> str:
    """Return the E.164 form of a number in any common form (+966…, 00966…, 0501…, 966501…); raise InvalidNumber."""
    cleaned = _compact(text)
    try:
        return to_e164(cleaned, region)
    except InvalidNumber:
        # "966501234567": the international form without its + (as Infobip and Unifonic write it).
        if cleaned.isdigit() and not cleaned.startswith("0"):
            try:
                return to_e164("+" + cleaned)
            except InvalidNumber:
                pass
        raise


def searched_number(term: str) -> str | None:
    """Return the E.164 form of a number typed in a search box (+966 50..., 00966..., 96650...), or None.

    A number phonenumbers does not know is searched as its digits with a +.
    """
    text = _compact(term)
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = text[1:] if text.startswith("+") else text
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        return None
    try:
        return to_e164("+" + digits)
    except InvalidNumber:
        return "+" + digits


def is_local(term: str) -> bool:
    """A national number (05…): it means a number only in a region."""
    text = _compact(term)
    return text.startswith("0") and not text.startswith("00") and text[1:].isdigit()


def candidates(term: str, regions: Iterable[str] = ()) -> list[str]:
    """The E.164 numbers a search term can mean: +966…, 00966…, 966…, or a local 05… read in each region."""
    if is_local(term):
        found: list[str] = []
        for region in sorted({r.upper() for r in regions if r}):
            try:
                number = any_form(term, region)
            except InvalidNumber:
                continue
            if number not in found:
                found.append(number)
        return found
    phone = searched_number(term)
    return [phone] if phone is not None else []


def sender(raw: str) -> str:
    """Return a sender's number in E.164 (WhatsApp gives digits without `+`); never refuses.

    Short codes and numbers phonenumbers does not know are kept as given
    (digits with a +, at most 20 characters).
    """
    text = str(raw or "").strip()
    if text.lower().startswith("whatsapp:"):
        text = text.split(":", 1)[1]
    candidate = text if text.startswith("+") or text.startswith("00") else "+" + text
    try:
        return to_e164(candidate)
    except InvalidNumber:
        digits = re.sub(r"[^\d+]", "", text)
        return (digits if digits.startswith("+") else "+" + digits)[:20] if digits else text[:20]


def restore_plus(value: str, raw: str | None = None) -> str:
    """A number from a query string: an unencoded '+' arrives as a space, so a space before digits is a +.

    `raw` is the value as it came when `value` has been stripped already.
    """
    raw = value if raw is None else raw
    stripped = value.strip()
    if raw[:1] == " " and stripped[:1].isdigit():
        return "+" + stripped
    return value


def looks_like_phone(value: str) -> bool:
    """A contact number's loose check (+, digits, spaces, brackets, dashes; 7 to 26 characters)."""
    return bool(_CONTACT_NUMBER.match(value))
