"""Fast generation of bench rows with `INSERT ... SELECT ... FROM generate_series`.

The column list comes from the models (every concrete field), each column's
value from the model's own default unless the caller gives an SQL expression
for it, so a field added by a later migration is filled the way Django would
fill it and the generator keeps working. `g` is the series number (1..n) in
every expression; write `mod(g, 10)`, not `g % 10` (`%` starts a parameter).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection
from django.db.models import AutoField, BigAutoField, Model

from messaging.models import Message, MessageEvent


def _prototype_columns(model: type[Model], exprs: dict[str, str]) -> tuple[list[str], list[str], list]:
    """Return (quoted columns, SQL expressions, parameters) for one row of `model`.

    `exprs` maps an attname (`organization_id`, `created_at`, ...) to an SQL
    expression; every other column gets the model default as a parameter.
    """
    proto = model()
    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if isinstance(field, AutoField | BigAutoField):
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.attname in exprs:
            values.append(exprs[field.attname])
            continue
        value = getattr(proto, field.attname)
        if value is None and not field.null:
            raise ValueError(f"{model.__name__}.{field.attname} has no default: give an expression for it")
        values.append("%s")
        params.append(field.get_db_prep_save(value, connection))
    unknown = set(exprs) - {f.attname for f in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no column {sorted(unknown)}")
    return columns, values, params


def select_list(model: type[Model], exprs: dict[str, str], params: dict[str, object]) -> tuple[str, str, list]:
    """Return (column list, select list, positional args) for one row of `model`."""
    columns, values, defaults = _prototype_columns(model, exprs)
    sql_values: list[str] = []
    args: list = []
    default_iter = iter(defaults)
    for value in values:
        if value == "%s":
            sql_values.append("%s")
            args.append(next(default_iter))
        else:
            expr, expr_args = _named_to_positional(value, params)
            sql_values.append(expr)
            args.extend(expr_args)
    return ", ".join(columns), ", ".join(sql_values), args


def single_insert_sql(model: type[Model], exprs: dict[str, str], params: dict[str, object]) -> tuple[str, list]:
    """Return one `INSERT ... VALUES` statement (and its args) for a row of `model`."""
    columns, values, args = select_list(model, exprs, params)
    return f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({values}) RETURNING id", args


def insert_messages(
    n: int,
    exprs: dict[str, str],
    *,
    params: dict[str, object] | None = None,
    chunk: int = 250_000,
    returning: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[int]:
    """Insert n messages; `exprs` are SQL expressions over `g` (the row number) and named `%(param)s`.

    Returns the new ids when `returning`.
    """
    columns, values, args = select_list(Message, exprs, params or {})
    sql = f"INSERT INTO {Message._meta.db_table} ({columns}) SELECT {values} FROM generate_series(%s, %s) AS g"
    if returning:
        sql += " RETURNING id"
    ids: list[int] = []
    done = 0
    with connection.cursor() as cursor:
        while done < n:
            upto = min(n, done + chunk)
            cursor.execute(sql, [*args, done + 1, upto])
            if returning:
                ids.extend(row[0] for row in cursor.fetchall())
            done = upto
            if progress:
                progress(done)
    return ids


def insert_events(
    message_where: str,
    per_message: int,
    exprs: dict[str, str],
    *,
    params: dict[str, object] | None = None,
    id_chunk: int = 250_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert `per_message` events for each message matching `message_where` (alias `m`, event number `e`)."""
    params = params or {}
    columns, values, args = select_list(MessageEvent, {"message_id": "m.id", **exprs}, params)
    table = Message._meta.db_table
    where, where_args = _named_to_positional(message_where, params)
    sql = (
        f"INSERT INTO {MessageEvent._meta.db_table} ({columns}) "
        f"SELECT {values} FROM {table} m CROSS JOIN generate_series(1, %s) AS e "
        f"WHERE ({where}) AND m.id BETWEEN %s AND %s"
    )
    inserted = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {table} m WHERE {where}", where_args)
        low, high = cursor.fetchone()
        if low is None:
            return 0
        start = low
        while start <= high:
            stop = start + id_chunk - 1
            cursor.execute(sql, [*args, per_message, *where_args, start, stop])
            inserted += cursor.rowcount
            start = stop + 1
            if progress:
                progress(inserted)
    return inserted


def _named_to_positional(expr: str, params: dict[str, object]) -> tuple[str, list]:
    """Turn `%(name)s` placeholders into `%s` with their values, in order."""
    args: list = []
    out = []
    i = 0
    while True:
        j = expr.find("%(", i)
        if j < 0:
            out.append(expr[i:])
            break
        k = expr.index(")s", j)
        out.append(expr[i:j] + "%s")
        args.append(params[expr[j + 2 : k]])
        i = k + 2
    return "".join(out), args


def analyze(*models: type[Model]) -> None:
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {model._meta.db_table}")


def timed(label: str, log: Callable[[str], None]):
    """Context manager that logs how long a block took."""

    class _Timer:
        def __enter__(self):
            self.start = time.perf_counter()
            return self

        def __exit__(self, *exc):
            self.seconds = time.perf_counter() - self.start
            if exc[0] is None:
                log(f"{label}: {self.seconds:.1f} s")

    return _Timer()
