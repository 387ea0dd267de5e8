"""The code second factor: « Envoyer le code » by email, SMS or the trusted person, then its check.

One sign-in has one live code, whatever the channel: asking again, on any channel,
voids the earlier one (the rules are those of :mod:`api.services.codes`). Sending a code
extends the sign-in so that the code really lives ``OTP_TTL_SECONDS``. Wrong codes add up
over the whole sign-in, never reset by a resend: past ``OTP_MAX_FAILURES_PER_LOGIN``
the sign-in must start over, and they count against the account's second factors.
"""

from __future__ import annotations

from sqlalchemy import update

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..infra import mail_templates, mailer, sms, sms_templates
from ..infra.client import ClientInfo
from ..models import LoginTransaction
from . import activity, codes, contacts, login, notices, tokens
from .contacts import CodeSent

# RFC 8176: a code by SMS is "sms"; by email (the holder's or the trusted person's) "otp".
AMR = {"email": ["pwd", "otp"], "sms": ["pwd", "sms"], "trusted_email": ["pwd", "otp"]}


def send_code(flow: login.LoginFlow, client: ClientInfo, channel: str | None = None) -> CodeSent:
    """Send a fresh code for this sign-in on ``channel`` (default: the first available)."""
    account = flow.account
    destination = contacts.destination(account, channel)
    channel = destination.channel
    code = codes.issue(account.id, codes.Scope.sign_in(flow.id), channel, destination.address)
    ttl = settings().OTP_TTL_SECONDS
    flow.extend(ttl)
    if channel == "email":
        mailer.queue(destination.address, mail_templates.sign_in_code(code, ttl))
    elif channel == "sms":
        sms.queue(destination.address, sms_templates.sign_in_code(code, ttl))
    else:
        mailer.queue(
            destination.address,
            mail_templates.trusted_sign_in_code(
                code, ttl, account.nir_masked, account.trusted_name
            ),
        )
    activity.record("code_sent", account.id, client, channel=channel, to=destination.hint)
    return CodeSent(channel, ttl, settings().OTP_RESEND_SECONDS, destination.hint)


def verify_code(flow: login.LoginFlow, code: str, client: ClientInfo) -> tokens.TokenPair:
    """Check ``code``; on success complete the sign-in and return the first token pair."""
    tried = codes.attempt(codes.Scope.sign_in(flow.id), code)
    if not tried.matched:
        _record_wrong_code(flow, tried, client)
    pair = flow.complete(AMR[tried.channel], client)
    contacts.mark_verified(flow.account, tried.channel, tried.destination)
    activity.record("sign_in", flow.account.id, client, method=tried.channel)
    return pair


def _record_wrong_code(flow: login.LoginFlow, tried: codes.Tried, client: ClientInfo) -> None:
    account = flow.account
    failures = db.session.execute(
        update(LoginTransaction)
        .where(LoginTransaction.id == flow.id)
        .values(otp_failures=LoginTransaction.otp_failures + 1)
        .returning(LoginTransaction.otp_failures)
    ).scalar_one()
    activity.record("code_failed", account.id, client)
    flow.record_second_factor_failure(client)
    if failures >= settings().OTP_MAX_FAILURES_PER_LOGIN:
        flow.end()  # too many wrong codes over several resends: this sign-in is over
    refusal = tried.refusal()
    if tried.attempts >= settings().OTP_MAX_ATTEMPTS:
        activity.record("code_locked", account.id, client)
        notices.tell_holder(account, mail_templates.second_factor_failed(utcnow()))
    raise refusal
