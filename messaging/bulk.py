"""One UPDATE for many rows with different values: `UPDATE ... FROM (VALUES ...)` on PostgreSQL.

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
    casts = [f"%s::{pk.db_type(connection)}"] + [f"%s::{f.db_type(connection)}" for f in columns]
    row = "(" + ", ".join(casts) + ")"
    params: list = []
    for obj in objs:
        params.append(pk.get_db_prep_value(obj.pk, connection))
        for f in columns:
            params.append(f.get_db_prep_save(getattr(obj, f.attname), connection))
    names = ["id"] + [f.column for f in columns]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET "
        + ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
        + f" FROM (VALUES {', '.join([row] * len(objs))}) AS v({', '.join(quote(n) for n in names)})"
        + f" WHERE t.{quote(pk.column)} = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
