"""Sessions: one row per completed sign-in, the unit of revocation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..clock import utcnow
from ..config import settings
from ..errors import NotFound, ReauthenticationRequired
from ..extensions import db
from ..infra.client import ClientInfo
from ..models import Account, AuthSession, DelegatedSession, SecurityEvent, new_id
from . import activity


def start_session(
    account: Account,
    amr: list[str],
    client: ClientInfo,
    *,
    authenticator_id: str | None = None,
    acr: str | None = None,
) -> AuthSession:
    """Open a session for a completed sign-in (added to the current transaction)."""
    now = utcnow()
    session = AuthSession(
        id=new_id(),  # known now: no flush needed before the refresh token points at it
        account_id=account.id,
        amr=amr,
        auth_time=now,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings().REFRESH_TOKEN_TTL_SECONDS),
        authenticator_id=authenticator_id,
        acr=acr,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    db.session.add(session)
    return session


def require_fresh(session: AuthSession) -> None:
    """Refuse unless the session signed in less than ``REAUTH_MAX_AGE_SECONDS`` ago.

    What changes a credential or a contact needs a recent proof of both factors, not
    only a live access token, which may have been copied.
    """
    max_age = timedelta(seconds=settings().REAUTH_MAX_AGE_SECONDS)
    if utcnow() - session.auth_time > max_age:
        raise ReauthenticationRequired()


def absolute_end(session: AuthSession) -> datetime:
    """Return when ``session`` ends whatever its refreshes (SESSION_MAX_AGE_SECONDS)."""
    return session.auth_time + timedelta(seconds=settings().SESSION_MAX_AGE_SECONDS)


def require_fresh_sign_in(session: AuthSession) -> None:
    """Refuse (401 reauthentication_required) a sign-in older than REAUTH_MAX_AGE_SECONDS."""
    if utcnow() - session.auth_time > timedelta(seconds=settings().REAUTH_MAX_AGE_SECONDS):
        raise ReauthenticationRequired()


def revoke_opened_with(authenticator_id: str, *, reason: str) -> int:
    """End every live session that the authenticator ``authenticator_id`` opened."""
    result = db.session.execute(
        update(AuthSession)
        .where(AuthSession.authenticator_id == authenticator_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def revoke_opened_with_franceconnect(account_id: str, *, reason: str) -> int:
    """End every live session of an account that a FranceConnect+ sign-in opened."""
    result = db.session.execute(
        update(AuthSession)
        .where(
            AuthSession.account_id == account_id,
            AuthSession.acr.is_not(None),
            AuthSession.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def revoke_all(account_id: str, *, reason: str, except_session_id: str | None = None) -> int:
    """End every live session of an account, but ``except_session_id``."""
    query = update(AuthSession).where(
        AuthSession.account_id == account_id, AuthSession.revoked_at.is_(None)
    )
    if except_session_id is not None:
        query = query.where(AuthSession.id != except_session_id)
    result = db.session.execute(
        query.values(revoked_at=utcnow(), revoked_reason=reason).execution_options(
            synchronize_session=False
        )
    )
    return result.rowcount


def revoke_everywhere(account_id: str, *, reason: str, except_session_id: str | None = None) -> int:
    """End every session on the account but ``except_session_id``: the holder's and the
    mediators' delegated ones (mandates stay; a mediator opens a new session if needed).

    Refresh tokens die with their session: a refresh checks it first.
    """
    ended = revoke_all(account_id, reason=reason, except_session_id=except_session_id)
    query = update(DelegatedSession).where(
        DelegatedSession.account_id == account_id, DelegatedSession.revoked_at.is_(None)
    )
    if except_session_id is not None:
        query = query.where(DelegatedSession.id != except_session_id)
    result = db.session.execute(
        query.values(revoked_at=utcnow(), revoked_reason=reason).execution_options(
            synchronize_session=False
        )
    )
    return ended + result.rowcount


def revoke(session_id: str, *, reason: str) -> bool:
    """End one session at once; return False when it was already ended."""
    result = db.session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def sign_out(session: AuthSession, client: ClientInfo) -> None:
    revoke(session.id, reason="signed_out")
    activity.record("signed_out", session.account_id, client)


def list_sessions(account_id: str) -> list[AuthSession]:
    now = utcnow()
    query = (
        select(AuthSession)
        .where(
            AuthSession.account_id == account_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
        .order_by(AuthSession.last_seen_at.desc())
    )
    return list(db.session.scalars(query))


def end_session(account_id: str, session_id: str, client: ClientInfo) -> None:
    """End one of the account's own sessions; another account's is "not found"."""
    session = db.session.get(AuthSession, session_id)
    if session is None or session.account_id != account_id or session.revoked_at is not None:
        raise NotFound("Cette session n'existe pas ou est déjà fermée.")
    revoke(session.id, reason="ended_by_user")
    activity.record("session_ended", account_id, client)


def end_all_others(account_id: str, current_session_id: str, client: ClientInfo) -> None:
    """« Déconnecter tous mes appareils »: end every session but the current one."""
    revoke_everywhere(account_id, reason="ended_by_user", except_session_id=current_session_id)
    activity.record("all_sessions_ended", account_id, client)


def report_not_me(
    account_id: str, event_id: str, current_session_id: str, client: ClientInfo
) -> None:
    """« Ce n'était pas moi » on one event: end every other session and record it."""
    event = db.session.get(SecurityEvent, event_id)
    if event is None or event.account_id != account_id:
        raise NotFound("Cet événement n'existe pas dans votre activité.")
    revoke_everywhere(account_id, reason="not_me", except_session_id=current_session_id)
    activity.record("not_me_reported", account_id, client, event=event.type)
