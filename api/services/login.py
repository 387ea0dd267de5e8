"""The login flow, the spine of every sign-in: open, load, record a failure, complete.

The password step (:func:`begin_login`) opens a server-side login transaction and hands
out only an opaque ``mfa_token``. Everything after it receives a :class:`LoginFlow`: the
second factors (the emailed code, biometrics) check their proof, then either record a
failure on the flow or complete it. Completing is atomic (only one second factor can
finish a sign-in), then :func:`open_session` resets the account's second-factor count,
opens the session and remembers the device: the one completion path, which a passkey
sign-in and a FranceConnect+ sign-in (no password step) take too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import ClassVar

from sqlalchemy import select, update

from ..clock import utcnow
from ..config import settings
from ..errors import InvalidCredentials, TokenExpired, TokenInvalid, TooManyAttempts
from ..extensions import db
from ..infra import mail_templates, passwords, throttle
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash, new_token
from ..infra.spend import spend_once
from ..models import Account, LoginTransaction
from ..webauthn import credentials
from . import activity, contacts, devices, notices, tokens
from .accounts import nir_digest

MFA_PREFIX = "mfa"


@dataclass(frozen=True)
class LoginStarted:
    mfa_token: str
    expires_in: int
    methods: list[str]
    # Masked contacts, one per channel the account has (None when it has not).
    email_hint: str | None = None
    phone_hint: str | None = None
    trusted_email_hint: str | None = None


def begin_login(
    nir: str, password: str, client: ClientInfo, device_token: str | None = None
) -> LoginStarted:
    """Check NIR and password; open a login transaction for the second factor.

    The attempt is counted before the password is checked, per known device when the
    client presents a valid ``device_token`` of this account, else per NIR: parallel
    guesses queue on the counter and at most ``LOGIN_MAX_FAILURES`` of them are checked
    per lock window. Unknown NIR, wrong password and disabled account take the same path
    and time: a dummy argon2 verification runs when there is no hash to check.
    """
    digest = nir_digest(nir)
    account = db.session.scalar(select(Account).where(Account.nir_hash == digest))
    device = devices.find_valid(device_token, account.id) if account is not None else None
    throttle_key = (
        throttle.key_for("device", device.id) if device else throttle.key_for("nir", digest)
    )
    policy = throttle.password_policy()
    attempt = throttle.reserve(throttle_key, policy)
    if not attempt.allowed:
        raise _too_many_attempts(attempt.retry_after)

    if account is not None and account.disabled_at is None:
        valid = passwords.verify_password(account.password_hash, password)
    else:
        passwords.burn_verify_time(password)
        valid = False
    if not valid:
        _fail(attempt, policy, account, client)
        raise InvalidCredentials()

    throttle.reset(throttle_key)
    # Only someone who knows the password learns that the second factor is locked.
    second_factor_wait = throttle.retry_after(throttle.key_for("second-factor", account.id))
    if second_factor_wait:
        raise _too_many_attempts(
            second_factor_wait,
            "Trop de codes ou de vérifications incorrects ont été saisis. Par sécurité, la "
            "connexion à votre compte est bloquée pour le moment.",
        )
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
    token = new_token(MFA_PREFIX)
    now = utcnow()
    ttl = settings().LOGIN_TTL_SECONDS
    db.session.add(
        LoginTransaction(
            token_hash=keyed_hash("mfa", token),
            account_id=account.id,
            device_id=device.id if device else None,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            otp_failures=0,
            ip=client.ip,
            user_agent=client.user_agent,
        )
    )
    hints = {d.channel: d.hint for d in contacts.destinations(account)}
    return LoginStarted(
        mfa_token=token,
        expires_in=ttl,
        methods=second_factor_methods(account),
        email_hint=hints.get("email"),
        phone_hint=hints.get("sms"),
        trusted_email_hint=hints.get("trusted_email"),
    )


def _too_many_attempts(wait: int, detail: str | None = None) -> TooManyAttempts:
    minutes = max(1, math.ceil(wait / 60))
    detail = detail or (
        "Trop de tentatives de connexion. Par sécurité, patientez "
        f"{minutes} minute{'s' if minutes > 1 else ''} avant de réessayer."
    )
    return TooManyAttempts(detail, headers={"Retry-After": str(wait)}, retry_after=wait)


def second_factor_methods(account: Account) -> list[str]:
    """Return the second factors this account can use: codes by channel, then biometrics."""
    methods = [contacts.METHOD_OF[d.channel] for d in contacts.destinations(account)]
    if credentials.has_usable_authenticator(account.id):
        methods.append("webauthn")
    return methods


def _fail(
    attempt: throttle.Attempt, policy: throttle.Policy, account: Account | None, client: ClientInfo
) -> None:
    outcome = throttle.record_failure(attempt, policy)
    if account is not None:
        activity.record("password_failed", account.id, client)
        if outcome.locked:
            minutes = max(1, outcome.lock_seconds // 60)
            activity.record("login_locked", account.id, client, minutes=minutes)
            notices.tell_holder(account, mail_templates.login_locked(minutes))


@dataclass(frozen=True)
class LoginFlow:
    """A sign-in between its password step and its second factor."""

    # How @endpoint(requires=LoginFlow) finds it and names it.
    security_scheme: ClassVar[str] = "mfaToken"
    argument: ClassVar[str] = "flow"

    transaction: LoginTransaction
    account: Account

    @classmethod
    def from_bearer(cls, mfa_token: str) -> LoginFlow:
        """Return the open flow behind an ``mfa_token``; a 401 problem for anything else."""
        if not mfa_token.startswith(MFA_PREFIX + "_"):
            raise TokenInvalid()
        # One round trip: the transaction and its account.
        row = db.session.execute(
            select(LoginTransaction, Account)
            .join(Account, Account.id == LoginTransaction.account_id)
            .where(LoginTransaction.token_hash == keyed_hash("mfa", mfa_token))
        ).first()
        if row is None:
            raise TokenInvalid()
        transaction, account = row
        if transaction.completed_at is not None or account.disabled_at is not None:
            raise TokenInvalid()
        if transaction.expires_at <= utcnow():
            raise TokenExpired()
        return cls(transaction, account)

    @property
    def id(self) -> str:
        return self.transaction.id

    def record_second_factor_failure(self, client: ClientInfo) -> None:
        """Count a wrong code or assertion against the account; lock sign-in at the cap."""
        record_second_factor_failure(self.account, client)

    def extend(self, seconds: int) -> None:
        """Keep this sign-in open at least ``seconds`` more: a code just sent must outlive it."""
        until = utcnow() + timedelta(seconds=seconds)
        db.session.execute(
            update(LoginTransaction)
            .where(LoginTransaction.id == self.id, LoginTransaction.expires_at < until)
            .values(expires_at=until)
            .execution_options(synchronize_session=False)
        )

    def end(self) -> None:
        """Let this sign-in expire now (too many wrong codes): it must start over."""
        db.session.execute(
            update(LoginTransaction)
            .where(LoginTransaction.id == self.id)
            .values(expires_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    def complete(
        self, amr: list[str], client: ClientInfo, *, authenticator_id: str | None = None
    ) -> tokens.TokenPair:
        """Finish the sign-in: close the flow, open a session, remember the device."""
        if not spend_once(
            LoginTransaction.completed_at, LoginTransaction.id == self.id, at=utcnow()
        ):  # another second factor finished it first
            raise TokenInvalid()
        return open_session(
            self.account,
            amr,
            client,
            authenticator_id=authenticator_id,
            device_id=self.transaction.device_id,
        )


def end_pending_sign_ins(account_id: str) -> int:
    """End the account's sign-ins still waiting for their second factor.

    Their password step proved the password that was just replaced: whoever typed it (the
    holder, or whoever had stolen it) must not finish such a sign-in with a code or a key.
    """
    now = utcnow()
    result = db.session.execute(
        update(LoginTransaction)
        .where(
            LoginTransaction.account_id == account_id,
            LoginTransaction.completed_at.is_(None),
            LoginTransaction.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def record_second_factor_failure(account: Account, client: ClientInfo) -> None:
    """Count a wrong code or refused assertion against ``account``; lock sign-in at the cap."""
    outcome = throttle.count_failure(
        throttle.key_for("second-factor", account.id), throttle.second_factor_policy()
    )
    if outcome.locked:
        hours = max(1, outcome.lock_seconds // 3600)
        activity.record("second_factor_locked", account.id, client, hours=hours)
        notices.tell_holder(account, mail_templates.second_factor_locked(hours))


def open_session(
    account: Account,
    amr: list[str],
    client: ClientInfo,
    *,
    authenticator_id: str | None = None,
    acr: str | None = None,
    device_id: str | None = None,
) -> tokens.TokenPair:
    """Finish a proven sign-in of ``account``: the one completion path of every flow.

    The account's second-factor count starts over, a session opens (recording the
    authenticator that opened it, so that removing or blocking that device ends it, and
    the ``acr`` of a FranceConnect+ sign-in), and the device is remembered: the known one
    it presented, else a new one.
    """
    throttle.reset(throttle.key_for("second-factor", account.id))
    pair = tokens.issue_for_new_session(
        account, amr, client, authenticator_id=authenticator_id, acr=acr
    )
    return replace(pair, device_token=devices.remember(account.id, device_id))
