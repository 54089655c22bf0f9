"""Template placeholders: the one pattern for `{{name}}` in our own templates and `{{1}}` / `{{name}}` in WhatsApp's.

Plain Python (no Django): the WhatsApp adapter uses it too. The portal's
preview (jood/static/jood/sms-counter.js) writes the same pattern; a test holds
the two equal.

Our own templates take names that start with a letter or `_`: in them `{{1}}`
is text, left as written (as before the three patterns became one). WhatsApp's
take Meta's positional `{{1}}` as well as its named `{{first_name}}`
(`numeric=True`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

PATTERN = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def _counts(name: str, numeric: bool) -> bool:
    return numeric or not name[0].isdigit()


def names(text: str | None, *, numeric: bool = True) -> list[str]:
    """The placeholder names in `text`, each once, in the order they first appear."""
    found = (name for name in PATTERN.findall(text or "") if _counts(name, numeric))
    return list(dict.fromkeys(found))


def render(text: str, value_of: Callable[[str], str | None], *, numeric: bool = True) -> str:
    """Replace each placeholder with `value_of(name)`; one with no value (None or "") stays as written."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        return (value_of(name) or match.group(0)) if _counts(name, numeric) else match.group(0)

    return PATTERN.sub(replace, text)
