"""A session's last use: written at most once a minute, in the statement that checks it."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from api.extensions import db
from api.models import AuthSession
from tests.conftest import bearer

HOLDER_SESSIONS = re.compile(r"(?<![\w])sessions(?![\w])")


@contextmanager
def statements_on_sessions(app):
    """Collect the SQL statements that read or write the holders' ``sessions`` table."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if HOLDER_SESSIONS.search(statement):
            seen.append(" ".join(statement.split()))

    # On the Engine class: whichever engine the app's request runs on.
    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def current_last_seen(client, token: str) -> datetime:
    items = client.get("/api/v1/account/sessions", headers=bearer(token)).json["items"]
    (current,) = [item for item in items if item["current"]]
    return datetime.fromisoformat(current["last_seen_at"].replace("Z", "+00:00"))


def test_a_read_within_the_minute_runs_one_statement_and_writes_nothing(
    app, auth, account, client, clock
):
    token = auth.sign_in(account)["access_token"]
    signed_in_at = current_last_seen(client, token)
    clock.advance(seconds=30)

    version = row_version(app)
    with statements_on_sessions(app) as seen:
        assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200

    assert len(seen) == 1, seen
    assert not seen[0].upper().startswith("UPDATE"), seen
    # PostgreSQL: the WITH's UPDATE matched no row, so no new row version was written.
    assert row_version(app) == version
    assert current_last_seen(client, token) == signed_in_at


def test_the_first_use_after_a_minute_records_it_in_the_checking_statement(
    app, auth, account, client, clock
):
    token = auth.sign_in(account)["access_token"]
    signed_in_at = current_last_seen(client, token)
    clock.advance(seconds=70)

    with statements_on_sessions(app) as seen:
        assert client.get("/api/v1/account", headers=bearer(token)).status_code == 200

    writes = [sql for sql in seen if "UPDATE SESSIONS" in sql.upper()]
    assert len(writes) == 1, seen
    if app_dialect(app) == "postgresql":
        # One statement both checks the session and records its use.
        assert len(seen) == 1 and seen[0].upper().startswith("WITH"), seen
    later = current_last_seen(client, token)
    assert (later - signed_in_at).total_seconds() >= 70


def test_a_revoked_session_is_neither_accepted_nor_touched(app, auth, account, client, clock):
    phone = auth.sign_in(account)
    tablet = auth.sign_in(account)
    items = client.get("/api/v1/account/sessions", headers=bearer(tablet["access_token"]))
    (phone_session,) = [item for item in items.json["items"] if not item["current"]]
    ended = client.delete(
        f"/api/v1/account/sessions/{phone_session['id']}", headers=bearer(tablet["access_token"])
    )
    assert ended.status_code == 204
    clock.advance(seconds=70)

    assert client.get("/api/v1/account", headers=bearer(phone["access_token"])).status_code == 401
    with app.app_context():
        row = db.session.get(AuthSession, phone_session["id"])
        stored = row.last_seen_at.replace(microsecond=0, tzinfo=None)
        assert stored == datetime.fromisoformat(phone_session["last_seen_at"].replace("Z", ""))


def app_dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def row_version(app) -> str | None:
    """Return PostgreSQL's row version (xmin) of the only session row; None elsewhere."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return None
        return db.session.execute(text("SELECT xmin::text FROM sessions")).scalar_one()
