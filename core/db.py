"""Database helpers every app shares."""

from __future__ import annotations

from django.db import IntegrityError, models


def violates(exc: IntegrityError, model: type[models.Model], constraint_name: str) -> bool:
    """
    Whether ``exc`` was raised by ``model``'s constraint ``constraint_name`` and not by another
    one (or by a ``ProtectedError``), so that a handler catches only the conflict it means.

    PostgreSQL names the constraint; SQLite names a check constraint, and a unique one by its
    table and columns.
    """
    if isinstance(exc, models.ProtectedError | models.RestrictedError):
        return False
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None) == constraint_name
    message = str(cause or exc)
    constraint = next(c for c in model._meta.constraints if c.name == constraint_name)
    if isinstance(constraint, models.UniqueConstraint):
        table = model._meta.db_table
        columns = ", ".join(
            f"{table}.{model._meta.get_field(field).column}" for field in constraint.fields
        )
        return message == f"UNIQUE constraint failed: {columns}"
    return message == f"CHECK constraint failed: {constraint_name}"
