"""Template placeholders: one pattern (jood/placeholders.py) for our templates, WhatsApp's and the portal's preview.

Before, three patterns read them. Our templates' `{{\\s*([A-Za-z_][A-Za-z0-9_]*)\\s*}}`
took names that start with a letter or `_`; the send form's and the WhatsApp
adapter's `\\{\\{\\s*([A-Za-z0-9_]+)\\s*\\}\\}` also took names that start with a
digit. They differed on exactly those: `{{1}}`, `{{ 2 }}`, `{{1a}}` are
placeholders in a WhatsApp template and text in ours. That stays so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from jood import placeholders
from messaging.forms import preview_text, template_fields
from messaging.models import Template
from messaging.services import render
from providers import whatsapp


@pytest.mark.parametrize(
    ("text", "own", "whatsapp_names"),
    [
        ("Hello {{first_name}}, {{ first_name }}!", ["first_name"], ["first_name"]),
        ("Code {{1}}, valid {{ 2 }} minutes", [], ["1", "2"]),
        ("{{1a}} {{_x}} {{a1}}", ["_x", "a1"], ["1a", "_x", "a1"]),
        ("{{ a b }} {{}} {{-x}} {name}", [], []),
        ("{{{1}}} {{{{a}}}}", ["a"], ["1", "a"]),
    ],
)
def test_own_templates_take_names_and_whatsapp_takes_numbers_too(text, own, whatsapp_names):
    assert placeholders.names(text, numeric=False) == own
    assert placeholders.names(text) == whatsapp_names


def test_an_own_template_leaves_a_numbered_placeholder_as_text():
    template = Template(kind=Template.Kind.OWN, body="Hi {{name}}, code {{1}}")
    assert template.placeholders == ["name"]
    assert template_fields(template) == ["name"]
    assert render(template.body, {"name": "Sara", "1": "x"}) == "Hi Sara, code {{1}}"
    assert preview_text(template, "", {"1": "x"}) == "Hi {{name}}, code {{1}}"


def test_a_whatsapp_template_fills_numbered_and_named_placeholders():
    template = Template(kind=Template.Kind.WHATSAPP, body="Order {{1}} for {{name}}")
    assert preview_text(template, "", {"1": "42", "name": "Sara"}) == "Order 42 for Sara"
    counts = whatsapp.template_parameter_count([{"type": "BODY", "text": template.body}])
    assert counts["body"] == 2


def test_a_placeholder_with_no_value_stays_as_written():
    assert placeholders.render("{{a}} {{ b }}", {"a": "A", "b": ""}.get) == "A {{ b }}"


def test_the_portal_preview_uses_the_same_pattern():
    script = (Path(settings.BASE_DIR) / "jood" / "static" / "jood" / "sms-counter.js").read_text()
    patterns = re.findall(r"/(\\\{\\\{.*?)/g", script)
    assert patterns == [placeholders.PATTERN.pattern]
