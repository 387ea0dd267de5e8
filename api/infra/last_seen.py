"""Record when a session was last used: at most once a minute, in the statement that checks it.

Writing ``last_seen_at`` on every request would turn every read into a write. On
PostgreSQL the write rides in the very statement that loads the session to check it (a
data-modifying ``WITH``, whose ``WHERE`` makes it a no-op unless the recorded time is a
minute old), so a read-only request costs exactly one statement. SQLite has no writable
``WITH``: there the loaded row is marked and the request's commit writes it, still at most
once a minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db

LAST_SEEN_GRANULARITY = timedelta(seconds=60)


def _folds_into_select() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def with_touch(query: Select, model: Any) -> Select:
    """Return ``query`` (which finds the session by ``:sid``) carrying the once-a-minute write.

    Build it once, at import: the statement then takes ``sid``, ``now`` and ``seen_before``
    as bound parameters (``params``), and only compiled-statement caching remains per request.
    """
    touched = (
        update(model)
        .where(
            model.id == bindparam("sid"),
            model.revoked_at.is_(None),
            model.expires_at > bindparam("now"),
            model.last_seen_at <= bindparam("seen_before"),
        )
        .values(last_seen_at=bindparam("now"))
        .returning(model.id)
        .cte(f"touched_{model.__tablename__}")
    )
    return query.add_cte(touched)


def pick(query: Select, touching_query: Select) -> Select:
    """Return the statement to run here: with the write folded in where the database can."""
    return touching_query if _folds_into_select() else query


def params(session_id: str, now: datetime) -> dict[str, Any]:
    """Return the bound parameters of a ``with_touch`` statement (the plain one ignores two)."""
    return {"sid": session_id, "now": now, "seen_before": now - LAST_SEEN_GRANULARITY}


def note_seen(row: Any, now: datetime) -> None:
    """Bring a session row loaded by a ``with_touch`` query up to date with its last use."""
    if now - row.last_seen_at < LAST_SEEN_GRANULARITY:
        return
    if _folds_into_select():
        # Already written by the SELECT's WITH: only the object in memory is stale.
        set_committed_value(row, "last_seen_at", now)
    else:
        row.last_seen_at = now
