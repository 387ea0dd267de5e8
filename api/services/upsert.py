"""INSERT ... ON CONFLICT DO NOTHING for the dialects the service runs on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db


def insert_ignore(model: Any) -> Any:
    """Return an INSERT on ``model`` that silently skips an existing primary key."""
    if db.engine.dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()
