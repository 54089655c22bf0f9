"""The purge's own map of foreign keys (`purge.DEPENDANTS`) against the models: the SQL deletes what Django would."""

from __future__ import annotations

from django.apps import apps
from django.db import models

from retention import purge

RULES = {models.CASCADE: purge.CASCADE, models.SET_NULL: purge.SET_NULL}


def pointing_at(target: str) -> set[tuple[str, str, str]]:
    """Every foreign key (or one-to-one) of any model, many-to-many tables included, that points at `target`."""
    found = set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy:
            continue
        for field in model._meta.get_fields():
            if not (field.concrete and (field.many_to_one or field.one_to_one)):
                continue
            if field.related_model._meta.concrete_model._meta.label != target:
                continue
            on_delete = field.remote_field.on_delete
            found.add((model._meta.label, field.column, RULES.get(on_delete, on_delete.__name__)))
    return found


def test_every_foreign_key_to_a_purged_table_is_in_the_map_with_its_rule():
    for target, dependants in purge.DEPENDANTS.items():
        assert set(dependants) == pointing_at(target), target
        assert len(set(dependants)) == len(dependants), target


def test_every_table_the_purge_reaches_has_an_entry():
    for dependants in purge.DEPENDANTS.values():
        for child, _, rule in dependants:
            if rule == purge.CASCADE:
                assert child in purge.DEPENDANTS, child


def test_no_purged_table_has_a_many_to_many_field():
    for label in purge.DEPENDANTS:
        fields = apps.get_model(label)._meta.get_fields(include_hidden=True)
        assert not any(f.many_to_many for f in fields), label
