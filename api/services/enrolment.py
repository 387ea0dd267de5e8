"""Binding a phone's biometrics to an account: the WebAuthn registration ceremony.

Only a fully signed-in and fresh session may start it (never the password-step token),
so a stolen password alone can never add a device.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.exc import IntegrityError
from webauthn.helpers.structs import CredentialDeviceType

from ..clock import utcnow
from ..errors import (
    AlreadyRegistered,
    ValidationError,
    WebAuthnRegistrationFailed,
)
from ..extensions import db
from ..infra import mail_templates
from ..infra.client import ClientInfo
from ..models import Authenticator
from ..webauthn import ceremonies, challenges, credentials
from . import activity, notices, sessions
from .tokens import Principal

PURPOSE = "registration"


def _text(value: object) -> str:
    """py_webauthn gives str-valued enums, or plain strings: store the string."""
    return str(getattr(value, "value", value))


def begin_enrolment(principal: Principal) -> dict[str, Any]:
    """Return PublicKeyCredentialCreationOptionsJSON for a new platform authenticator."""
    sessions.require_fresh(principal.session)
    account = principal.account
    options, challenge = ceremonies.begin_registration(
        user_handle=account.webauthn_user_handle,
        # What a passkey manager shows: the masked NIR, never the NIR itself.
        user_name=f"Caf {account.nir_masked}",
        display_name="Mon Compte Caf",
        exclude=credentials.descriptors(credentials.of_account(account.id)),
    )
    challenges.store(
        challenge, purpose=PURPOSE, account_id=account.id, session_id=principal.session.id
    )
    return options


def finish_enrolment(
    principal: Principal, payload: dict[str, Any], name: str, client: ClientInfo
) -> Authenticator:
    """Verify the new credential, store it, and tell the account holder by email."""
    # Again here: the sign-in may have grown stale while the person held the phone.
    sessions.require_fresh(principal.session)
    account = principal.account
    try:
        parsed = ceremonies.parse_registration(payload)
    except ceremonies.MalformedCredential:
        raise ValidationError(
            errors={"credential": ["La réponse de l'appareil est illisible."]}
        ) from None
    challenge = challenges.find_open(
        parsed.challenge, purpose=PURPOSE, account_id=account.id, session_id=principal.session.id
    )
    if challenge is None:
        raise WebAuthnRegistrationFailed(
            "Cette demande a expiré. Recommencez l'activation de la connexion biométrique."
        )
    try:
        verified = ceremonies.finish_registration(parsed, challenge=parsed.challenge)
    except ceremonies.CeremonyFailed as exc:
        current_app.logger.info("registration refused", extra={"reason": str(exc)[:120]})
        raise WebAuthnRegistrationFailed() from None
    if credentials.by_credential_id(verified.credential_id) is not None:
        raise AlreadyRegistered()
    if not challenges.consume(challenge):
        raise WebAuthnRegistrationFailed()

    now = utcnow()
    authenticator = Authenticator(
        account_id=account.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=parsed.transports,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backup_state=verified.credential_backed_up,
        device_type=_text(verified.credential_device_type),
        attestation_format=_text(verified.fmt),
        discoverable=parsed.discoverable,
        name=name,
        created_at=now,
    )
    db.session.add(authenticator)
    try:
        db.session.flush()
    except IntegrityError:
        # Two accounts racing to register one credential id: the unique index decides
        # (the request's unit of work is rolled back with this error).
        raise AlreadyRegistered() from None
    activity.record("authenticator_added", account.id, client, name=name)
    notices.tell_holder(account, mail_templates.authenticator_added(name, now))
    return authenticator
