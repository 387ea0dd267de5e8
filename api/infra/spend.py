"""Spend a single-use secret exactly once, whatever the number of concurrent requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import InstrumentedAttribute

from ..extensions import db


def spend_once(spent_at: InstrumentedAttribute, *where: Any, at: datetime) -> bool:
    """Set the "spent at" column ``spent_at`` of the row matching ``where``, if still unset.

    One conditional UPDATE: of any number of requests racing to spend the same row,
    exactly one gets True (on PostgreSQL the others wait for its row lock, then see it
    spent). Returns whether this call spent it.
    """
    model = spent_at.class_
    result = db.session.execute(
        update(model)
        .where(*where, spent_at.is_(None))
        .values({spent_at.key: at})
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
