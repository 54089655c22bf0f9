"""SMS encoding and segment counts (GSM 03.38), and their place in the API answer."""

from __future__ import annotations

import pytest
from django.utils import timezone

from messaging.models import ConversationWindow
from messaging.sms import GSM7, UCS2, analyse

ARABIC_WORD = "مرحبا"  # five characters, each one UTF-16 unit


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
    ],
)
def test_plain_gsm7_takes_160_in_one_part_and_153_per_part_after(text, segments):
    info = analyse(text)
    assert info.encoding == GSM7
    assert info.units == len(text)
    assert info.segments == segments


@pytest.mark.parametrize("char", ["€", "[", "]", "{", "}", "~", "^", "|", "\\"])
def test_extension_characters_count_two_septets(char):
    assert analyse(char).units == 2
    assert analyse(char).encoding == GSM7
    assert analyse("a" * 158 + char).segments == 1  # 160 septets
    assert analyse("a" * 159 + char).segments == 2  # 161 septets


def test_an_escape_pair_is_never_split_across_parts():
    # 152 septets then a two-septet € would end at 154: the € moves to part two.
    assert analyse("a" * 152 + "€" + "a" * 10).segments == 2
    # 305 plain + € = 307 septets; unsplit, the € starts part 3 rather than straddle parts 2 and 3.
    assert analyse("a" * 152 + "€" + "a" * 152).units == 306
    assert analyse("a" * 152 + "€" + "a" * 152).segments == 3
    assert analyse("a" * 151 + "€" + "a" * 153).segments == 2


def test_greek_capitals_and_accented_letters_of_the_basic_set_stay_gsm7():
    assert analyse("ΔΦΓΛΩ èéùìò Ç ÄÖÑÜ äöñüà £¥§¿¡").encoding == GSM7


@pytest.mark.parametrize(
    ("length", "segments"),
    [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_takes_70_in_one_part_and_67_per_part_after(length, segments):
    text = ("ا" * length)[:length]
    info = analyse(text)
    assert info.encoding == UCS2
    assert info.units == length
    assert info.segments == segments


def test_arabic_text_is_ucs2():
    info = analyse(f"{ARABIC_WORD} Sara, رمز التحقق 4821")
    assert info.encoding == UCS2
    assert info.segments == 1


def test_one_non_gsm_character_turns_the_whole_text_ucs2():
    info = analyse("a" * 100 + "ç")  # lowercase c-cedilla is not in the GSM-7 basic set
    assert info.encoding == UCS2
    assert info.units == 101
    assert info.segments == 2


def test_an_emoji_counts_two_utf16_units():
    info = analyse("😀")
    assert info.encoding == UCS2
    assert info.units == 2
    assert analyse("a" * 68 + "😀").segments == 1  # exactly 70 units
    assert analyse("a" * 69 + "😀").segments == 2  # 71 units


def test_a_surrogate_pair_is_never_split_across_parts():
    # 66 units then an emoji would end at 68 in a 67-unit part: it moves to part two.
    text = "ب" * 66 + "😀" + "ب" * 66
    assert analyse(text).units == 134
    assert analyse(text).segments == 3
    assert analyse("ب" * 65 + "😀" + "ب" * 67).segments == 2


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("{" * 80, "GSM-7", 1),
        ("{" * 81, "GSM-7", 2),
        (ARABIC_WORD * 14, "UCS-2", 1),
        (ARABIC_WORD * 14 + "!", "UCS-2", 2),
        ("😀" * 35, "UCS-2", 1),
        ("😀" * 36, "UCS-2", 2),
    ],
)
def test_the_api_answer_gives_the_encoding_and_segments(acme_api, sandbox, body, encoding, segments):
    response = acme_api.post("/api/v1/messages", {"to": "+966501234567", "body": body}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["encoding"] == encoding
    assert response.json()["segments"] == segments


def test_whatsapp_messages_have_no_sms_encoding(acme_api, whatsapp_sandbox, acme):
    ConversationWindow.objects.create(organization=acme, phone="+966501234567", last_inbound_at=timezone.now())
    response = acme_api.post(
        "/api/v1/messages", {"channel": "whatsapp", "to": "+966501234567", "body": "a" * 500}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["encoding"] == ""
    assert response.json()["segments"] == 1
