"""Accounts: creation by operators, lookup by NIR, password changes."""

from __future__ import annotations

import math
import re
import secrets
from datetime import timedelta

from sqlalchemy import select

from ..clock import utcnow
from ..config import settings
from ..errors import (
    InvalidCurrentPassword,
    ReauthenticationRequired,
    TooManyAttempts,
    ValidationError,
)
from ..extensions import db
from ..infra import mail_templates, passwords, throttle
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash
from ..models import Account, AuthSession
from ..nir import mask_nir, parse_nir
from ..phone import parse_mobile
from . import activity, contacts, notices, sessions


def nir_digest(nir: str) -> bytes:
    """Return the lookup key of a canonical NIR."""
    return keyed_hash("nir", nir)


def find_by_nir(nir: str) -> Account | None:
    return db.session.scalar(select(Account).where(Account.nir_hash == nir_digest(nir)))


def create_account(
    nir: str,
    email: str | None,
    password: str,
    *,
    phone: str | None = None,
    check_password: bool = True,
) -> Account:
    """Create an account with an address, a mobile or both (where its codes go).

    Raise :class:`ValidationError` on bad input or a taken NIR. Contacts given by an
    operator are not yet verified: the first code typed from one verifies it.
    """
    canonical = parse_nir(nir)
    if canonical is None:
        raise ValidationError(errors={"nir": ["Numéro de sécurité sociale invalide."]})
    email, phone = (email or "").strip() or None, (phone or "").strip() or None
    if email is None and phone is None:
        raise ValidationError(
            errors={
                "email": ["Indiquez une adresse électronique, un numéro de mobile, ou les deux."]
            }
        )
    if email is not None and (email := contacts.parse_email(email)) is None:
        raise ValidationError(errors={"email": ["Adresse électronique invalide."]})
    if phone is not None and (phone := parse_mobile(phone)) is None:
        raise ValidationError(
            errors={"phone": ["Numéro de mobile invalide : 06 ou 07, ou un mobile d'outre-mer."]}
        )
    if check_password:
        passwords.check_new_password(password, nir=canonical)
    if find_by_nir(canonical) is not None:
        raise ValidationError(errors={"nir": ["Un compte existe déjà pour ce numéro."]})
    now = utcnow()
    account = Account(
        nir_hash=nir_digest(canonical),
        nir_masked=mask_nir(canonical),
        email=email,
        phone=phone,
        password_hash=passwords.hash_password(password),
        # A random WebAuthn user handle: authenticators never learn the NIR.
        webauthn_user_handle=secrets.token_bytes(32),
        created_at=now,
        password_changed_at=now,
    )
    db.session.add(account)
    db.session.flush()
    return account


def set_disabled(nir: str, disabled: bool) -> Account | None:
    account = find_by_nir(parse_nir(nir) or "")
    if account is None:
        return None
    account.disabled_at = utcnow() if disabled else None
    if disabled:
        sessions.revoke_all(account.id, reason="disabled")
    return account


def change_password(
    account: Account,
    current_password: str | None,
    new_password: str,
    *,
    session: AuthSession,
    client: ClientInfo,
) -> None:
    """Replace the password, end every other session and tell the account holder.

    Guesses of the current password (a stolen access token) are counted before they are
    checked, like the password step's: 5 in a row lock the change, growing each time.
    Someone who lost their password proves who they are with FranceConnect+ instead: in
    a session it opened less than ``REAUTH_MAX_AGE_SECONDS`` ago, the current password
    may be left out.
    """
    if current_password is None:
        _require_fresh_franceconnect_session(session)
        # Proven by FranceConnect+: the locks that the forgotten password caused are lifted,
        # so that the new one works at once.
        throttle.reset(throttle.key_for("nir", account.nir_hash))
        throttle.reset(throttle.key_for("password-change", account.id))
    else:
        _check_current_password(account, current_password, client)
    passwords.check_new_password(new_password)
    # The NIR is not stored in clear; check the new password against it by re-deriving
    # the lookup digest of any 13-character run of the (now length-capped) password.
    refuse_password_containing_nir(account.nir_hash, new_password)
    now = utcnow()
    account.password_hash = passwords.hash_password(new_password)
    account.password_changed_at = now
    sessions.revoke_all(account.id, reason="password_changed", except_session_id=session.id)
    # Imported here: the login flow itself depends on this module (nir_digest).
    from .login import end_pending_sign_ins

    end_pending_sign_ins(account.id)
    activity.record("password_changed", account.id, client)
    notices.tell_holder(account, mail_templates.password_changed(now))


def _require_fresh_franceconnect_session(session: AuthSession) -> None:
    if "fc" not in session.amr:
        raise ValidationError(errors={"current_password": ["Ce champ est obligatoire."]})
    max_age = timedelta(seconds=settings().REAUTH_MAX_AGE_SECONDS)
    if utcnow() - session.auth_time > max_age:
        raise ReauthenticationRequired()


def _check_current_password(account: Account, current_password: str, client: ClientInfo) -> None:
    key = throttle.key_for("password-change", account.id)
    policy = throttle.password_policy()
    attempt = throttle.reserve(key, policy)
    if not attempt.allowed:
        wait = attempt.retry_after
        raise TooManyAttempts(
            "Trop d'essais avec un mot de passe actuel incorrect. Par sécurité, patientez "
            f"{max(1, math.ceil(wait / 60))} minute(s) avant de réessayer.",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
    if not passwords.verify_password(account.password_hash, current_password):
        outcome = throttle.record_failure(attempt, policy)
        activity.record("password_change_failed", account.id, client)
        if outcome.locked:
            minutes = max(1, outcome.lock_seconds // 60)
            activity.record("password_change_locked", account.id, client, minutes=minutes)
            notices.tell_holder(account, mail_templates.password_change_locked(minutes))
        raise InvalidCurrentPassword(
            attempts_remaining=max(0, policy.max_failures - attempt.number)
        )
    throttle.reset(key)


def refuse_password_containing_nir(nir_hash: bytes, password: str) -> None:
    """Refuse a password holding the NIR whose lookup digest is ``nir_hash``."""
    compact = re.sub(r"\s+", "", passwords.normalize(password)).upper()
    for start in range(0, max(0, len(compact) - 12)):
        candidate = parse_nir(compact[start : start + 13])
        if candidate and nir_digest(candidate) == nir_hash:
            passwords.check_new_password(password, nir=candidate)
