"""SMS encoding and segment count (GSM 03.38)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Escape pairs: each counts two septets and is never split across parts.
GSM7_EXTENSION = set("^{}\\[]~|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsInfo:
    encoding: str
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


@lru_cache(maxsize=2048)  # one-time codes and templates repeat; the result is immutable
def analyse(text: str) -> SmsInfo:
    """Return the encoding and segment count an SMS of this text takes."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        widths = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SmsInfo(GSM7, sum(widths), _segments(widths, single=160, part=153))
    # UCS-2 counts UTF-16 code units: a character outside the BMP is a pair,
    # and a pair is not split across parts either.
    widths = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SmsInfo(UCS2, sum(widths), _segments(widths, single=70, part=67))


def _segments(widths: list[int], *, single: int, part: int) -> int:
    total = sum(widths)
    if total <= single:
        return 1
    segments, used = 1, 0
    for width in widths:
        if used + width > part:
            segments += 1
            used = 0
        used += width
    return segments
