"""Checking a WebAuthn assertion against a stored credential: one path for every sign-in.

The biometric second step (after the password) and passkey sign-in (the phone alone) both
run :func:`verify`. Every check happens before any state changes. Then, in the request's
transaction: the challenge is spent (of two identical submissions exactly one gets past
this), the credential row is locked and read again, the counter is checked against it,
and the credential is updated. A counter that went back blocks the credential, ends the
sessions it opened, and tells the holder.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import current_app
from sqlalchemy import select
from webauthn.helpers.structs import CredentialDeviceType

from ..clock import utcnow
from ..errors import ValidationError, WebAuthnFailed
from ..extensions import db
from ..infra import mail_templates
from ..infra.client import ClientInfo
from ..infra.keys import same
from ..models import Account, Authenticator, WebAuthnChallenge
from ..webauthn import ceremonies, challenges, credentials
from . import activity, login, notices, sessions


class Refused(Exception):
    """The assertion proves nothing. The reason is for the log only, never the client."""

    def __init__(self, reason: str, *, cloned: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # Already recorded and told (a counter regression): not a plain failure.
        self.cloned = cloned


def parse(payload: dict[str, Any]) -> ceremonies.ParsedAssertion:
    """Decode an AuthenticationResponseJSON; malformed input is a 400, never a refusal."""
    try:
        return ceremonies.parse_assertion(payload)
    except ceremonies.MalformedCredential:
        raise ValidationError(
            errors={"credential": ["La réponse de l'appareil est illisible."]}
        ) from None


def verify(
    parsed: ceremonies.ParsedAssertion,
    *,
    challenge: WebAuthnChallenge | None,
    account: Account,
    client: ClientInfo,
    require_user_handle: bool = False,
) -> Authenticator:
    """Prove the assertion comes from a live credential of ``account``; return it, updated.

    ``challenge`` is the open challenge of this ceremony's own context (None when there is
    none). The user handle must match the account when present, and be present when
    ``require_user_handle`` (a passkey sign-in finds the account by it). Raises
    :class:`Refused`: nothing has changed then, but the challenge when the refusal came
    after it was spent (a credential removed or blocked meanwhile, a counter regression,
    which also blocks the credential).
    """
    authenticator = credentials.by_credential_id(parsed.credential.raw_id)
    if (
        challenge is None
        or authenticator is None
        or authenticator.account_id != account.id
        or authenticator.flagged_at is not None
        or not _user_handle_matches(parsed.user_handle, account, required=require_user_handle)
    ):
        raise Refused("context")
    try:
        verified = ceremonies.finish_authentication(
            parsed, challenge=parsed.challenge, public_key=authenticator.public_key
        )
    except ceremonies.CeremonyFailed as exc:
        raise Refused(str(exc)) from None
    backup_eligible = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    if backup_eligible != authenticator.backup_eligible:
        raise Refused("backup eligibility changed")

    if not challenges.consume(challenge):
        raise Refused("challenge already used")
    # Re-read the row under a lock (populate_existing: not the copy read before the checks).
    locked = db.session.execute(
        select(Authenticator)
        .where(Authenticator.id == authenticator.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if locked is None:  # removed while the ceremony ran
        raise Refused("credential removed")
    if locked.flagged_at is not None:  # blocked as cloned by a sign-in that ran meanwhile
        raise Refused("credential blocked")
    if ceremonies.counter_regressed(locked.sign_count, verified.new_sign_count):
        _block_as_cloned(account, locked, client)
        raise Refused("counter regression", cloned=True)

    locked.sign_count = verified.new_sign_count
    locked.backup_state = verified.credential_backed_up
    locked.last_used_at = utcnow()
    return locked


def refuse(
    refusal: Refused,
    account: Account | None = None,
    client: ClientInfo | None = None,
    *,
    error: type[WebAuthnFailed] = WebAuthnFailed,
) -> NoReturn:
    """Record a refused assertion against ``account`` (when one is known) and raise ``error``.

    Every refusal of a ceremony answers the same ``401 webauthn_failed``: which check
    failed is written to the log, never told to the client.
    """
    current_app.logger.info("assertion refused", extra={"reason": refusal.reason[:120]})
    if account is not None:
        client = client or ClientInfo()
        if not refusal.cloned:  # a clone has its own, more telling, activity entry
            activity.record("webauthn_failed", account.id, client)
        login.record_second_factor_failure(account, client)
    raise error()


def _user_handle_matches(handle: bytes | None, account: Account, *, required: bool) -> bool:
    if handle is None:
        return not required
    return same(handle, account.webauthn_user_handle)


def _block_as_cloned(account: Account, authenticator: Authenticator, client: ClientInfo) -> None:
    """The counter went back: two copies of this key exist. Block it and tell the holder."""
    now = utcnow()
    authenticator.flagged_at = now
    sessions.revoke_opened_with(authenticator.id, reason="authenticator_blocked")
    activity.record("counter_regression", account.id, client, name=authenticator.name)
    notices.tell_holder(account, mail_templates.counter_regression(authenticator.name, now))
