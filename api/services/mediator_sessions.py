"""Mediators' own sessions: one row per sign-in, the unit of revocation.

Kept apart from holders' sessions: a mediator is not an account holder, and their
tokens (``aud`` mediator) open no account. The delegated sessions a mediator opens
under mandates hang on the session they were opened from and end with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..infra.client import ClientInfo
from ..models import Mediator, MediatorSession, new_id


def subject(mediator_id: str) -> str:
    """Return the ``sub`` of a mediator's token, and the ``act.sub`` of a delegated one."""
    return f"mediator:{mediator_id}"


def start_session(mediator: Mediator, amr: list[str], client: ClientInfo) -> MediatorSession:
    """Open a session for a mediator's completed sign-in (added to the current transaction)."""
    now = utcnow()
    session = MediatorSession(
        id=new_id(),
        mediator_id=mediator.id,
        amr=amr,
        auth_time=now,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings().MEDIATOR_SESSION_MAX_AGE_SECONDS),
        ip=client.ip,
        user_agent=client.user_agent,
    )
    db.session.add(session)
    return session


def absolute_end(session: MediatorSession) -> datetime:
    """Return when ``session`` ends whatever its refreshes (MEDIATOR_SESSION_MAX_AGE_SECONDS)."""
    return session.auth_time + timedelta(seconds=settings().MEDIATOR_SESSION_MAX_AGE_SECONDS)


def revoke(session_id: str, *, reason: str) -> bool:
    """End one mediator session at once; return False when it was already ended."""
    result = db.session.execute(
        update(MediatorSession)
        .where(MediatorSession.id == session_id, MediatorSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def revoke_all(mediator_id: str, *, reason: str, except_session_id: str | None = None) -> int:
    """End every live session of a mediator, but ``except_session_id``."""
    query = update(MediatorSession).where(
        MediatorSession.mediator_id == mediator_id, MediatorSession.revoked_at.is_(None)
    )
    if except_session_id is not None:
        query = query.where(MediatorSession.id != except_session_id)
    result = db.session.execute(
        query.values(revoked_at=utcnow(), revoked_reason=reason).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount
