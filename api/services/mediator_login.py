"""A mediator's sign-in (password and TOTP code in one step) and their access tokens.

``POST /mediator/login`` checks both factors of the mediator's own account: the password
(argon2id) and a code of their authenticator app (RFC 6238). Each attempt is counted per
email address before anything is checked, as the password step counts per NIR: parallel
guesses queue on the counter and at most ``LOGIN_MAX_FAILURES`` are checked per lock
window. Unknown address, wrong password, wrong or replayed code and disabled account all
get the same ``401 invalid_credentials``.

A mediator's access token has ``aud`` mediator: no ``/account*`` endpoint accepts it,
and a holder's token opens no ``/mediator*`` endpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import bindparam, or_, select, update

from ..clock import utcnow
from ..config import MEDIATOR_AUDIENCE
from ..errors import (
    InvalidCredentials,
    PasswordChangeRequired,
    TokenExpired,
    TokenInvalid,
    TooManyAttempts,
)
from ..extensions import db
from ..infra import last_seen, mail_templates, mailer, passwords, throttle, totp
from ..infra.client import ClientInfo
from ..models import Mediator, MediatorSession
from . import activity, mediator_sessions, tokens
from .mediators import normalise_email

AMR = ["pwd", "otp"]
INVALID = (
    "L'adresse électronique, le mot de passe ou le code de votre application de codes "
    "est incorrect. Vérifiez-les, puis réessayez avec un nouveau code."
)


# A mediator's session with its mediator, built once: only bound parameters change.
_MEDIATOR_SESSION = (
    select(MediatorSession, Mediator)
    .join(Mediator, Mediator.id == MediatorSession.mediator_id)
    .where(MediatorSession.id == bindparam("sid"))
)
_MEDIATOR_SESSION_TOUCHED = last_seen.with_touch(_MEDIATOR_SESSION, MediatorSession)


@dataclass(frozen=True)
class MediatorSignedIn:
    access_token: str
    refresh_token: str
    expires_in: int
    # True until the operator's initial password is replaced (PUT /mediator/password).
    password_change_required: bool
    token_type: str = "Bearer"  # noqa: S105 (the scheme name)


def sign_in(email: str, password: str, code: str, client: ClientInfo) -> MediatorSignedIn:
    """Check a mediator's password and TOTP code; open their session.

    The code is accepted only for a time step later than the last accepted one: a code
    seen over a shoulder or replayed from a log is refused (RFC 6238 §5.2).
    """
    email = normalise_email(email)
    mediator = db.session.scalar(select(Mediator).where(Mediator.email == email))
    key = throttle.key_for("mediator", email)
    policy = throttle.password_policy()
    attempt = throttle.reserve(key, policy)
    if not attempt.allowed:
        raise _too_many_attempts(attempt.retry_after)

    if mediator is not None and mediator.disabled_at is None:
        password_ok = passwords.verify_password(mediator.password_hash, password)
        step = totp.matching_step(totp.unseal(mediator.totp_secret, mediator.id), code, utcnow())
    else:
        passwords.burn_verify_time(password)
        password_ok, step = False, None
    # The code is spent only with the right password: a wrong guess burns no step.
    if not (password_ok and step is not None and _spend_step(mediator, step)):
        _fail(attempt, policy, mediator, client, password_ok=password_ok, code_ok=step is not None)
        raise InvalidCredentials(INVALID)

    throttle.reset(key)
    if passwords.needs_rehash(mediator.password_hash):
        mediator.password_hash = passwords.hash_password(password)
    activity.record("mediator_signed_in", None, client, mediator_id=mediator.id)
    pair = tokens.issue_for_new_mediator_session(mediator, AMR, client)
    return MediatorSignedIn(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        password_change_required=mediator.must_change_password,
    )


def _spend_step(mediator: Mediator, step: int) -> bool:
    """Record ``step`` as the last accepted one, if it is later; False for a replay.

    One conditional UPDATE: of parallel sign-ins with the same code, one wins.
    """
    result = db.session.execute(
        update(Mediator)
        .where(
            Mediator.id == mediator.id,
            or_(Mediator.totp_last_step.is_(None), Mediator.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _fail(
    attempt: throttle.Attempt,
    policy: throttle.Policy,
    mediator: Mediator | None,
    client: ClientInfo,
    *,
    password_ok: bool,
    code_ok: bool,
) -> None:
    outcome = throttle.record_failure(attempt, policy)
    if mediator is None:
        return
    # The audit trail says which factor failed; the answer never does.
    reason = "password" if not password_ok else ("code" if not code_ok else "code_replayed")
    activity.record("mediator_sign_in_failed", None, client, mediator_id=mediator.id, reason=reason)
    if outcome.locked:
        minutes = max(1, outcome.lock_seconds // 60)
        activity.record("mediator_locked", None, client, mediator_id=mediator.id, minutes=minutes)
        mailer.queue(mediator.email, mail_templates.mediator_locked(minutes))


def _too_many_attempts(wait: int) -> TooManyAttempts:
    minutes = max(1, math.ceil(wait / 60))
    return TooManyAttempts(
        "Trop de tentatives de connexion. Par sécurité, patientez "
        f"{minutes} minute{'s' if minutes > 1 else ''} avant de réessayer.",
        headers={"Retry-After": str(wait)},
        retry_after=wait,
    )


@dataclass(frozen=True)
class MediatorPrincipal:
    """A signed-in mediator: their account and session (``@endpoint(requires=…)``).

    Accepts only a mediator's access token (``aud`` mediator) whose session is live.
    """

    security_scheme: ClassVar[str] = "mediatorToken"
    argument: ClassVar[str] = "principal"
    errors: ClassVar[tuple] = (TokenInvalid, TokenExpired)

    mediator: Mediator
    session: MediatorSession
    claims: dict

    @classmethod
    def from_bearer(cls, token: str) -> MediatorPrincipal:
        claims = tokens.decode_access_token(token, MEDIATOR_AUDIENCE)
        now = utcnow()
        row = db.session.execute(
            last_seen.pick(_MEDIATOR_SESSION, _MEDIATOR_SESSION_TOUCHED),
            last_seen.params(claims["sid"], now),
        ).first()
        if row is None:
            raise TokenInvalid()
        session, mediator = row
        if (
            session.revoked_at is not None
            or claims.get("sub") != mediator_sessions.subject(mediator.id)
            or session.expires_at <= now
            or mediator.disabled_at is not None
        ):
            raise TokenInvalid()
        last_seen.note_seen(session, now)
        return cls(mediator, session, claims)


class ActiveMediator(MediatorPrincipal):
    """A signed-in mediator who has replaced the operator's initial password.

    Until then every mediator endpoint but the profile, the password change and the
    sign-out answers ``403 password_change_required``.
    """

    errors: ClassVar[tuple] = (TokenInvalid, TokenExpired, PasswordChangeRequired)

    @classmethod
    def from_bearer(cls, token: str) -> ActiveMediator:
        principal = super().from_bearer(token)
        if principal.mediator.must_change_password:
            raise PasswordChangeRequired()
        return principal


def sign_out(principal: MediatorPrincipal, client: ClientInfo) -> None:
    """End the mediator's session: its refresh token and delegated sessions die with it."""
    mediator_sessions.revoke(principal.session.id, reason="signed_out")
    activity.record("mediator_signed_out", None, client, mediator_id=principal.mediator.id)
