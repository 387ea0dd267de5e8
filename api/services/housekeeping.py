"""Housekeeping: remove what has expired, keep activity for the configured period.

Run ``flask --app wsgi maintenance purge`` regularly (e.g. hourly). Every delete is a
bulk statement on an indexed column; child rows (codes, challenges, refresh tokens) go
with their parents through ON DELETE CASCADE.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, or_

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..models import (
    AuthSession,
    CounterCode,
    DelegatedSession,
    FranceConnectAttempt,
    LoginTransaction,
    Mandate,
    MediatorRefreshToken,
    MediatorSession,
    OneTimeCode,
    OutboxMail,
    OutboxSms,
    PasskeyFlow,
    RecoveryFlow,
    RefreshToken,
    SecurityEvent,
    Throttle,
    WebAuthnChallenge,
)

# Leave a margin after expiry, so nothing disappears while a request still uses it.
GRACE = timedelta(hours=1)


def purge() -> dict[str, int]:
    """Delete expired rows; return how many of each kind went."""
    config = settings()
    now = utcnow()
    cutoff = now - GRACE
    retention = now - timedelta(days=config.ACTIVITY_RETENTION_DAYS)
    statements = {
        "webauthn_challenges": delete(WebAuthnChallenge).where(
            WebAuthnChallenge.expires_at < cutoff
        ),
        "one_time_codes": delete(OneTimeCode).where(OneTimeCode.expires_at < cutoff),
        "login_transactions": delete(LoginTransaction).where(LoginTransaction.expires_at < cutoff),
        "passkey_flows": delete(PasskeyFlow).where(PasskeyFlow.expires_at < cutoff),
        # Kept an hour past expiry at least: the per-NIR hourly cap of recoveries counts them.
        "recovery_flows": delete(RecoveryFlow).where(RecoveryFlow.expires_at < cutoff),
        "counter_codes": delete(CounterCode).where(CounterCode.expires_at < cutoff),
        # With their secrets, and what a callback learned (names, a sealed id_token).
        "franceconnect_attempts": delete(FranceConnectAttempt).where(
            FranceConnectAttempt.expires_at < cutoff
        ),
        # Spent refresh tokens stay while their session lives: they reveal token theft.
        "refresh_tokens": delete(RefreshToken).where(RefreshToken.expires_at < cutoff),
        "sessions": delete(AuthSession).where(
            or_(AuthSession.expires_at < cutoff, AuthSession.revoked_at < cutoff)
        ),
        "delegated_sessions": delete(DelegatedSession).where(
            or_(DelegatedSession.expires_at < cutoff, DelegatedSession.revoked_at < cutoff)
        ),
        "mediator_refresh_tokens": delete(MediatorRefreshToken).where(
            MediatorRefreshToken.expires_at < cutoff
        ),
        "mediator_sessions": delete(MediatorSession).where(
            or_(MediatorSession.expires_at < cutoff, MediatorSession.revoked_at < cutoff)
        ),
        # An ended mandate stays in the holder's list as long as the activity that tells it.
        "mandates": delete(Mandate).where(
            or_(Mandate.expires_at < retention, Mandate.revoked_at < retention)
        ),
        # Sent mail keeps no body; parked mail keeps one (for `mail retry`) for this long only.
        "outbox_mail": delete(OutboxMail).where(
            OutboxMail.status.in_(("sent", "kept", "failed")),
            OutboxMail.created_at < now - timedelta(days=config.MAIL_KEEP_DAYS),
        ),
        # Likewise for text messages: a sent one kept no text, a parked one keeps its own.
        "outbox_sms": delete(OutboxSms).where(
            OutboxSms.status.in_(("sent", "kept", "failed")),
            OutboxSms.created_at < now - timedelta(days=config.MAIL_KEEP_DAYS),
        ),
        "throttles": delete(Throttle).where(
            Throttle.updated_at < now - timedelta(days=1),
            or_(Throttle.locked_until.is_(None), Throttle.locked_until < now),
        ),
        "security_events": delete(SecurityEvent).where(SecurityEvent.created_at < retention),
    }
    counts = {}
    for name, statement in statements.items():
        counts[name] = db.session.execute(
            statement.execution_options(synchronize_session=False)
        ).rowcount
    return counts
