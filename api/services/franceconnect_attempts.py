"""A FranceConnect+ sign-in attempt and its one-time secrets: state, hand-off, link token.

Each secret is 256 random bits from the CSPRNG, stored only as an HMAC, short-lived, and
spent by one conditional UPDATE, so that of any number of requests racing with the same
secret exactly one gets through. The nonce is stored the same way and dies with the
attempt's state.

What a verified callback learned stays on the attempt only as long as it must: the
provider's subject and the pivot identity as keyed hashes, the level of assurance, the
names (shown once, when the holder links the identity) and the id_token, sealed.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from sqlalchemy import select

from ..clock import utcnow
from ..extensions import db
from ..franceconnect.provider import Identity
from ..infra import sealed
from ..infra.keys import keyed_hash, new_token
from ..infra.spend import spend_once
from ..models import FranceConnectAttempt, FranceConnectSecret, new_id

STATE_TTL = timedelta(minutes=10)
HANDOFF_TTL = timedelta(minutes=2)
LINK_TTL = timedelta(minutes=10)
_PREFIXES = {"state": "fcs", "handoff": "fch", "link": "fcl"}
ID_TOKEN = "franceconnect-id-token"  # noqa: S105 (a sealing purpose)


def nonce_digest(nonce: str) -> bytes:
    return keyed_hash("franceconnect-nonce", nonce)


def subject_digest(sub: str) -> bytes:
    """Return how the service knows a FranceConnect subject: a keyed hash, never the value."""
    return keyed_hash("franceconnect-sub", sub)


def pivot_digest(pivot: dict[str, str]) -> bytes:
    """Return a keyed hash of the pivot identity: equal for the same person, and nothing more."""
    return keyed_hash("franceconnect-pivot", json.dumps(pivot, sort_keys=True, ensure_ascii=False))


def open_attempt(return_to: str, code_challenge: str) -> tuple[FranceConnectAttempt, str, str]:
    """Start an attempt; return it with its ``state`` and ``nonce`` (each used once)."""
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    attempt = FranceConnectAttempt(
        id=new_id(),
        nonce_hash=nonce_digest(nonce),
        return_to=return_to,
        code_challenge=code_challenge,
        created_at=now,
        expires_at=now + STATE_TTL,
    )
    db.session.add(attempt)
    return attempt, issue(attempt, "state", STATE_TTL), nonce


def issue(attempt: FranceConnectAttempt, purpose: str, ttl: timedelta) -> str:
    """Add a one-time secret for ``purpose`` to the attempt; return it (once, never stored)."""
    token = new_token(_PREFIXES[purpose])
    expires_at = utcnow() + ttl
    db.session.add(
        FranceConnectSecret(
            secret_hash=keyed_hash(f"franceconnect-{purpose}", token),
            attempt_id=attempt.id,
            purpose=purpose,
            expires_at=expires_at,
        )
    )
    # The attempt (and what it holds) lives as long as its last secret, then is purged.
    attempt.expires_at = max(attempt.expires_at, expires_at)
    return token


def find(purpose: str, token: object) -> tuple[FranceConnectAttempt, FranceConnectSecret] | None:
    """Return the attempt behind an unspent ``token`` of ``purpose``, expired or not."""
    if not isinstance(token, str) or not token.startswith(_PREFIXES[purpose] + "_"):
        return None
    if len(token) > 128:
        return None
    row = db.session.execute(
        select(FranceConnectSecret, FranceConnectAttempt)
        .join(FranceConnectAttempt, FranceConnectAttempt.id == FranceConnectSecret.attempt_id)
        .where(
            FranceConnectSecret.secret_hash == keyed_hash(f"franceconnect-{purpose}", token),
            FranceConnectSecret.purpose == purpose,
        )
    ).first()
    if row is None or row[0].used_at is not None:
        return None
    secret, attempt = row
    return attempt, secret


def is_live(secret: FranceConnectSecret) -> bool:
    return secret.expires_at > utcnow()


def spend(secret: FranceConnectSecret) -> bool:
    """Spend ``secret``; False when another request spent it first."""
    return spend_once(
        FranceConnectSecret.used_at,
        FranceConnectSecret.secret_hash == secret.secret_hash,
        at=utcnow(),
    )


def record_identity(attempt: FranceConnectAttempt, identity: Identity) -> None:
    """Keep what the next steps need of a verified identity, and nothing else."""
    attempt.sub_hash = subject_digest(identity.sub)
    attempt.pivot_hash = pivot_digest(identity.pivot)
    attempt.acr = identity.acr
    attempt.given_name = identity.given_name
    attempt.family_name = identity.family_name
    attempt.id_token = sealed.seal(ID_TOKEN, identity.id_token, bound_to=attempt.id)


def id_token(attempt: FranceConnectAttempt) -> str | None:
    if attempt.id_token is None:
        return None
    return sealed.unseal(ID_TOKEN, attempt.id_token, bound_to=attempt.id)


def forget_identity(attempt: FranceConnectAttempt) -> None:
    """Erase the names and the id_token: the attempt has served."""
    attempt.given_name = None
    attempt.family_name = None
    attempt.id_token = None
