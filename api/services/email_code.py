"""The emailed 6-digit code: "Envoyer le code" and its verification.

A code is random (CSPRNG), stored only as an HMAC bound to its login transaction,
valid ``OTP_TTL_SECONDS``, good for one success and ``OTP_MAX_ATTEMPTS`` wrong tries.
A resend voids the previous code; the transaction's failure count is never reset, and
past ``OTP_MAX_FAILURES_PER_LOGIN`` the whole sign-in must start over. Sends are
throttled per account (cooldown and hourly cap) so nobody can mail-bomb a person.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from ..clock import utcnow
from ..config import settings
from ..errors import OtpExpired, OtpInvalid, OtpLocked, RateLimited, TokenInvalid
from ..extensions import db
from ..infra import mail_templates, mailer
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash, new_code, same
from ..models import Account, EmailCode, LoginTransaction
from ..nir import mask_email
from . import activity, login, tokens

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class CodeSent:
    expires_in: int
    resend_after: int
    email_hint: str


def _code_hmac(transaction_id: str, code: str) -> bytes:
    # Binding the transaction id into the MAC makes a code useless in any other sign-in.
    return keyed_hash("otp", f"{transaction_id}:{code}")


def send_code(flow: login.LoginFlow, client: ClientInfo) -> CodeSent:
    """Email a fresh code for this sign-in, voiding any earlier one."""
    config = settings()
    now = utcnow()
    # Row lock: two nodes handling two clicks at once still honour one cooldown.
    account = db.session.execute(
        select(Account)
        .where(Account.id == flow.account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    _check_send_allowed(account, now)

    db.session.execute(
        update(EmailCode)
        .where(
            EmailCode.transaction_id == flow.id,
            EmailCode.used_at.is_(None),
            EmailCode.voided_at.is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )
    code = new_code()
    ttl = config.OTP_TTL_SECONDS
    db.session.add(
        EmailCode(
            transaction_id=flow.id,
            account_id=account.id,
            code_hmac=_code_hmac(flow.id, code),
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            attempts=0,
        )
    )
    account.last_code_sent_at = now
    mailer.queue(account.email, mail_templates.sign_in_code(code, ttl))
    activity.record("code_sent", account.id, client)
    return CodeSent(
        expires_in=ttl,
        resend_after=config.OTP_RESEND_SECONDS,
        email_hint=mask_email(account.email),
    )


def _check_send_allowed(account: Account, now) -> None:
    config = settings()
    if account.last_code_sent_at is not None:
        wait = config.OTP_RESEND_SECONDS - (now - account.last_code_sent_at).total_seconds()
        if wait > 0:
            _refuse_send(math.ceil(wait))
    sent_last_hour, oldest = db.session.execute(
        select(func.count(EmailCode.id), func.min(EmailCode.created_at)).where(
            EmailCode.account_id == account.id, EmailCode.created_at > now - HOUR
        )
    ).one()
    if sent_last_hour >= config.OTP_HOURLY_CAP:
        _refuse_send(max(1, math.ceil((oldest + HOUR - now).total_seconds())))


def _refuse_send(wait: int) -> None:
    minutes = max(1, math.ceil(wait / 60))
    detail = (
        f"Un code vient d'être envoyé. Vous pourrez en demander un nouveau dans {wait} secondes."
        if wait <= 60
        else f"Trop de codes demandés. Vous pourrez en demander un nouveau dans {minutes} minutes."
    )
    raise RateLimited(detail, headers={"Retry-After": str(wait)}, retry_after=wait)


def verify_code(flow: login.LoginFlow, code: str, client: ClientInfo) -> tokens.TokenPair:
    """Check ``code``; on success complete the sign-in and return the first token pair.

    The try is counted before the code is compared, with a conditional UPDATE that also
    locks the code's row until the request ends: parallel guesses queue, and no more than
    ``OTP_MAX_ATTEMPTS`` comparisons ever run for one code.
    """
    config = settings()
    max_attempts = config.OTP_MAX_ATTEMPTS
    now = utcnow()
    current = db.session.execute(
        select(EmailCode.id, EmailCode.used_at, EmailCode.expires_at)
        .where(EmailCode.transaction_id == flow.id, EmailCode.voided_at.is_(None))
        .order_by(EmailCode.created_at.desc())
        .limit(1)
    ).first()
    if current is None:
        raise OtpExpired("Aucun code n'a été envoyé. Cliquez sur « Envoyer le code ».")
    if current.used_at is not None:
        raise TokenInvalid()
    if current.expires_at <= now:
        raise OtpExpired()
    reserved = db.session.execute(
        update(EmailCode)
        .where(
            EmailCode.id == current.id,
            EmailCode.used_at.is_(None),
            EmailCode.voided_at.is_(None),
            EmailCode.attempts < max_attempts,
        )
        .values(attempts=EmailCode.attempts + 1)
        .returning(EmailCode.attempts, EmailCode.code_hmac)
    ).first()
    if reserved is None:  # locked, or spent or voided by a request that just finished
        used = db.session.scalar(select(EmailCode.used_at).where(EmailCode.id == current.id))
        raise TokenInvalid() if used is not None else OtpLocked()
    attempts, code_hmac = reserved
    if not same(_code_hmac(flow.id, code), code_hmac):
        _record_wrong_code(flow, attempts, client)
    db.session.execute(
        update(EmailCode)
        .where(EmailCode.id == current.id)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    pair = flow.complete(["pwd", "otp"], client)
    activity.record("sign_in", flow.account.id, client, method="otp")
    return pair


def _record_wrong_code(flow: login.LoginFlow, attempts: int, client: ClientInfo) -> None:
    account = flow.account
    config = settings()
    max_attempts = config.OTP_MAX_ATTEMPTS
    failures = db.session.execute(
        update(LoginTransaction)
        .where(LoginTransaction.id == flow.id)
        .values(otp_failures=LoginTransaction.otp_failures + 1)
        .returning(LoginTransaction.otp_failures)
    ).scalar_one()
    activity.record("code_failed", account.id, client)
    flow.record_second_factor_failure(client)
    if failures >= config.OTP_MAX_FAILURES_PER_LOGIN:
        flow.end()  # too many wrong codes over several resends: this sign-in is over
    if attempts >= max_attempts:
        activity.record("code_locked", account.id, client)
        mailer.queue(account.email, mail_templates.second_factor_failed(utcnow()))
        raise OtpLocked()
    raise OtpInvalid(attempts_remaining=max_attempts - attempts)
