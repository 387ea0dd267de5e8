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

from sqlalchemy import Select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db

LAST_SEEN_GRANULARITY = timedelta(seconds=60)


def _folds_into_select() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def with_touch(query: Select, model: Any, session_id: str, now: datetime) -> Select:
    """Return ``query`` carrying the once-a-minute ``last_seen_at`` write of one session row."""
    if not _folds_into_select():
        return query
    touched = (
        update(model)
        .where(
            model.id == session_id,
            model.revoked_at.is_(None),
            model.expires_at > now,
            model.last_seen_at <= now - LAST_SEEN_GRANULARITY,
        )
        .values(last_seen_at=now)
        .returning(model.id)
        .cte(f"touched_{model.__tablename__}")
    )
    return query.add_cte(touched)


def note_seen(row: Any, now: datetime) -> None:
    """Bring a session row loaded by a ``with_touch`` query up to date with its last use."""
    if now - row.last_seen_at < LAST_SEEN_GRANULARITY:
        return
    if _folds_into_select():
        # Already written by the SELECT's WITH: only the object in memory is stale.
        set_committed_value(row, "last_seen_at", now)
    else:
        row.last_seen_at = now
