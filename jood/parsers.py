"""The API's JSON parser (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]).

A module of its own: DRF resolves the parser classes while it defines APIView,
so this module must not import rest_framework.views (jood.api does).
"""

from __future__ import annotations

from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 32


class JSONParser(parsers.JSONParser):
    """JSON that the database can store: no NUL, no lone surrogate, nested at most MAX_JSON_DEPTH deep.

    Python's json reads `\\u0000` and `\\ud800` escapes into text PostgreSQL
    refuses, and recurses until RecursionError on deep nesting: each is a 400 here.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except UnicodeError:
            raise exceptions.ParseError("JSON parse error - the body is not UTF-8 text.") from None
        _check_json(data)
        return data


def _bad_text(value: str) -> str | None:
    if "\x00" in value:
        return "a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (not a character)"
    return None


def _check_json(data) -> None:
    """Raise ParseError for text the database cannot store or nesting deeper than MAX_JSON_DEPTH."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            problem = _bad_text(value)
            if problem:
                raise exceptions.ParseError(f"JSON parse error - a string holds {problem}.")
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
                stack.extend((item, depth + 1) for item in value.values())
            else:
                stack.extend((item, depth + 1) for item in value)
