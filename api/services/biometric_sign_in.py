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
from ..infra import mail_templates
from ..infra.client import ClientInfo
from ..models import Authenticator
from ..webauthn import ceremonies, challenges, credentials
from . import activity, login, notices, sessions, tokens

PURPOSE = "authentication"
AMR = ["pwd", "hwk", "user"]


def begin(flow: login.LoginFlow) -> dict[str, Any]:
    """Return PublicKeyCredentialRequestOptionsJSON listing this account's devices."""
    usable = credentials.usable_of_account(flow.account.id)
    if not usable:
        raise NoAuthenticator()
    options, challenge = ceremonies.begin_authentication(allow=credentials.descriptors(usable))
    challenges.store(
        challenge,
        purpose=PURPOSE,
        account_id=flow.account.id,
        transaction_id=flow.id,
    )
    return options


def finish(flow: login.LoginFlow, payload: dict[str, Any], client: ClientInfo) -> tokens.TokenPair:
    """Verify the assertion and complete the sign-in."""
    try:
        parsed = ceremonies.parse_assertion(payload)
    except ceremonies.MalformedCredential:
        raise ValidationError(
            errors={"credential": ["La réponse de l'appareil est illisible."]}
        ) from None
    account = flow.account
    challenge = challenges.find_open(
        parsed.challenge, purpose=PURPOSE, account_id=account.id, transaction_id=flow.id
    )
    authenticator = credentials.by_credential_id(parsed.credential.raw_id)
    if (
        challenge is None
        or authenticator is None
        or authenticator.account_id != account.id
        or authenticator.flagged_at is not None
        or (parsed.user_handle is not None and parsed.user_handle != account.webauthn_user_handle)
    ):
        _refuse(flow, client, "context")
    try:
        verified = ceremonies.finish_authentication(
            parsed, challenge=parsed.challenge, public_key=authenticator.public_key
        )
    except ceremonies.CeremonyFailed as exc:
        _refuse(flow, client, str(exc))
    backup_eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    if backup_eligible != authenticator.backup_eligible:
        _refuse(flow, client, "backup eligibility changed")

    if not challenges.consume(challenge):
        _refuse(flow, client, "challenge already used")
    # Re-read the row under a lock (populate_existing: not the copy read before the checks).
    locked = db.session.execute(
        select(Authenticator)
        .where(Authenticator.id == authenticator.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if locked is None:  # removed while the ceremony ran
        _refuse(flow, client, "credential removed")
    if locked.flagged_at is not None:  # blocked as cloned by a sign-in that ran meanwhile
        _refuse(flow, client, "credential blocked")
    if ceremonies.counter_regressed(locked.sign_count, verified.new_sign_count):
        _flag_as_cloned(flow, locked, client)

    now = utcnow()
    locked.sign_count = verified.new_sign_count
    locked.backup_state = verified.credential_backed_up
    locked.last_used_at = now
    pair = flow.complete(AMR, client, authenticator_id=locked.id)
    activity.record("sign_in", account.id, client, method="webauthn")
    return pair


def _refuse(flow: login.LoginFlow, client: ClientInfo, reason: str) -> None:
    current_app.logger.info("assertion refused", extra={"reason": reason[:120]})
    activity.record("webauthn_failed", flow.account.id, client)
    flow.record_second_factor_failure(client)
    raise WebAuthnFailed()


def _flag_as_cloned(
    flow: login.LoginFlow, authenticator: Authenticator, client: ClientInfo
) -> None:
    """The counter went back: two copies of this key exist. Block it and tell the holder."""
    account = flow.account
    now = utcnow()
    authenticator.flagged_at = now
    sessions.revoke_opened_with(authenticator.id, reason="authenticator_blocked")
    activity.record("counter_regression", account.id, client, name=authenticator.name)
    notices.tell_holder(account, mail_templates.counter_regression(authenticator.name, now))
    flow.record_second_factor_failure(client)
    raise WebAuthnFailed()
