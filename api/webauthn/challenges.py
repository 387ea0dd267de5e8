"""Ceremony challenges: stored as HMACs, single use, consumed atomically."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, select, update

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..infra.keys import keyed_hash
from ..infra.spend import spend_once
from ..models import WebAuthnChallenge


def _digest(challenge: bytes) -> bytes:
    return keyed_hash("webauthn-challenge", challenge)


def _context(
    session_id: str | None, transaction_id: str | None, passkey_flow_id: str | None
) -> ColumnElement[bool]:
    """Return the condition naming the one context a challenge is bound to."""
    given = [
        (column, value)
        for column, value in (
            (WebAuthnChallenge.session_id, session_id),
            (WebAuthnChallenge.transaction_id, transaction_id),
            (WebAuthnChallenge.passkey_flow_id, passkey_flow_id),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise ValueError("a challenge is bound to exactly one context")
    column, value = given[0]
    return column == value


def store(
    challenge: bytes,
    *,
    purpose: str,
    account_id: str | None,
    session_id: str | None = None,
    transaction_id: str | None = None,
    passkey_flow_id: str | None = None,
) -> None:
    """Keep ``challenge`` for one ceremony; earlier open ones of the same context die.

    ``account_id`` is None only for a passkey sign-in, where the account is what the
    ceremony finds out.
    """
    now = utcnow()
    context = _context(session_id, transaction_id, passkey_flow_id)
    db.session.execute(
        update(WebAuthnChallenge)
        .where(WebAuthnChallenge.purpose == purpose, context, WebAuthnChallenge.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    ttl = timedelta(seconds=settings().WEBAUTHN_CHALLENGE_TTL_SECONDS)
    db.session.add(
        WebAuthnChallenge(
            challenge_hash=_digest(challenge),
            purpose=purpose,
            account_id=account_id,
            session_id=session_id,
            transaction_id=transaction_id,
            passkey_flow_id=passkey_flow_id,
            created_at=now,
            expires_at=now + ttl,
        )
    )


def find_open(
    challenge: bytes,
    *,
    purpose: str,
    account_id: str | None,
    session_id: str | None = None,
    transaction_id: str | None = None,
    passkey_flow_id: str | None = None,
) -> WebAuthnChallenge | None:
    """Return the unexpired, unused challenge issued for exactly this context."""
    row = db.session.scalar(
        select(WebAuthnChallenge).where(WebAuthnChallenge.challenge_hash == _digest(challenge))
    )
    if (
        row is None
        or row.purpose != purpose
        or row.account_id != account_id
        or row.used_at is not None
        or row.expires_at <= utcnow()
        or row.session_id != session_id
        or row.transaction_id != transaction_id
        or row.passkey_flow_id != passkey_flow_id
    ):
        return None
    return row


def consume(row: WebAuthnChallenge) -> bool:
    """Spend the challenge; of two racing ceremonies exactly one gets True."""
    return spend_once(WebAuthnChallenge.used_at, WebAuthnChallenge.id == row.id, at=utcnow())
