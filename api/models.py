"""Persistence: typed SQLAlchemy 2.x models.

All state that matters for security lives here, never in process memory, so any
number of workers and nodes behave as one. Secrets (codes, tokens, challenges) are
stored only as keyed hashes; the NIR only as a keyed hash plus a masked form.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, types
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


class UTCDateTime(types.TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC: SQLite keeps no time zone."""

    impl = types.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def new_id() -> str:
    """Return an opaque random identifier (never derived from personal data)."""
    return uuid.uuid4().hex


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # HMAC-SHA256 of the NIR under a server key: lookups without storing the NIR itself.
    nir_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    nir_masked: Mapped[str] = mapped_column(String(32))
    # Where codes can go; any of them may be missing, never all three (see services.contacts).
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    phone: Mapped[str | None] = mapped_column(String(16))  # E.164, a French mobile
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A person the holder trusts to pass codes on: set only once that person received a
    # code and the holder typed it (both agreed), so it is verified whenever it is set.
    trusted_email: Mapped[str | None] = mapped_column(String(254))
    trusted_name: Mapped[str | None] = mapped_column(String(64))
    trusted_email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_hash: Mapped[str] = mapped_column(String(255))
    webauthn_user_handle: Mapped[bytes] = mapped_column(LargeBinary(64), unique=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    sessions: Mapped[list[AuthSession]] = relationship(back_populates="account")
    # Read-only view for « Gérer mon compte », oldest first; writes go through the rows.
    authenticators: Mapped[list[Authenticator]] = relationship(
        order_by="Authenticator.created_at", viewonly=True
    )


class Throttle(db.Model):
    """Consecutive failures of one kind for one subject (a NIR, a known device, an account).

    ``key`` is a keyed hash of the kind and the subject: unknown NIRs get rows too, and
    nothing in the table says which NIR or account a row is about.
    """

    __tablename__ = "throttles"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    lock_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LoginTransaction(db.Model):
    """The spine of a sign-in, from the password step to the second factor."""

    __tablename__ = "login_transactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Wrong codes over the whole transaction: a resend never resets this.
    otp_failures: Mapped[int] = mapped_column(default=0)
    # The known device the password step was judged by, when it presented a valid one.
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("known_devices.id", ondelete="SET NULL")
    )
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))

    account: Mapped[Account] = relationship()


class KnownDevice(db.Model):
    """An app install or a browser that completed a sign-in (OWASP's device cookie).

    Its ``device_token`` is not stored: it is the id with a MAC under a server key, so
    the same token can be handed back at every sign-in and a database copy yields none.
    Password failures presented with it count against this device only.
    """

    __tablename__ = "known_devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OneTimeCode(db.Model):
    """A 6-digit code sent on one channel, for a sign-in or for a new contact.

    A sign-in's code belongs to its login transaction; a new contact's code to the
    session that asked for it and carries the contact it will put in force.
    """

    __tablename__ = "one_time_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # None only for the code of a recovery asked for a NIR without an account (or without
    # that channel): it is made, stored and checked like any other, and sent nowhere.
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))  # "email" | "sms" | "trusted_email"
    code_hmac: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    transaction_id: Mapped[str | None] = mapped_column(
        ForeignKey("login_transactions.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    recovery_flow_id: Mapped[str | None] = mapped_column(
        ForeignKey("recovery_flows.id", ondelete="CASCADE"), index=True
    )
    contact_value: Mapped[str | None] = mapped_column(String(254))
    contact_name: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_one_time_codes_account_created", "account_id", "created_at"),)


class RecoveryFlow(db.Model):
    """A « Mot de passe oublié » between the request of a code and the new password.

    One is opened for every request, whether the NIR has an account with that channel or
    not (then ``account_id`` is None and its code goes nowhere): the answer and the work
    are the same. Its ``recovery_token`` is stored only as an HMAC; the NIR as its lookup
    digest, which the per-NIR throttle counts on.
    """

    __tablename__ = "recovery_flows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    nir_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    account_id: Mapped[str | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))  # "email" | "sms"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (Index("ix_recovery_flows_nir_created", "nir_hash", "created_at"),)


class CounterCode(db.Model):
    """A one-time recovery code an agent handed over at a counter, after checking identity.

    Stored only as an HMAC bound to the account; issuing a new one voids the previous.
    The agent's id and the reason stay for the audit trail.
    """

    __tablename__ = "counter_codes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    code_hmac: Mapped[bytes] = mapped_column(LargeBinary(32))
    agent_id: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuthSession(db.Model):
    """One completed sign-in; access and refresh tokens die with it."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    amr: Mapped[list[str]] = mapped_column(JSON)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    # The authenticator that opened it: removing (or blocking) that device ends the session.
    authenticator_id: Mapped[str | None] = mapped_column(
        ForeignKey("authenticators.id", ondelete="SET NULL"), index=True
    )
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    # The level of assurance an identity provider vouched for (FranceConnect+: eidas1-3).
    acr: Mapped[str | None] = mapped_column(String(16))

    account: Mapped[Account] = relationship(back_populates="sessions")


class RefreshToken(db.Model):
    """One link of a session's rotation chain; a spent link presented again is theft."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Tells the unit of work to insert the session first when both are new.
    session: Mapped[AuthSession] = relationship()


class OutboxMail(db.Model):
    """A message written in the same transaction as what caused it, delivered later."""

    __tablename__ = "outbox_mail"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    to: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # pending -> sending -> sent; failed after too many attempts; kept in outbox mode.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_outbox_mail_due", "status", "next_attempt_at"),
        Index("ix_outbox_mail_status_created", "status", "created_at"),
    )


class OutboxSms(db.Model):
    """A text message written in the same transaction as what caused it, delivered later."""

    __tablename__ = "outbox_sms"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    # E.164 with its "+": at most 15 digits.
    to: Mapped[str] = mapped_column(String(16), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # pending -> sending -> sent; failed when refused or after too many attempts; kept in
    # outbox mode.
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))
    # The provider's id of the message, to trace it in the provider's records.
    provider_message_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_outbox_sms_due", "status", "next_attempt_at"),
        Index("ix_outbox_sms_status_created", "status", "created_at"),
    )


class SecurityEvent(db.Model):
    """An audit record, shown to the account holder as their activity."""

    __tablename__ = "security_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_security_events_account_created", "account_id", "created_at"),
        Index("ix_security_events_created", "created_at"),
    )


class Authenticator(db.Model):
    """A WebAuthn credential (a phone's biometrics) bound to an account."""

    __tablename__ = "authenticators"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Unique across all accounts: one credential can never serve two people.
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(default=0)
    aaguid: Mapped[str] = mapped_column(String(36))
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    backup_eligible: Mapped[bool] = mapped_column(default=False)
    backup_state: Mapped[bool] = mapped_column(default=False)
    device_type: Mapped[str] = mapped_column(String(16))
    attestation_format: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when the credential looks cloned (sign counter went back): never usable again.
    flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Whether it is a discoverable credential (a passkey that signs in alone): the client's
    # credProps answer at enrolment, or proven by a passkey sign-in; None when never said.
    discoverable: Mapped[bool | None] = mapped_column()


class PasskeyFlow(db.Model):
    """A passkey sign-in between its options and its assertion: no account is known yet.

    Its ``passkey_token`` is stored only as an HMAC; the challenge it was issued with is a
    :class:`WebAuthnChallenge` bound to it. Completing it is a one-time conditional UPDATE.
    """

    __tablename__ = "passkey_flows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The known device the client presented (its token's MAC was valid); whose it is, is
    # only checked once the assertion names the account.
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("known_devices.id", ondelete="SET NULL")
    )
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))


class WebAuthnChallenge(db.Model):
    """A ceremony challenge: stored hashed, single use, short-lived, bound to its context."""

    __tablename__ = "webauthn_challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    challenge_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # "registration" | "authentication" (second step) | "passkey" (sign-in alone)
    purpose: Mapped[str] = mapped_column(String(16))
    # None for a passkey sign-in: whose credential answers is what the ceremony finds out.
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # Exactly one context: the fresh session that enrols, the login transaction of the
    # second step, or the passkey flow.
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    transaction_id: Mapped[str | None] = mapped_column(
        ForeignKey("login_transactions.id", ondelete="CASCADE"), index=True
    )
    passkey_flow_id: Mapped[str | None] = mapped_column(
        ForeignKey("passkey_flows.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FranceConnectLink(db.Model):
    """The FranceConnect identity an account holder linked to their account.

    Only what recognises that identity is kept: the provider's subject and a digest of the
    pivot identity (to notice when it changes), both as keyed hashes. Never the names, the
    birth date or any other claim.
    """

    __tablename__ = "franceconnect_links"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    # One FranceConnect identity for one account, whichever way round.
    sub_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    pivot_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FranceConnectAttempt(db.Model):
    """One FranceConnect+ sign-in, from « S'identifier avec FranceConnect » to its outcome.

    What a verified callback learned waits here for the app's hand-off, then for a link:
    the given and family names (shown once, when linking) and the id_token (sealed, moved
    to the session it opens) are erased as soon as they have served, and the whole row
    goes with the purge once ``expires_at`` has passed.
    """

    __tablename__ = "franceconnect_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    nonce_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    return_to: Mapped[str] = mapped_column(String(512))
    # The app's PKCE challenge (S256): only the holder of its verifier gets the result.
    code_challenge: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    sub_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    pivot_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    acr: Mapped[str | None] = mapped_column(String(16))
    given_name: Mapped[str | None] = mapped_column(String(256))
    family_name: Mapped[str | None] = mapped_column(String(256))
    id_token: Mapped[bytes | None] = mapped_column(LargeBinary)


class FranceConnectSecret(db.Model):
    """A one-time secret of an attempt: its ``state``, its hand-off, its link token."""

    __tablename__ = "franceconnect_secrets"

    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    attempt_id: Mapped[str] = mapped_column(
        ForeignKey("franceconnect_attempts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))  # "state" | "handoff" | "link"
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FranceConnectSession(db.Model):
    """What signing out of a session opened with FranceConnect+ needs, while it lives.

    The provider's sign-out wants the id_token as ``id_token_hint``. It is kept sealed
    (AES-GCM under a key derived from ``SECRET_KEY``) and goes at sign-out or with its
    session.
    """

    __tablename__ = "franceconnect_sessions"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    id_token: Mapped[bytes] = mapped_column(LargeBinary)
    post_logout_redirect_uri: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Mediator(db.Model):
    """A mediator (« aidant numérique »): France Services, a social worker.

    Created by an operator, never by sign-up. Signs in with their own password and a TOTP
    code (RFC 6238); acts for a holder only under a mandate the holder granted. The TOTP
    secret must be readable to check a code, so it is stored encrypted (AES-GCM under a
    key derived from ``SECRET_KEY``), bound to this row.
    """

    __tablename__ = "mediators"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower case
    name: Mapped[str] = mapped_column(String(120))
    organisation: Mapped[str] = mapped_column(String(160))
    # The public code a holder types to grant a mandate: 8 unambiguous characters.
    code: Mapped[str] = mapped_column(String(8), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # The operator's initial password must be replaced before anything else.
    must_change_password: Mapped[bool] = mapped_column(default=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    totp_secret: Mapped[bytes] = mapped_column(LargeBinary(128))
    # The time step of the last accepted TOTP code: a code is accepted once (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MediatorSession(db.Model):
    """A mediator's own sign-in; their refresh tokens and delegated sessions die with it."""

    __tablename__ = "mediator_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    mediator_id: Mapped[str] = mapped_column(
        ForeignKey("mediators.id", ondelete="CASCADE"), index=True
    )
    amr: Mapped[list[str]] = mapped_column(JSON)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))


class MediatorRefreshToken(db.Model):
    """One link of a mediator session's rotation chain (as :class:`RefreshToken`)."""

    __tablename__ = "mediator_refresh_tokens"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("mediator_sessions.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Orders the flush: a new session's row is written before its first refresh token.
    session: Mapped[MediatorSession] = relationship()


class Mandate(db.Model):
    """A holder's consent: this mediator may act for them, within these scopes, until then."""

    __tablename__ = "mandates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    mediator_id: Mapped[str] = mapped_column(
        ForeignKey("mediators.id", ondelete="CASCADE"), index=True
    )
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # "holder", "replaced" (a newer mandate to the same mediator), "mediator_disabled".
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    account: Mapped[Account] = relationship()
    mediator: Mapped[Mediator] = relationship()


class DelegatedSession(db.Model):
    """A mediator acting for a holder under a mandate: at most one hour, no refresh.

    Every request with its token checks this row, its mandate, its mediator and the
    mediator's own session: revoking the mandate, disabling the mediator or their
    signing out ends it at once.
    """

    __tablename__ = "delegated_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    mandate_id: Mapped[str] = mapped_column(
        ForeignKey("mandates.id", ondelete="CASCADE"), index=True
    )
    mediator_session_id: Mapped[str] = mapped_column(
        ForeignKey("mediator_sessions.id", ondelete="CASCADE"), index=True
    )
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
