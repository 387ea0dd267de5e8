"""The biometric second factor: a WebAuthn assertion in place of the emailed code.

Every check happens before any state changes. Then, in one transaction: the challenge
is spent (of two identical submissions exactly one gets past this), the counter is
checked against the locked row, and the credential, the login transaction and a new
session are updated together.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select
from webauthn.helpers.structs import CredentialDeviceType

from ..clock import utcnow
from ..errors import NoAuthenticator, ValidationError, WebAuthnFailed
from ..extensions import db
from ..models import Account, Authenticator, LoginTransaction
from ..webauthn import ceremonies, challenges, credentials
from . import activity, login, mail_templates, mailer, tokens
from .client import ClientInfo

PURPOSE = "authentication"
AMR = ["pwd", "hwk", "user"]


def begin(transaction: LoginTransaction) -> dict[str, Any]:
    """Return PublicKeyCredentialRequestOptionsJSON listing this account's devices."""
    usable = credentials.usable_of_account(transaction.account_id)
    if not usable:
        raise NoAuthenticator()
    options, challenge = ceremonies.begin_authentication(allow=credentials.descriptors(usable))
    challenges.store(
        challenge,
        purpose=PURPOSE,
        account_id=transaction.account_id,
        transaction_id=transaction.id,
    )
    db.session.commit()
    return options


def finish(
    transaction: LoginTransaction, payload: dict[str, Any], client: ClientInfo
) -> tokens.TokenPair:
    """Verify the assertion and complete the sign-in."""
    try:
        parsed = ceremonies.parse_assertion(payload)
    except ceremonies.MalformedCredential:
        raise ValidationError(
            errors={"credential": ["La réponse de l'appareil est illisible."]}
        ) from None
    account = db.session.get(Account, transaction.account_id)
    challenge = challenges.find_open(
        parsed.challenge, purpose=PURPOSE, account_id=account.id, transaction_id=transaction.id
    )
    authenticator = credentials.by_credential_id(parsed.credential.raw_id)
    if (
        challenge is None
        or authenticator is None
        or authenticator.account_id != account.id
        or authenticator.flagged_at is not None
        or (parsed.user_handle is not None and parsed.user_handle != account.webauthn_user_handle)
    ):
        _refuse(account, client, "context")
    try:
        verified = ceremonies.finish_authentication(
            parsed, challenge=parsed.challenge, public_key=authenticator.public_key
        )
    except ceremonies.CeremonyFailed as exc:
        _refuse(account, client, str(exc))
    backup_eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    if backup_eligible != authenticator.backup_eligible:
        _refuse(account, client, "backup eligibility changed")

    if not challenges.consume(challenge):
        db.session.rollback()
        _refuse(account, client, "challenge already used")
    # Re-read the row under a lock (populate_existing: not the copy read before the checks).
    locked = db.session.execute(
        select(Authenticator)
        .where(Authenticator.id == authenticator.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if locked is None:  # removed while the ceremony ran
        db.session.rollback()
        _refuse(account, client, "credential removed")
    if locked.flagged_at is not None:  # blocked as cloned by a sign-in that ran meanwhile
        db.session.rollback()
        _refuse(account, client, "credential blocked")
    if ceremonies.counter_regressed(locked.sign_count, verified.new_sign_count):
        _flag_as_cloned(account, locked, client)

    now = utcnow()
    locked.sign_count = verified.new_sign_count
    locked.backup_state = verified.credential_backed_up
    locked.last_used_at = now
    login.complete_transaction(transaction)
    pair = tokens.issue_for_new_session(account, AMR, client)
    activity.record("sign_in", account.id, client, method="webauthn")
    db.session.commit()
    return pair


def _refuse(account: Account, client: ClientInfo, reason: str) -> None:
    current_app.logger.info("assertion refused", extra={"reason": reason[:120]})
    db.session.rollback()
    activity.record("webauthn_failed", account.id, client)
    db.session.commit()
    raise WebAuthnFailed()


def _flag_as_cloned(account: Account, authenticator: Authenticator, client: ClientInfo) -> None:
    """The counter went back: two copies of this key exist. Block it and tell the holder."""
    now = utcnow()
    authenticator.flagged_at = now
    activity.record("counter_regression", account.id, client, name=authenticator.name)
    mailer.queue(account.email, mail_templates.counter_regression(authenticator.name, now))
    db.session.commit()
    raise WebAuthnFailed()
