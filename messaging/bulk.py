"""One UPDATE for many rows with different values: `UPDATE ... FROM unnest(arrays)` on PostgreSQL.

Django's `bulk_update` builds a `CASE WHEN` per field and row; for a chunk of
100 messages and a dozen fields that costs milliseconds of Python per row
(the dispatch profile in BENCHMARKS.md). Other databases use `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def update_rows(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write `fields` of each object (by primary key) in one statement; return the rows updated."""
    if not objs:
        return 0
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model.objects.bulk_update(objs, fields)
    meta = model._meta
    pk = meta.pk
    columns = [meta.get_field(name) for name in fields]
    # One array per column, unnested side by side: the statement's text is the same for any number
    # of rows, so psycopg parses it once (a VALUES list of placeholders is parsed again each time).
    arrays = [[pk.get_db_prep_value(obj.pk, connection) for obj in objs]]
    for f in columns:
        arrays.append([f.get_db_prep_save(getattr(obj, f.attname), connection) for obj in objs])
    quote = connection.ops.quote_name
    types = [pk.db_type(connection)] + [f.db_type(connection) for f in columns]
    selects = ", ".join(f"%s::{t}[]" for t in types)
    names = ["id"] + [f.column for f in columns]
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET "
        + ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
        + f" FROM unnest({selects}) AS v({', '.join(quote(n) for n in names)})"
        + f" WHERE t.{quote(pk.column)} = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return cursor.rowcount


def insert_rows(objs: Sequence[models.Model]) -> list[models.Model]:
    """Insert new objects in one statement and set their primary keys (`bulk_create` elsewhere)."""
    if not objs:
        return list(objs)
    model = type(objs[0])
    if connection.vendor != "postgresql":
        return model.objects.bulk_create(objs)
    meta = model._meta
    columns = [f for f in meta.concrete_fields if not f.primary_key]
    arrays = [[f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs] for f in columns]
    quote = connection.ops.quote_name
    selects = ", ".join(f"%s::{f.db_type(connection)}[]" for f in columns)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "
        f"SELECT * FROM unnest({selects}) RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias
    return list(objs)
