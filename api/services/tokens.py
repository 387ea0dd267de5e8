"""Token issuance and checks: JWT access tokens, opaque rotating refresh tokens.

Access tokens are short-lived JWTs whose claims never hold personal data; each request
also checks the session row, so sign-out and revocation take effect at once. Refresh
tokens are opaque 256-bit secrets stored hashed, single use: presenting a spent one
means it was copied, and the whole session is ended.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import jwt as pyjwt
from flask_jwt_extended import create_access_token
from sqlalchemy import select

from ..clock import utcnow
from ..config import JWT_ALGORITHM, settings
from ..errors import TokenExpired, TokenInvalid, TokenReused
from ..extensions import db
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash, new_token
from ..infra.spend import spend_once
from ..models import Account, AuthSession, RefreshToken
from . import activity, sessions

REFRESH_PREFIX = "rt"
# Headers that would let a token choose its own key or algorithm are refused outright.
_ALLOWED_HEADERS = {"alg", "typ"}


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (the scheme name)
    device_token: str | None = None  # set when a sign-in completes (known devices)
    session_id: str | None = None  # the session these tokens belong to (never sent)


def issue_for_new_session(
    account: Account,
    amr: list[str],
    client: ClientInfo,
    *,
    authenticator_id: str | None = None,
    acr: str | None = None,
) -> TokenPair:
    """Open a session and return its first token pair (added to the current transaction)."""
    session = sessions.start_session(
        account, amr, client, authenticator_id=authenticator_id, acr=acr
    )
    return _issue(session, new_refresh_token(), now=session.created_at)


def new_refresh_token() -> str:
    return new_token(REFRESH_PREFIX)


def _successor(token: str) -> str:
    """Derive the token that replaces ``token`` at rotation.

    Derived, not drawn: an app that retries a refresh whose answer was lost gets the very
    same successor within the grace window. The server key keeps it unpredictable.
    """
    digest = keyed_hash("refresh-successor", token)
    return f"{REFRESH_PREFIX}_{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def _access_token(session: AuthSession) -> tuple[str, int]:
    ttl = settings().ACCESS_TOKEN_TTL_SECONDS
    claims = {
        "sid": session.id,
        "amr": list(session.amr),
        "auth_time": int(session.auth_time.timestamp()),
    }
    if session.acr is not None:  # the level an identity provider vouched for
        claims["acr"] = session.acr
    access = create_access_token(
        identity=session.account_id,
        additional_claims=claims,
        expires_delta=timedelta(seconds=ttl),
    )
    return access, ttl


def _issue(session: AuthSession, refresh: str, *, now: datetime) -> TokenPair:
    """Store ``refresh`` for the session and return it with a new access token."""
    # Sliding lifetime, within the absolute one: the session lives as long as its newest
    # refresh token, and never longer than SESSION_MAX_AGE_SECONDS after its sign-in.
    expires_at = min(
        now + timedelta(seconds=settings().REFRESH_TOKEN_TTL_SECONDS),
        sessions.absolute_end(session),
    )
    db.session.add(
        RefreshToken(
            token_hash=keyed_hash("refresh", refresh),
            session_id=session.id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    if session.expires_at != expires_at:
        session.expires_at = expires_at
    access, ttl = _access_token(session)
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=ttl, session_id=session.id
    )


def rotate_refresh_token(token: str, client: ClientInfo) -> TokenPair:
    """Spend ``token`` and return a new pair; a second use ends the session.

    Presented again within ``REFRESH_REUSE_GRACE_SECONDS`` of its rotation, while its
    successor is still unused, it gets that same successor and a new access token: an
    app retrying after a lost answer is not signed out. Any other second use is theft.
    """
    digest = keyed_hash("refresh", token)
    # One round trip: the token and its session.
    found = db.session.execute(
        select(RefreshToken.expires_at, AuthSession)
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .where(RefreshToken.token_hash == digest)
    ).first()
    if found is None:
        raise TokenInvalid()
    token_expires_at, session = found
    now = utcnow()
    if session.revoked_at is not None:
        raise TokenInvalid()
    if token_expires_at <= now or session.expires_at <= now:
        raise TokenExpired()
    if not spend_once(RefreshToken.used_at, RefreshToken.token_hash == digest, at=now):
        return _replay_within_grace(token, session, client)
    session.last_seen_at = now
    return _issue(session, _successor(token), now=now)


def _replay_within_grace(token: str, session: AuthSession, client: ClientInfo) -> TokenPair:
    used_at = db.session.scalar(
        select(RefreshToken.used_at).where(RefreshToken.token_hash == keyed_hash("refresh", token))
    )
    successor = _successor(token)
    successor_unused = db.session.scalar(
        select(RefreshToken.used_at.is_(None)).where(
            RefreshToken.token_hash == keyed_hash("refresh", successor)
        )
    )
    grace = timedelta(seconds=settings().REFRESH_REUSE_GRACE_SECONDS)
    if used_at is not None and utcnow() - used_at <= grace and successor_unused:
        access, ttl = _access_token(session)
        return TokenPair(access_token=access, refresh_token=successor, expires_in=ttl)
    sessions.revoke(session.id, reason="token_reused")
    activity.record("token_reused", session.account_id, client)
    raise TokenReused()


@dataclass(frozen=True)
class Principal:
    """The holder of a live access token: their account and session."""

    # How @endpoint(requires=Principal) finds it and names it.
    security_scheme: ClassVar[str] = "accessToken"
    argument: ClassVar[str] = "principal"

    account: Account
    session: AuthSession
    claims: dict

    @classmethod
    def from_bearer(cls, token: str) -> Principal:
        return authenticate_access_token(token)


@dataclass(frozen=True)
class RefreshGrant:
    """A presented refresh token, checked when it is rotated."""

    security_scheme: ClassVar[str] = "refreshToken"
    argument: ClassVar[str] = "grant"

    token: str

    @classmethod
    def from_bearer(cls, token: str) -> RefreshGrant:
        return cls(token)


def authenticate_access_token(token: str) -> Principal:
    """Return who holds ``token``; raise a 401 error for anything but a live access token."""
    config = settings()
    try:
        # One decode for header and claims: signature, exp, iss and aud are checked, and
        # only the configured algorithm is accepted (never "none").
        decoded = pyjwt.api_jwt.decode_complete(
            token,
            config.JWT_SECRET_KEY,
            algorithms=[JWT_ALGORITHM],
            audience=config.JWT_AUDIENCE,
            issuer=config.JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "jti"]},
        )
    except pyjwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except pyjwt.PyJWTError:
        raise TokenInvalid() from None
    header, claims = decoded["header"], decoded["payload"]
    if set(header) - _ALLOWED_HEADERS:
        raise TokenInvalid()
    if claims.get("type") != "access" or not isinstance(claims.get("sid"), str):
        raise TokenInvalid()
    # One round trip: the session row that makes revocation immediate, and its account.
    row = db.session.execute(
        select(AuthSession, Account)
        .join(Account, Account.id == AuthSession.account_id)
        .where(AuthSession.id == claims["sid"])
    ).first()
    if row is None:
        raise TokenInvalid()
    session, account = row
    if (
        session.revoked_at is not None
        or session.account_id != claims.get("sub")
        or session.expires_at <= utcnow()
        or account.disabled_at is not None
    ):
        raise TokenInvalid()
    sessions.touch(session)
    return Principal(account=account, session=session, claims=claims)
