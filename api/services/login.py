"""The password step and the login transaction it opens.

The password step alone yields only an opaque ``mfa_token`` bound to a server-side
login transaction: it can ask for a code or a WebAuthn challenge, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from ..clock import utcnow
from ..errors import InvalidCredentials, TokenExpired, TokenInvalid, TooManyAttempts
from ..extensions import db
from ..models import Account, LoginTransaction
from ..nir import mask_email
from ..webauthn import credentials
from . import activity, mail_templates, mailer, passwords, throttle
from .accounts import nir_digest
from .client import ClientInfo
from .keys import keyed_hash, new_token

MFA_PREFIX = "mfa"


@dataclass(frozen=True)
class LoginStarted:
    mfa_token: str
    expires_in: int
    methods: list[str]
    email_hint: str


def begin_login(nir: str, password: str, client: ClientInfo) -> LoginStarted:
    """Check NIR and password; open a login transaction for the second factor.

    Unknown NIR, wrong password and disabled account take the same path and time:
    a dummy argon2 verification runs when there is no hash to check.
    """
    digest = nir_digest(nir)
    state = throttle.check(digest)
    if state.retry_after:
        wait = state.retry_after
        raise TooManyAttempts(headers={"Retry-After": str(wait)}, retry_after=wait)

    account = db.session.scalar(select(Account).where(Account.nir_hash == digest))
    if account is not None and account.disabled_at is None:
        valid = passwords.verify_password(account.password_hash, password)
    else:
        passwords.burn_verify_time(password)
        valid = False

    if not valid:
        _fail(digest, account, client)
        raise InvalidCredentials()

    if state.has_record:
        throttle.reset(digest)
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
    token = new_token(MFA_PREFIX)
    now = utcnow()
    ttl = current_app.config["LOGIN_TTL_SECONDS"]
    db.session.add(
        LoginTransaction(
            token_hash=keyed_hash("mfa", token),
            account_id=account.id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            otp_failures=0,
            ip=client.ip,
            user_agent=client.user_agent,
        )
    )
    db.session.commit()
    return LoginStarted(
        mfa_token=token,
        expires_in=ttl,
        methods=second_factor_methods(account),
        email_hint=mask_email(account.email),
    )


def second_factor_methods(account: Account) -> list[str]:
    """Return the second factors this account can use, the emailed code always first."""
    methods = ["email_otp"]
    if credentials.has_usable_authenticator(account.id):
        methods.append("webauthn")
    return methods


def _fail(digest: bytes, account: Account | None, client: ClientInfo) -> None:
    outcome = throttle.record_failure(digest)
    if account is not None:
        activity.record("password_failed", account.id, client)
        if outcome.locked:
            minutes = max(1, outcome.lock_seconds // 60)
            activity.record("login_locked", account.id, client, minutes=minutes)
            mailer.queue(account.email, mail_templates.login_locked(minutes))
    db.session.commit()


def load_transaction(token: str) -> LoginTransaction:
    """Return the open login transaction behind an ``mfa_token``."""
    if not token.startswith(MFA_PREFIX + "_"):
        raise TokenInvalid()
    # One round trip: the transaction and its account (kept in the session for later use).
    row = db.session.execute(
        select(LoginTransaction, Account)
        .join(Account, Account.id == LoginTransaction.account_id)
        .where(LoginTransaction.token_hash == keyed_hash("mfa", token))
    ).first()
    if row is None:
        raise TokenInvalid()
    transaction, account = row
    if transaction.completed_at is not None or account.disabled_at is not None:
        raise TokenInvalid()
    if transaction.expires_at <= utcnow():
        raise TokenExpired()
    return transaction


def complete_transaction(transaction: LoginTransaction) -> None:
    """Mark the transaction done, atomically: only one second factor may finish it."""
    done = db.session.execute(
        update(LoginTransaction)
        .where(LoginTransaction.id == transaction.id, LoginTransaction.completed_at.is_(None))
        .values(completed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        db.session.rollback()
        raise TokenInvalid()
