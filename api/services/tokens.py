"""Token issuance and checks: JWT access tokens, opaque rotating refresh tokens.

Access tokens are short-lived JWTs whose claims never hold personal data; each request
also checks the session row, so sign-out and revocation take effect at once. Refresh
tokens are opaque 256-bit secrets stored hashed, single use: presenting a spent one
means it was copied, and the whole session is ended.

Two kinds of session rotate refresh tokens the same way (:class:`RefreshChain`): a
holder's and a mediator's; a token's prefix says which. A third kind, the delegated
session of a mediator acting under a mandate, has an access token only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import jwt as pyjwt
from flask_jwt_extended import create_access_token
from sqlalchemy import bindparam, select

from ..clock import utcnow
from ..config import JWT_ALGORITHM, MEDIATOR_AUDIENCE, settings
from ..errors import (
    DelegationForbidden,
    InsufficientScope,
    TokenExpired,
    TokenInvalid,
    TokenReused,
)
from ..extensions import db
from ..infra import last_seen, verified_tokens
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash, new_token
from ..infra.spend import spend_once
from ..models import (
    Account,
    AuthSession,
    DelegatedSession,
    Mediator,
    MediatorRefreshToken,
    MediatorSession,
    RefreshToken,
)
from . import activity, delegation, mediator_sessions, sessions
from .delegation import Delegation

REFRESH_PREFIX = "rt"
MEDIATOR_REFRESH_PREFIX = "mrt"
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


class RefreshChain:
    """A kind of session whose refresh tokens rotate: what differs between kinds.

    The rotation itself (single use, the grace window, reuse ends the session) is the
    same code for every kind, below.
    """

    prefix: ClassVar[str]
    token_model: ClassVar[Any]  # RefreshToken | MediatorRefreshToken
    session_model: ClassVar[Any]  # AuthSession | MediatorSession

    def claims(self, session: Any) -> dict[str, Any]:
        """Return the claims that say whose session it is (``sub``, maybe ``aud``)."""
        raise NotImplementedError

    def absolute_end(self, session: Any) -> datetime:
        raise NotImplementedError

    def end_after_reuse(self, session: Any, client: ClientInfo) -> None:
        """End the session after its refresh token was presented twice; record it."""
        raise NotImplementedError


class _HolderChain(RefreshChain):
    prefix = REFRESH_PREFIX
    token_model = RefreshToken
    session_model = AuthSession

    def claims(self, session: AuthSession) -> dict[str, Any]:
        claims: dict[str, Any] = {"sub": session.account_id}
        if session.acr is not None:  # the level an identity provider vouched for
            claims["acr"] = session.acr
        return claims

    def absolute_end(self, session: AuthSession) -> datetime:
        return sessions.absolute_end(session)

    def end_after_reuse(self, session: AuthSession, client: ClientInfo) -> None:
        sessions.revoke(session.id, reason="token_reused")
        activity.record("token_reused", session.account_id, client)


class _MediatorChain(RefreshChain):
    prefix = MEDIATOR_REFRESH_PREFIX
    token_model = MediatorRefreshToken
    session_model = MediatorSession

    def claims(self, session: MediatorSession) -> dict[str, Any]:
        return {"sub": mediator_sessions.subject(session.mediator_id), "aud": MEDIATOR_AUDIENCE}

    def absolute_end(self, session: MediatorSession) -> datetime:
        return mediator_sessions.absolute_end(session)

    def end_after_reuse(self, session: MediatorSession, client: ClientInfo) -> None:
        mediator_sessions.revoke(session.id, reason="token_reused")
        activity.record("mediator_token_reused", None, client, mediator_id=session.mediator_id)


HOLDER = _HolderChain()
MEDIATOR = _MediatorChain()
_CHAINS = {chain.prefix: chain for chain in (HOLDER, MEDIATOR)}


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
    return _issue(HOLDER, session, new_refresh_token(), now=session.created_at)


def issue_for_new_mediator_session(
    mediator: Mediator, amr: list[str], client: ClientInfo
) -> TokenPair:
    """Open a mediator's session and return its first token pair (``aud`` mediator)."""
    session = mediator_sessions.start_session(mediator, amr, client)
    return _issue(MEDIATOR, session, new_token(MEDIATOR_REFRESH_PREFIX), now=session.created_at)


def new_refresh_token() -> str:
    return new_token(REFRESH_PREFIX)


def _successor(token: str) -> str:
    """Derive the token that replaces ``token`` at rotation (same prefix, same chain).

    Derived, not drawn: an app that retries a refresh whose answer was lost gets the very
    same successor within the grace window. The server key keeps it unpredictable.
    """
    digest = keyed_hash("refresh-successor", token)
    prefix = token.partition("_")[0]
    return f"{prefix}_{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def _access_token(chain: RefreshChain, session: Any) -> tuple[str, int]:
    ttl = settings().ACCESS_TOKEN_TTL_SECONDS
    claims = chain.claims(session)
    access = create_access_token(
        identity=claims.pop("sub"),
        additional_claims={
            "sid": session.id,
            "amr": list(session.amr),
            "auth_time": int(session.auth_time.timestamp()),
            **claims,
        },
        expires_delta=timedelta(seconds=ttl),
    )
    return access, ttl


def _issue(chain: RefreshChain, session: Any, refresh: str, *, now: datetime) -> TokenPair:
    """Store ``refresh`` for the session and return it with a new access token."""
    # Sliding lifetime, within the absolute one: the session lives as long as its newest
    # refresh token, and never longer than its kind's maximum age after its sign-in.
    expires_at = min(
        now + timedelta(seconds=settings().REFRESH_TOKEN_TTL_SECONDS),
        chain.absolute_end(session),
    )
    db.session.add(
        chain.token_model(
            token_hash=keyed_hash("refresh", refresh),
            session_id=session.id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    if session.expires_at != expires_at:
        session.expires_at = expires_at
    access, ttl = _access_token(chain, session)
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=ttl, session_id=session.id
    )


def rotate_refresh_token(token: str, client: ClientInfo) -> TokenPair:
    """Spend ``token`` and return a new pair; a second use ends the session.

    Presented again within ``REFRESH_REUSE_GRACE_SECONDS`` of its rotation, while its
    successor is still unused, it gets that same successor and a new access token: an
    app retrying after a lost answer is not signed out. Any other second use is theft.
    """
    chain = _CHAINS.get(token.partition("_")[0])
    if chain is None:
        raise TokenInvalid()
    tokens, session_model = chain.token_model, chain.session_model
    digest = keyed_hash("refresh", token)
    # One round trip: the token and its session.
    found = db.session.execute(
        select(tokens.expires_at, session_model)
        .join(session_model, session_model.id == tokens.session_id)
        .where(tokens.token_hash == digest)
    ).first()
    if found is None:
        raise TokenInvalid()
    token_expires_at, session = found
    now = utcnow()
    if session.revoked_at is not None:
        raise TokenInvalid()
    if token_expires_at <= now or session.expires_at <= now:
        raise TokenExpired()
    if not spend_once(tokens.used_at, tokens.token_hash == digest, at=now):
        return _replay_within_grace(chain, token, session, client)
    session.last_seen_at = now
    return _issue(chain, session, _successor(token), now=now)


def _replay_within_grace(
    chain: RefreshChain, token: str, session: Any, client: ClientInfo
) -> TokenPair:
    tokens = chain.token_model
    used_at = db.session.scalar(
        select(tokens.used_at).where(tokens.token_hash == keyed_hash("refresh", token))
    )
    successor = _successor(token)
    successor_unused = db.session.scalar(
        select(tokens.used_at.is_(None)).where(
            tokens.token_hash == keyed_hash("refresh", successor)
        )
    )
    grace = timedelta(seconds=settings().REFRESH_REUSE_GRACE_SECONDS)
    if used_at is not None and utcnow() - used_at <= grace and successor_unused:
        access, ttl = _access_token(chain, session)
        return TokenPair(access_token=access, refresh_token=successor, expires_in=ttl)
    chain.end_after_reuse(session, client)
    raise TokenReused()


@dataclass(frozen=True)
class Principal:
    """Who holds a live access token: the holder in person, or a mediator under a mandate.

    ``delegation`` is None for the holder's own session. For a delegated token it names
    the mandate, the mediator and the scopes, and ``session`` is the delegated session.
    Declared by read-only views (``@endpoint(requires=Principal)``): a delegated token is
    accepted when its mandate includes ``consult``. Views that change anything declare
    :class:`Holder` instead.
    """

    # How @endpoint(requires=Principal) finds it and names it.
    security_scheme: ClassVar[str] = "accessToken"
    argument: ClassVar[str] = "principal"
    errors: ClassVar[tuple] = (TokenInvalid, TokenExpired, InsufficientScope)

    account: Account
    session: AuthSession | DelegatedSession
    claims: dict
    delegation: Delegation | None = None

    @classmethod
    def from_bearer(cls, token: str) -> Principal:
        principal = authenticate_access_token(token)
        if (
            principal.delegation is not None
            and delegation.CONSULT not in principal.delegation.scopes
        ):
            raise InsufficientScope()
        return principal


class SessionOwner(Principal):
    """Whoever holds a live access token, whatever the mandate's scopes: to end that session.

    Only for ``POST /auth/logout``: a mediator whose mandate does not include ``consult``
    may still close the delegated session they opened.
    """

    errors: ClassVar[tuple] = (TokenInvalid, TokenExpired)

    @classmethod
    def from_bearer(cls, token: str) -> SessionOwner:
        principal = authenticate_access_token(token)
        return cls(principal.account, principal.session, principal.claims, principal.delegation)


class Holder(Principal):
    """The account holder in person: a delegated token is refused with 403 delegation_forbidden.

    Declare ``@endpoint(requires=Holder)`` on EVERY endpoint that changes a credential, a
    contact, a device, a mandate or the FranceConnect link: a mediator acting under a
    mandate may read the account, never change how it is reached or who may act for it.
    The view still receives it as ``principal``.
    """

    errors: ClassVar[tuple] = (TokenInvalid, TokenExpired, DelegationForbidden)

    @classmethod
    def from_bearer(cls, token: str) -> Holder:
        principal = authenticate_access_token(token)
        if principal.delegation is not None:
            raise DelegationForbidden()
        return cls(principal.account, principal.session, principal.claims)


@dataclass(frozen=True)
class RefreshGrant:
    """A presented refresh token (a holder's or a mediator's), checked when it is rotated."""

    security_scheme: ClassVar[str] = "refreshToken"
    argument: ClassVar[str] = "grant"

    token: str

    @classmethod
    def from_bearer(cls, token: str) -> RefreshGrant:
        return cls(token)


def decode_access_token(token: str, audience: str) -> dict[str, Any]:
    """Return the claims of a valid access token for ``audience``; a 401 error otherwise."""
    config = settings()
    known = verified_tokens.recall(token, config.JWT_SECRET_KEY, audience)
    if known is not None:
        return known
    try:
        # One decode for header and claims: signature, exp, iss and aud are checked, and
        # only the configured algorithm is accepted (never "none").
        decoded = pyjwt.api_jwt.decode_complete(
            token,
            config.JWT_SECRET_KEY,
            algorithms=[JWT_ALGORITHM],
            audience=audience,
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
    verified_tokens.remember(token, config.JWT_SECRET_KEY, audience, claims)
    return claims


# One round trip: the session row that makes revocation immediate, and its account (and,
# once a minute, the write of its last use). Built once: only bound parameters change.
_SESSION_AND_ACCOUNT = (
    select(AuthSession, Account)
    .join(Account, Account.id == AuthSession.account_id)
    .where(AuthSession.id == bindparam("sid"))
)
_SESSION_AND_ACCOUNT_TOUCHED = last_seen.with_touch(_SESSION_AND_ACCOUNT, AuthSession)


def authenticate_access_token(token: str) -> Principal:
    """Return who holds ``token``; raise a 401 error for anything but a live access token.

    A mediator's own token (``aud`` mediator) is refused here: only a holder's token, or
    a delegated one (with ``act``) whose mandate is still in force, stands for an account.
    """
    claims = decode_access_token(token, settings().JWT_AUDIENCE)
    if "act" in claims:
        account, delegated, mandate = delegation.authenticate(claims)
        return Principal(account=account, session=delegated, claims=claims, delegation=mandate)
    now = utcnow()
    row = db.session.execute(
        last_seen.pick(_SESSION_AND_ACCOUNT, _SESSION_AND_ACCOUNT_TOUCHED),
        last_seen.params(claims["sid"], now),
    ).first()
    if row is None:
        raise TokenInvalid()
    session, account = row
    if (
        session.revoked_at is not None
        or session.account_id != claims.get("sub")
        or session.expires_at <= now
        or account.disabled_at is not None
    ):
        raise TokenInvalid()
    last_seen.note_seen(session, now)
    return Principal(account=account, session=session, claims=claims)
