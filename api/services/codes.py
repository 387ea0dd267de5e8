"""One-time 6-digit codes, the same rules on every channel and for every purpose.

A code is random (CSPRNG), stored only as an HMAC bound to its own row, valid
``OTP_TTL_SECONDS``, good for one success and ``OTP_MAX_ATTEMPTS`` tries. It belongs to a
:class:`Scope`: one sign-in (whatever the channel: a resend by SMS voids the emailed
code), or one kind of contact being changed in one session. Within a scope a new code
voids the previous one and waits ``OTP_RESEND_SECONDS`` after it; per account, at most
``OTP_HOURLY_CAP`` codes go out an hour, on all channels together, so nobody can bomb a
mailbox or a phone through the service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from ..clock import utcnow
from ..config import settings
from ..errors import ApiError, OtpExpired, OtpInvalid, OtpLocked, RateLimited
from ..extensions import db
from ..infra.keys import keyed_hash, new_code, same
from ..models import Account, OneTimeCode, new_id

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Scope:
    """What a code is for: the rows of one scope replace each other."""

    columns: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def sign_in(cls, transaction_id: str) -> Scope:
        return cls({"transaction_id": transaction_id})

    @classmethod
    def contact(cls, session_id: str, channel: str) -> Scope:
        return cls({"session_id": session_id, "channel": channel})

    @classmethod
    def recovery(cls, flow_id: str) -> Scope:
        return cls({"recovery_flow_id": flow_id})

    def where(self) -> list[Any]:
        return [getattr(OneTimeCode, name) == value for name, value in self.columns.items()]


def issue(
    account_id: str | None,
    scope: Scope,
    channel: str,
    destination: str | None,
    *,
    contact_name: str | None = None,
) -> str:
    """Return a fresh code for ``scope``, sent to ``destination`` by the caller.

    The account's row is locked first: parallel requests, on any node, queue here, so
    the cooldown and the hourly cap hold whatever the burst. Without an account (a
    recovery for a NIR that has none), the same queries run on an id no row has: the
    code is made and stored the same way, and goes nowhere.
    """
    code, _ = _issue(account_id, scope, channel, destination, contact_name, refuse=True)
    return code


def issue_within_cap(
    account_id: str | None, scope: Scope, channel: str, destination: str | None
) -> tuple[str, bool]:
    """Like :func:`issue`, but past the account's hourly cap answer as for no account.

    For requests that must not tell whether an account exists (recovery): over the cap
    the code is made and stored the same way, bound to no account and to no address, and
    the second item, False, tells the caller to send it nowhere.
    """
    return _issue(account_id, scope, channel, destination, None, refuse=False)


def _issue(
    account_id: str | None,
    scope: Scope,
    channel: str,
    destination: str | None,
    contact_name: str | None,
    *,
    refuse: bool,
) -> tuple[str, bool]:
    now = utcnow()
    subject = account_id or new_id()
    db.session.execute(select(Account.id).where(Account.id == subject).with_for_update())
    _check_cooldown(scope, now)
    wait = _hourly_cap_wait(subject, now)
    if wait and refuse:
        refuse_send(wait)
    if wait:
        account_id = destination = contact_name = None
    db.session.execute(
        update(OneTimeCode)
        .where(*scope.where(), OneTimeCode.used_at.is_(None), OneTimeCode.voided_at.is_(None))
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )
    code, row_id = new_code(), new_id()
    db.session.add(
        OneTimeCode(
            id=row_id,
            account_id=account_id,
            channel=channel,
            code_hmac=_code_hmac(row_id, code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings().OTP_TTL_SECONDS),
            attempts=0,
            contact_value=destination,
            contact_name=contact_name,
            **{name: value for name, value in scope.columns.items() if name != "channel"},
        )
    )
    return code, not wait


def _code_hmac(row_id: str, code: str) -> bytes:
    # The row id in the MAC makes a code useless for any other sign-in or change.
    return keyed_hash("otp", f"{row_id}:{code}")


def _check_cooldown(scope: Scope, now: datetime) -> None:
    # max() keeps the column's type, so this is an aware datetime like ``now``.
    latest = db.session.scalar(select(func.max(OneTimeCode.created_at)).where(*scope.where()))
    if latest is None:
        return
    wait = settings().OTP_RESEND_SECONDS - (now - latest).total_seconds()
    if wait > 0:
        refuse_send(math.ceil(wait))


def _hourly_cap_wait(account_id: str, now: datetime) -> int:
    """Return the seconds until the account may get another code (0: under the cap)."""
    sent, oldest = db.session.execute(
        select(func.count(OneTimeCode.id), func.min(OneTimeCode.created_at)).where(
            OneTimeCode.account_id == account_id, OneTimeCode.created_at > now - HOUR
        )
    ).one()
    if sent < settings().OTP_HOURLY_CAP:
        return 0
    return max(1, math.ceil((oldest + HOUR - now).total_seconds()))


def refuse_send(wait: int, *, just: str = "envoyé") -> None:
    """Refuse a code asked too soon or too often (429 with ``Retry-After``), in plain French.

    ``just`` says what just happened to the earlier code: « envoyé », or « demandé » where
    saying it was sent would tell whether there was anyone to send it to.
    """
    minutes = max(1, math.ceil(wait / 60))
    detail = (
        f"Un code vient d'être {just}. Vous pourrez en demander un nouveau dans {wait} "
        f"seconde{'s' if wait > 1 else ''}."
        if wait <= 60
        else f"Trop de codes demandés. Vous pourrez en demander un nouveau dans {minutes} minutes."
    )
    raise RateLimited(detail, headers={"Retry-After": str(wait)}, retry_after=wait)


@dataclass(frozen=True)
class Tried:
    """One try of a code: whether it matched, and what the code was for."""

    matched: bool
    attempts: int  # this try included
    channel: str
    destination: str | None
    contact_name: str | None

    def refusal(self) -> ApiError:
        """The error that answers a wrong try."""
        max_attempts = settings().OTP_MAX_ATTEMPTS
        if self.attempts >= max_attempts:
            return OtpLocked()
        return OtpInvalid(attempts_remaining=max_attempts - self.attempts)


def attempt(scope: Scope, code: str) -> Tried:
    """Try ``code`` against the live code of ``scope``; spend it when it matches.

    The try is counted before the code is compared, with a conditional UPDATE that also
    locks the code's row until the request ends: parallel guesses queue, no more than
    ``OTP_MAX_ATTEMPTS`` comparisons ever run for one code, and of parallel right answers
    exactly one spends it.
    """
    now = utcnow()
    current = db.session.execute(
        select(OneTimeCode.id, OneTimeCode.used_at, OneTimeCode.expires_at)
        .where(*scope.where(), OneTimeCode.voided_at.is_(None))
        .order_by(OneTimeCode.created_at.desc())
        .limit(1)
    ).first()
    if current is None:
        raise OtpExpired("Aucun code n'a été envoyé. Demandez d'abord un code.")
    if current.used_at is not None:
        raise _spent()
    if current.expires_at <= now:
        raise OtpExpired()
    reserved = db.session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.id == current.id,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
            OneTimeCode.attempts < settings().OTP_MAX_ATTEMPTS,
        )
        .values(attempts=OneTimeCode.attempts + 1)
        .returning(
            OneTimeCode.attempts,
            OneTimeCode.code_hmac,
            OneTimeCode.channel,
            OneTimeCode.contact_value,
            OneTimeCode.contact_name,
        )
    ).first()
    if reserved is None:  # locked, or spent or voided by a request that just finished
        used = db.session.scalar(select(OneTimeCode.used_at).where(OneTimeCode.id == current.id))
        raise _spent() if used is not None else OtpLocked()
    attempts, code_hmac, channel, destination, contact_name = reserved
    matched = same(_code_hmac(current.id, code), code_hmac)
    if matched:
        db.session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == current.id)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
    return Tried(matched, attempts, channel, destination, contact_name)


def _spent() -> OtpExpired:
    return OtpExpired("Ce code a déjà servi. Demandez un nouveau code si besoin.")
