"""
Set-based writes of model rows, written out where Django's bulk helpers cost more than the
database's work: ``INSERT … VALUES … RETURNING`` and ``UPDATE … FROM (VALUES …)`` in chunks of
the parameter limit, ids taken from their sequences and rows copied in with ``COPY`` on
PostgreSQL. The billing batch and the events use them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from operator import attrgetter

from django.db import connection


def rows_update(model: type, names: list[str], objects: list) -> None:
    """
    Write ``names`` (attribute names) of ``objects`` to their rows: one ``UPDATE … FROM`` a
    ``VALUES`` list (in chunks of the database's parameter limit). Django's ``bulk_update``
    builds a ``CASE`` per field and row, which costs more to build than to run.
    """
    if not objects:
        return
    meta = model._meta
    fields = [meta.pk, *(meta.get_field(name) for name in names)]
    quote = connection.ops.quote_name
    postgres = connection.vendor == "postgresql"

    def value(field) -> str:
        column = f"v.{quote(field.column)}"
        return f"CAST({column} AS {field.cast_db_type(connection)})" if postgres else column

    table = quote(meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(field.column)} = {value(field)}" for field in fields[1:])
    with connection.cursor() as cursor:
        for _chunk, rows, params in values_chunks(fields, objects):
            # Quoted names of the model's own columns, and values quoted by psycopg.
            sql = (
                f"WITH v ({columns}) AS (VALUES {rows}) "  # noqa: S608
                f"UPDATE {table} SET {assignments} FROM v "
                f"WHERE {table}.{quote(meta.pk.column)} = {value(meta.pk)}"
            )
            cursor.execute(sql, params)


# Values psycopg adapts as they are: preparing them through their fields (as bulk_create does)
# cost more than the statements.
_NATIVE = frozenset({int, str, bool, Decimal, datetime, type(None)})


def db_values(fields: list, objects: list) -> list:
    """The objects' values of ``fields``, ready for the database, row after row."""
    if connection.vendor != "postgresql":
        return [
            field.get_db_prep_save(getattr(obj, field.attname), connection)
            for obj in objects
            for field in fields
        ]
    values = []
    row = attrgetter(*[field.attname for field in fields])
    for obj in objects:
        for field, value in zip(fields, row(obj), strict=True):
            # Choices (str enums) are written as their str value too.
            if type(value) not in _NATIVE and not isinstance(value, str):
                value = field.get_db_prep_save(value, connection)
            values.append(value)
    return values


def values_sql(fields: list, objects: list) -> tuple[str, list | None]:
    """
    The rows of a ``VALUES`` list of the objects' ``fields``, and its parameters. On PostgreSQL
    the values are written in as literals quoted by psycopg (what its client-side binding does)
    and there are no parameters: psycopg finds a statement's placeholders in Python, which cost
    about as much as the statement for thousands of them.
    """
    values = db_values(fields, objects)
    width = len(fields)
    if connection.vendor != "postgresql":
        row = "(" + ", ".join(["%s"] * width) + ")"
        return ", ".join([row] * len(objects)), values
    from psycopg.adapt import Transformer

    literal = Transformer.from_context(connection.connection).as_literal
    texts = [literal(value).decode() for value in values]
    rows = ("(" + ", ".join(texts[i : i + width]) + ")" for i in range(0, len(texts), width))
    return ", ".join(rows), None


def values_chunks(fields: list, objects: list) -> Iterator[tuple[list, str, list | None]]:
    """The objects in chunks of the database's parameter limit, each with its ``VALUES`` rows
    and parameters (:func:`values_sql`)."""
    per = max(1, (connection.features.max_query_params or 65535) // len(fields))
    for start in range(0, len(objects), per):
        chunk = objects[start : start + per]
        yield chunk, *values_sql(fields, chunk)


def ids_take(groups: list[tuple[type, list]]) -> bool:
    """
    On PostgreSQL, give each group's objects ids from their table's sequence, in order, in one
    statement (so rows that refer to each other are written once, each knowing the other's id)
    and return True; elsewhere (SQLite has no sequences) False: the inserts return the ids.
    """
    if connection.vendor != "postgresql":
        return False
    groups = [(model, objects) for model, objects in groups if objects]
    if not groups:
        return True
    taking = "ARRAY(SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s))"
    params = []
    for model, objects in groups:
        params += [model._meta.db_table, model._meta.pk.column, len(objects)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join([taking] * len(groups)), params)
        taken = cursor.fetchone()
    for (_, objects), ids in zip(groups, taken, strict=True):
        for obj, pk in zip(objects, sorted(ids), strict=True):
            obj.pk = pk
    return True


def rows_copy(model: type, objects: list, *, given: Mapping[str, list] | None = None) -> None:
    """Insert the objects, ids included (:func:`ids_take`), with PostgreSQL's ``COPY``: no
    statement to build or parse, and psycopg writes the rows in C. ``given`` maps a field's
    name to its values for the objects, ready for the database (a JSON column's rendered text,
    say), instead of preparing them again."""
    meta = model._meta
    fields = list(meta.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    values = db_values(fields, objects)
    width = len(fields)
    for name, column in (given or {}).items():
        at = fields.index(meta.get_field(name))
        values[at::width] = column
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
    ):
        for start in range(0, len(values), width):
            copy.write_row(values[start : start + width])
    for obj in objects:
        obj._state.adding, obj._state.db = False, connection.alias


def rows_insert(model: type, objects: list) -> None:
    """
    Insert the objects (every concrete field but the primary key) and set their primary keys,
    in order: one ``INSERT … VALUES … RETURNING`` per chunk of the database's parameter limit.
    ``bulk_create`` on PostgreSQL sends each column as an array, which psycopg builds in Python
    (the escaping of each text value included): that was most of the run's time. Objects that
    have their ids already (:func:`ids_take`) are copied in (:func:`rows_copy`).
    """
    if not objects:
        return
    if objects[0].pk is not None:
        rows_copy(model, objects)
        return
    meta = model._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        for chunk, rows, params in values_chunks(fields, objects):
            sql = (
                f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
                f"VALUES {rows} RETURNING {quote(meta.pk.column)}"
            )
            cursor.execute(sql, params)
            for obj, (pk,) in zip(chunk, cursor.fetchall(), strict=True):
                obj.pk = pk
                obj._state.adding, obj._state.db = False, connection.alias
