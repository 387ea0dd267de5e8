"""Delegated sessions: a mediator acting for a holder under a mandate.

A signed-in mediator opens one for a mandate in force. Its access token is a JWT of the
holders' audience whose ``sub`` is the holder's account, ``act`` the mediator (RFC 8693
§4.1) and ``scope`` the mandate's scopes, space-separated (RFC 8693 §4.2). It lives at
most an hour (``DELEGATED_SESSION_TTL_SECONDS``, and never past the mandate) and has no
refresh token. Every request with it checks the delegated session, its mandate, the
mediator and the mediator's own session: revoking the mandate, disabling the mediator
or their signing out ends it at once. Every delegated session is in the holder's
activity, with the mediator's name and organisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_jwt_extended import create_access_token
from sqlalchemy import bindparam, select, update

from ..clock import utcnow
from ..config import settings
from ..errors import TokenInvalid
from ..extensions import db
from ..infra import last_seen
from ..infra.client import ClientInfo
from ..models import Account, DelegatedSession, Mandate, Mediator, MediatorSession, new_id
from . import activity, mandates
from .mediator_sessions import subject

# The scope a delegated token needs to read the account in this service; the others
# ("declare", "documents") are read by the Caf services that do those things.
CONSULT = "consult"

_ENDED = (
    "Cette session d'accompagnement est terminée : le mandat a pris fin, a été retiré, "
    "ou la session a expiré."
)


@dataclass(frozen=True)
class Delegation:
    """What a delegated token stands for: whose mandate, which mediator, which scopes."""

    mandate_id: str
    mediator_id: str
    mediator_name: str
    organisation: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class DelegatedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (the scheme name)


def open_session(
    mediator: Mediator, mediator_session: MediatorSession, mandate_id: str, client: ClientInfo
) -> DelegatedToken:
    """Open a delegated session under the mediator's mandate ``mandate_id``.

    A mandate that is not this mediator's, has expired or was revoked is "not found".
    """
    mandate = mandates.in_force_for_mediator(mediator.id, mandate_id)
    now = utcnow()
    expires_at = min(
        now + timedelta(seconds=settings().DELEGATED_SESSION_TTL_SECONDS), mandate.expires_at
    )
    delegated = DelegatedSession(
        id=new_id(),
        mandate_id=mandate.id,
        mediator_session_id=mediator_session.id,
        account_id=mandate.account_id,
        created_at=now,
        last_seen_at=now,
        expires_at=expires_at,
        ip=client.ip,
        user_agent=client.user_agent,
    )
    db.session.add(delegated)
    mandate.last_used_at = now
    activity.record(
        "delegated_session_opened",
        mandate.account_id,
        client,
        mediator=mediator.name,
        organisation=mediator.organisation,
        scopes=list(mandate.scopes),
    )
    ttl = max(1, int((expires_at - now).total_seconds()))
    access = create_access_token(
        identity=mandate.account_id,
        additional_claims={
            "sid": delegated.id,
            # How the actor signed in: the mediator's own two factors.
            "amr": list(mediator_session.amr),
            "auth_time": int(mediator_session.auth_time.timestamp()),
            "act": {
                "sub": subject(mediator.id),
                "name": mediator.name,
                "organisation": mediator.organisation,
            },
            "scope": " ".join(mandate.scopes),
        },
        expires_delta=timedelta(seconds=ttl),
    )
    return DelegatedToken(access_token=access, expires_in=ttl)


# Built once: only bound parameters change per request.
_DELEGATED = (
    select(DelegatedSession, Mandate, Mediator, MediatorSession, Account)
    .join(Mandate, Mandate.id == DelegatedSession.mandate_id)
    .join(Mediator, Mediator.id == Mandate.mediator_id)
    .join(MediatorSession, MediatorSession.id == DelegatedSession.mediator_session_id)
    .join(Account, Account.id == DelegatedSession.account_id)
    .where(DelegatedSession.id == bindparam("sid"))
)
_DELEGATED_TOUCHED = last_seen.with_touch(_DELEGATED, DelegatedSession)


def authenticate(claims: dict) -> tuple[Account, DelegatedSession, Delegation]:
    """Return the account, delegated session and delegation behind a delegated token.

    One round trip loads the session with its mandate, mediator, mediator session and
    account; any of them ended means the token is dead (401 token_invalid).
    """
    now = utcnow()
    row = db.session.execute(
        last_seen.pick(_DELEGATED, _DELEGATED_TOUCHED), last_seen.params(claims["sid"], now)
    ).first()
    if row is None:
        raise TokenInvalid()
    delegated, mandate, mediator, mediator_session, account = row
    act = claims.get("act")
    if not isinstance(act, dict) or act.get("sub") != subject(mediator.id):
        raise TokenInvalid()
    if (
        claims.get("sub") != account.id
        or delegated.revoked_at is not None
        or delegated.expires_at <= now
        or mandate.revoked_at is not None
        or mandate.expires_at <= now
        or mediator.disabled_at is not None
        or mediator_session.revoked_at is not None
        or mediator_session.expires_at <= now
        or account.disabled_at is not None
    ):
        raise TokenInvalid(_ENDED)
    last_seen.note_seen(delegated, now)
    return (
        account,
        delegated,
        Delegation(
            mandate_id=mandate.id,
            mediator_id=mediator.id,
            mediator_name=mediator.name,
            organisation=mediator.organisation,
            scopes=tuple(mandate.scopes),
        ),
    )


def end_session(delegated: DelegatedSession, delegation: Delegation, client: ClientInfo) -> None:
    """End a delegated session (the mediator is done); the holder sees it in the activity."""
    db.session.execute(
        update(DelegatedSession)
        .where(DelegatedSession.id == delegated.id, DelegatedSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason="signed_out")
        .execution_options(synchronize_session=False)
    )
    activity.record(
        "delegated_session_ended",
        delegated.account_id,
        client,
        mediator=delegation.mediator_name,
        organisation=delegation.organisation,
    )
