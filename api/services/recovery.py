"""« Mot de passe oublié »: a code by email or SMS, then a new password.

No answer tells whether a NIR has an account or which contacts it has. Every request
opens a recovery flow and makes a code, stored and checked by the rules of
:mod:`api.services.codes`; when the NIR has no account, or the account lacks the asked
channel, the flow has no account and the code goes nowhere. Both paths run the same
statements (but for the message's outbox row) and answer the same ``202``.

Requests are limited per NIR (unknown NIRs too, or the limit itself would tell): one
every ``OTP_RESEND_SECONDS`` and ``OTP_HOURLY_CAP`` an hour, counted on the flows under
the NIR's throttle row lock; and per account by the code rules (the hourly cap of codes
on all channels), silently: past that cap the code goes nowhere and the answer is the
same ``202``. A new request voids the codes of the NIR's earlier recoveries.
Tries count per NIR too, before the code is compared: past ``SECOND_FACTOR_MAX_FAILURES``
wrong ones in a row, recovery for that NIR is locked for ``SECOND_FACTOR_LOCK_SECONDS``.

A completed recovery puts the new password in force, ends every session (the holder's
and the mediators'), lifts the sign-in locks the forgotten password caused, and tells
the holder on every channel, listing the biometric devices that stay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import func, select, update

from ..clock import utcnow
from ..config import settings
from ..errors import ApiError, TokenExpired, TokenInvalid, TooManyAttempts
from ..extensions import db
from ..infra import mail_templates, mailer, passwords, sms, sms_templates, throttle
from ..infra.client import ClientInfo
from ..infra.keys import keyed_hash, new_token
from ..infra.spend import spend_once
from ..models import Account, OneTimeCode, RecoveryFlow, new_id
from . import activity, codes, contacts, login, notices, sessions
from .accounts import find_by_nir, nir_digest, refuse_password_containing_nir

RECOVERY_PREFIX = "rcv"
HOUR = timedelta(hours=1)
# The channels a recovery code may go to: never the trusted person, who is someone else.
CHANNELS = ("email", "sms")
# How each way of recovering reads in the notice: "… a été choisi … {how}".
HOW = {
    "email": "avec un code reçu par courriel",
    "sms": "avec un code reçu par SMS",
    "counter": "avec un code remis au guichet de la Caf",
}


@dataclass(frozen=True)
class RecoveryStarted:
    recovery_token: str
    expires_in: int
    resend_after: int


def start(nir: str, channel: str, client: ClientInfo) -> RecoveryStarted:
    """Open a recovery for ``nir`` and send its code on ``channel`` when there is one."""
    digest = nir_digest(nir)
    now = utcnow()
    throttle.hold(throttle.key_for("recovery-send", digest))
    _check_nir_limits(digest, now)
    account = find_by_nir(nir)
    if account is not None and account.disabled_at is not None:
        account = None
    destination = _destination(account, channel)
    holder = account if destination is not None else None
    _void_earlier_codes(digest, now)
    token = new_token(RECOVERY_PREFIX)
    ttl = settings().OTP_TTL_SECONDS
    flow = RecoveryFlow(
        token_hash=keyed_hash("recovery", token),
        nir_hash=digest,
        account_id=holder.id if holder else None,
        channel=channel,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
        ip=client.ip,
        user_agent=client.user_agent,
    )
    db.session.add(flow)
    db.session.flush()
    # Past the account's hourly cap of codes the answer stays a 202 (a 429 here, and
    # never for an unknown NIR, would tell that the NIR has an account): the code then
    # goes nowhere, as for an unknown NIR, and no mailbox or phone is bombed.
    code, deliverable = codes.issue_within_cap(
        holder.id if holder else None,
        codes.Scope.recovery(flow.id),
        channel,
        destination.address if destination else None,
    )
    if not deliverable:
        holder = None
        flow.account_id = None  # a code of no account never completes anything
    # The message is written either way; only a real holder's is queued.
    message = (
        mail_templates.recovery_code(code, ttl)
        if channel == "email"
        else sms_templates.recovery_code(code, ttl)
    )
    if holder is not None and destination is not None:
        if channel == "email":
            mailer.queue(destination.address, message)
        else:
            sms.queue(destination.address, message)
        activity.record("recovery_code_sent", holder.id, client, channel=channel)
    else:
        # The same INSERT, bound to no account: both paths write alike (but for the
        # message's outbox row), and a sweep over NIRs shows in the audit.
        activity.record("recovery_code_withheld", None, client, channel=channel)
    return RecoveryStarted(token, ttl, settings().OTP_RESEND_SECONDS)


def _destination(account: Account | None, channel: str) -> contacts.Destination | None:
    if account is None:
        return None
    return next((d for d in contacts.destinations(account) if d.channel == channel), None)


def _check_nir_limits(digest: bytes, now: datetime) -> None:
    latest, sent, oldest = db.session.execute(
        select(
            func.max(RecoveryFlow.created_at),
            func.count(RecoveryFlow.id),
            func.min(RecoveryFlow.created_at),
        ).where(RecoveryFlow.nir_hash == digest, RecoveryFlow.created_at > now - HOUR)
    ).one()
    if latest is None:
        return
    wait = settings().OTP_RESEND_SECONDS - (now - latest).total_seconds()
    if wait > 0:
        codes.refuse_send(math.ceil(wait), just="demandé")
    if sent >= settings().OTP_HOURLY_CAP:
        codes.refuse_send(max(1, math.ceil((oldest + HOUR - now).total_seconds())), just="demandé")


def _void_earlier_codes(digest: bytes, now: datetime) -> None:
    earlier = select(RecoveryFlow.id).where(RecoveryFlow.nir_hash == digest)
    db.session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.recovery_flow_id.in_(earlier),
            OneTimeCode.used_at.is_(None),
            OneTimeCode.voided_at.is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Recovery:
    """A recovery between its code and the new password (``Bearer recovery_token``)."""

    security_scheme: ClassVar[str] = "recoveryToken"
    argument: ClassVar[str] = "recovery_flow"

    flow: RecoveryFlow

    @classmethod
    def from_bearer(cls, token: str) -> Recovery:
        """Return the open recovery behind ``token``; a 401 problem for anything else."""
        if not token.startswith(RECOVERY_PREFIX + "_"):
            raise TokenInvalid()
        flow = db.session.scalar(
            select(RecoveryFlow).where(RecoveryFlow.token_hash == keyed_hash("recovery", token))
        )
        if flow is None or flow.completed_at is not None:
            raise TokenInvalid()
        if flow.expires_at <= utcnow():
            raise TokenExpired()
        return cls(flow)


def complete(recovery: Recovery, code: str, new_password: str, client: ClientInfo) -> None:
    """Check the code; put ``new_password`` in force, end every session, tell the holder.

    The new password is judged first (a weak one never spends the code), by the rules of
    a password change, the NIR included (re-derived from the flow's digest).
    """
    flow = recovery.flow
    passwords.check_new_password(new_password)
    refuse_password_containing_nir(flow.nir_hash, new_password)
    key = throttle.key_for("recovery", flow.nir_hash)
    policy = throttle.second_factor_policy()
    # Counted before the code is compared, under the NIR's row lock: parallel tries queue,
    # and none is compared once the NIR is locked.
    reserved = throttle.reserve(key, policy)
    if not reserved.allowed:
        wait = reserved.retry_after
        raise TooManyAttempts(
            "Trop de codes incorrects ont été saisis. Par sécurité, la réinitialisation du mot "
            f"de passe est bloquée pendant {max(1, math.ceil(wait / 3600))} heure(s).",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
    try:
        tried = codes.attempt(codes.Scope.recovery(flow.id), code)
    except ApiError:  # a locked or spent code: a try all the same
        throttle.record_failure(reserved, policy)
        raise
    # The same SELECT whether the flow has an account or not (an id no row has).
    account = db.session.get(Account, flow.account_id or new_id())
    # A code of no account never completes anything, even guessed.
    if not tried.matched or account is None or account.disabled_at is not None:
        throttle.record_failure(reserved, policy)
        activity.record("recovery_code_failed", account.id if account else None, client)
        raise tried.refusal()
    if not spend_once(RecoveryFlow.completed_at, RecoveryFlow.id == flow.id, at=utcnow()):
        raise TokenInvalid()
    throttle.reset(key)
    contacts.mark_verified(account, tried.channel, tried.destination)
    reset_password(account, passwords.hash_password(new_password), how=flow.channel, client=client)
    notices.tell_everywhere(account, recovered_notice(account, flow.channel))


def reset_password(account: Account, password_hash: str, *, how: str, client: ClientInfo) -> None:
    """Put a new password in force after a recovery and end every session.

    ``how`` is ``email``, ``sms`` or ``counter``. Sign-ins still waiting for their second
    factor end too: their password step was the old password. The per-NIR sign-in lock and the
    second-factor lock go: the holder proved who they are another way.
    """
    now = utcnow()
    account.password_hash = password_hash
    account.password_changed_at = now
    sessions.revoke_everywhere(account.id, reason="password_recovered")
    login.end_pending_sign_ins(account.id)
    lift_sign_in_locks(account)
    activity.record("password_recovered", account.id, client, method=how)


def recovered_notice(account: Account, how: str) -> mail_templates.MailMessage:
    """The notice of a recovery, listing the biometric devices that stay, with how to remove one."""
    names = [a.name for a in account.authenticators if a.flagged_at is None]
    return mail_templates.password_recovered(utcnow(), names, HOW[how])


def lift_sign_in_locks(account: Account) -> None:
    """Forget the sign-in and password-change failures of ``account``."""
    throttle.reset(throttle.key_for("nir", account.nir_hash))
    throttle.reset(throttle.key_for("second-factor", account.id))
    throttle.reset(throttle.key_for("password-change", account.id))
