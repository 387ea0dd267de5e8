"""Request and response shapes (marshmallow). No database access here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    pre_dump,
    validate,
)

from .clock import isoformat, utcnow
from .infra.passwords import MAX_LENGTH
from .nir import parse_nir
from .services.activity import describe as describe_event
from .services.mandates import DURATIONS_DAYS as MANDATE_DURATIONS
from .services.mandates import SCOPES as MANDATE_SCOPES
from .services.mediators import CODE_PATTERN as MEDIATOR_CODE_PATTERN
from .services.mediators import TYPED_CODE_PATTERN as TYPED_MEDIATOR_CODE_PATTERN
from .services.mediators import normalise_code as normalise_mediator_code

_FR = {
    "required": "Ce champ est obligatoire.",
    "null": "Ce champ ne peut pas être vide.",
    "invalid": "Valeur invalide.",
}


def _str(**kwargs) -> fields.String:
    return fields.String(error_messages=_FR, **kwargs)


class Strict(Schema):
    """Refuse unknown fields: a typo in a client should fail loudly, not be ignored."""

    class Meta:
        unknown = RAISE

    error_messages = {  # noqa: RUF012 (marshmallow reads this class attribute)
        "unknown": "Champ inconnu.",
        "type": "Un objet JSON est attendu.",
    }


class Iso(fields.Field):
    def _serialize(self, value, attr, obj, **kwargs):
        return isoformat(value)


# --- requests -------------------------------------------------------------------------

NIR_MESSAGE = (
    "Le numéro de sécurité sociale doit comporter 13 caractères : des chiffres "
    "(2A ou 2B possibles pour la Corse)."
)


NIR_PATTERN = r"^[0-9]{5}([0-9]{2}|2[ABab])[0-9]{6}$"


class Nir(fields.String):
    """A NIR, loaded in canonical form; one message for every malformed value."""

    def _deserialize(self, value, attr, data, **kwargs):
        canonical = parse_nir(value)
        if canonical is None:
            raise ValidationError(NIR_MESSAGE)
        return canonical


def _device_token() -> fields.String:
    return _str(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=128),
        metadata={"description": "The device_token this app or browser got at its last sign-in."},
    )


class LoginRequest(Strict):
    nir = Nir(
        required=True,
        error_messages={**_FR, "null": NIR_MESSAGE, "invalid": NIR_MESSAGE},
        metadata={
            "pattern": NIR_PATTERN,
            "example": "1850575123456",
            "description": "The first 13 characters of the NIR (2A/2B for Corsica).",
        },
    )
    password = _str(
        required=True,
        validate=validate.Length(
            min=1, max=MAX_LENGTH, error="Le mot de passe doit comporter entre 1 et 256 caractères."
        ),
    )
    device_token = _device_token()


class WholeMatch(validate.Regexp):
    """Like ``validate.Regexp``, but the whole value must match.

    ``Regexp`` uses ``re.match``, where ``$`` also matches before a final newline, so
    ``"123456\n"`` would pass ``^[0-9]{6}$``. The pattern is kept as written for the
    OpenAPI description (ECMAScript's ``$`` has no such exception).
    """

    def __call__(self, value):
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


class VerifyCodeRequest(Strict):
    code = _str(
        required=True,
        validate=WholeMatch(r"^[0-9]{6}$", error="Le code doit comporter 6 chiffres."),
    )


CHANNELS = ["email", "sms", "trusted_email"]


class SendCodeRequest(Strict):
    channel = _str(
        load_default=None,
        validate=validate.OneOf(CHANNELS, error="Choisissez email, sms ou trusted_email."),
        metadata={
            "enum": CHANNELS,
            "description": "Where the code goes; default: email if the account has one, "
            "else sms, else trusted_email.",
        },
    )


class ChangePasswordRequest(Strict):
    current_password = _str(
        load_default=None,
        validate=validate.Length(max=MAX_LENGTH),
        metadata={
            "description": "Required, except within REAUTH_MAX_AGE_SECONDS of a FranceConnect+ "
            "sign-in (the recovery of someone who lost their password)."
        },
    )
    new_password = _str(required=True)


def _nir_field() -> Nir:
    return Nir(
        required=True,
        error_messages={**_FR, "null": NIR_MESSAGE, "invalid": NIR_MESSAGE},
        metadata={"pattern": NIR_PATTERN, "example": "1850575123456"},
    )


RECOVERY_CHANNELS = ["email", "sms"]


class RecoveryRequest(Strict):
    nir = _nir_field()
    channel = _str(
        required=True,
        validate=validate.OneOf(RECOVERY_CHANNELS, error="Choisissez email ou sms."),
        metadata={"enum": RECOVERY_CHANNELS},
    )


class RecoveryStarted(Schema):
    recovery_token = fields.String(
        metadata={"description": "For POST /auth/recovery/verify only (Bearer)."}
    )
    expires_in = fields.Integer()
    resend_after = fields.Integer()


class RecoveryVerifyRequest(Strict):
    code = _str(
        required=True,
        validate=WholeMatch(r"^[0-9]{6}$", error="Le code doit comporter 6 chiffres."),
    )
    new_password = _str(required=True)


class CounterRecoveryRequest(Strict):
    nir = _nir_field()
    recovery_code = _str(
        required=True,
        validate=validate.Length(min=1, max=64, error="Le code comporte 12 caractères."),
        metadata={
            "example": "K7PM-Q2XD-9RTA",
            "description": "As printed by the agent; dashes, spaces and case do not matter.",
        },
    )
    new_password = _str(required=True)
    email = _str(
        load_default=None,
        allow_none=True,
        metadata={"description": "A new address: replaces the old one (verified by this code)."},
    )
    phone = _str(
        load_default=None,
        allow_none=True,
        metadata={"description": "A new French mobile: replaces the old one."},
    )


class MediatorChangePasswordRequest(Strict):
    """A mediator always proves their current password: no FranceConnect recovery here."""

    current_password = _str(required=True, validate=validate.Length(max=MAX_LENGTH))
    new_password = _str(required=True)


CODE_CHALLENGE_PATTERN = r"^[A-Za-z0-9_-]{43}$"
CODE_VERIFIER_PATTERN = r"^[A-Za-z0-9._~-]{43,128}$"


class FranceConnectStart(Strict):
    """The query of ``GET /auth/franceconnect/start``."""

    return_to = _str(
        required=True,
        validate=validate.Length(max=512),
        metadata={"description": "Where to come back: exactly one of FRANCECONNECT_RETURN_URLS."},
    )
    code_challenge = _str(
        required=True,
        validate=WholeMatch(
            CODE_CHALLENGE_PATTERN, error="Le code_challenge doit être un défi PKCE S256."
        ),
        metadata={
            "pattern": CODE_CHALLENGE_PATTERN,
            "description": "BASE64URL(SHA-256(code_verifier)), RFC 7636 S256.",
        },
    )
    code_challenge_method = _str(load_default="S256", validate=validate.OneOf(["S256"]))


class FranceConnectComplete(Strict):
    handoff = _str(required=True, validate=validate.Length(min=1, max=128))
    code_verifier = _str(
        required=True,
        validate=WholeMatch(
            CODE_VERIFIER_PATTERN, error="Le code_verifier doit comporter 43 à 128 caractères."
        ),
        metadata={"pattern": CODE_VERIFIER_PATTERN},
    )
    device_token = _str(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=128),
        metadata={"description": "The device_token this app or browser got at its last sign-in."},
    )


class FranceConnectLinkRequest(Strict):
    link_token = _str(required=True, validate=validate.Length(min=1, max=128))


# --- responses ------------------------------------------------------------------------


class DropNone(Schema):
    """Leave out the fields that have no value (a hint for a contact the account lacks)."""

    @post_dump
    def drop_none(self, data, **kwargs):
        return {key: value for key, value in data.items() if value is not None}


class LoginStarted(DropNone):
    mfa_token = fields.String()
    expires_in = fields.Integer()
    methods = fields.List(
        fields.String(
            validate=validate.OneOf(["email_otp", "sms_otp", "trusted_email_otp", "webauthn"])
        )
    )
    email_hint = fields.String(metadata={"example": "m•••@e•••.fr"})
    phone_hint = fields.String(metadata={"example": "06 •• •• •• 78"})
    trusted_email_hint = fields.String()


class CodeSent(DropNone):
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    expires_in = fields.Integer()
    resend_after = fields.Integer()
    destination_hint = fields.String()
    email_hint = fields.String(metadata={"description": "When the channel is email."})


class ContactCodeSent(Schema):
    expires_in = fields.Integer()
    resend_after = fields.Integer()
    destination_hint = fields.String()


class TokenPair(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    device_token = fields.String(
        metadata={"description": "After a sign-in: keep it and send it with the next login."}
    )

    @post_dump
    def drop_empty_device_token(self, data, **kwargs):
        if data.get("device_token") is None:
            data.pop("device_token", None)
        return data


class FranceConnectStatus(Schema):
    linked = fields.Boolean()
    linked_at = Iso()

    @post_dump
    def drop_empty_date(self, data, **kwargs):
        if data.get("linked_at") is None:
            data.pop("linked_at", None)
        return data


@dataclass(frozen=True)
class AccountPage:
    """An account, with its FranceConnect link status (None while FranceConnect is off)."""

    account: Any
    franceconnect: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.account, name)


class AccountView(Schema):
    """What the signed-in person sees of their account (dumped from an ``AccountPage``)."""

    id = fields.String()
    nir_masked = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "E.164"})
    created_at = Iso()
    password_changed_at = Iso()
    authenticators = fields.List(fields.Nested(lambda: AuthenticatorView()))
    franceconnect = fields.Nested(
        FranceConnectStatus,
        metadata={"description": "Present when the service is a FranceConnect+ relying party."},
    )

    @post_dump
    def drop_franceconnect_when_off(self, data, **kwargs):
        if data.get("franceconnect") is None:
            data.pop("franceconnect", None)
        return data


class FranceConnectLinked(Schema):
    linked_at = Iso()
    given_name = fields.String()
    family_name = fields.String()


class FranceConnectLogout(Schema):
    franceconnect_logout_url = fields.String(
        metadata={"description": "Open it to sign out at FranceConnect too."}
    )


class Jwks(Schema):
    keys = fields.List(fields.Dict())


class MenuItem(Schema):
    id = fields.String()
    label = fields.String()
    description = fields.String()
    href = fields.String()
    method = fields.String()


class Menu(Schema):
    items = fields.List(fields.Nested(MenuItem))


class SessionView(Schema):
    id = fields.String()
    created_at = Iso()
    last_seen_at = Iso()
    amr = fields.List(fields.String())
    user_agent = fields.String(allow_none=True)
    current = fields.Boolean()


@dataclass(frozen=True)
class SessionPage:
    """The account's open sessions, and which one is asking."""

    sessions: list[Any]
    current_id: str


@dataclass(frozen=True)
class _MarkedSession:
    session: Any
    current: bool

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


class SessionList(Schema):
    items = fields.List(fields.Nested(SessionView))

    @pre_dump
    def mark_current(self, page: SessionPage, **kwargs) -> dict[str, Any]:
        return {"items": [_MarkedSession(s, s.id == page.current_id) for s in page.sessions]}


class ActivityItem(Schema):
    """One security event (dumped from a ``SecurityEvent``), told in French."""

    id = fields.String(
        metadata={"description": "For « Ce n'était pas moi »: POST /account/activity/{id}/not-me"}
    )
    type = fields.String()
    at = Iso(attribute="created_at")
    detail = fields.Function(describe_event)


class ActivityList(Schema):
    items = fields.List(fields.Nested(ActivityItem))


class OutboxItem(Schema):
    to = fields.String()
    subject = fields.String()
    text = fields.String()
    created_at = Iso()


class OutboxList(Schema):
    items = fields.List(fields.Nested(OutboxItem))


class SmsOutboxItem(Schema):
    to = fields.String()
    text = fields.String()
    created_at = Iso()


class SmsOutboxList(Schema):
    items = fields.List(fields.Nested(SmsOutboxItem))


class Problem(Schema):
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    code = fields.String()
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    attempts_remaining = fields.Integer()
    retry_after = fields.Integer()
    reason = fields.String()
    link_token = fields.String()
    expires_in = fields.Integer()


# --- WebAuthn -------------------------------------------------------------------------


class CreationOptions(Schema):
    """PublicKeyCredentialCreationOptionsJSON (WebAuthn Level 3), base64url without padding."""

    rp = fields.Dict()
    user = fields.Dict()
    challenge = fields.String()
    pubKeyCredParams = fields.List(fields.Dict())
    timeout = fields.Integer()
    excludeCredentials = fields.List(fields.Dict())
    authenticatorSelection = fields.Dict()
    attestation = fields.String()
    hints = fields.List(fields.String())
    extensions = fields.Dict()


class RequestOptions(Schema):
    """PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3)."""

    challenge = fields.String()
    timeout = fields.Integer()
    rpId = fields.String()
    allowCredentials = fields.List(fields.Dict())
    userVerification = fields.String()
    hints = fields.List(fields.String())


class PasskeyOptionsRequest(Strict):
    device_token = _device_token()


class PasskeyStarted(Schema):
    """A passkey sign-in begun: its token and the request options for the phone."""

    passkey_token = fields.String(
        metadata={"description": "For POST /auth/passkey/verify only; single use, 5 minutes."}
    )
    expires_in = fields.Integer()
    options = fields.Nested(
        RequestOptions,
        metadata={"description": "allowCredentials is empty: the phone offers its passkeys."},
    )


DEVICE_NAME = validate.Length(min=1, max=64, error="Le nom doit comporter de 1 à 64 caractères.")


DEVICE_NAME_PATTERN = r"^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$"


class DeviceName(fields.String):
    """A device name a person typed: trimmed, printable, 1 to 64 characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
            raise ValidationError("Le nom contient des caractères non autorisés.")
        return text


BASE64URL = r"^[A-Za-z0-9_-]*$"


def _b64(**kwargs) -> fields.String:
    return fields.String(metadata={"pattern": BASE64URL, "format": "base64url"}, **kwargs)


class PassThrough(Schema):
    """Check the structure, keep every field: py_webauthn reads the rest."""

    class Meta:
        unknown = INCLUDE


class AttestationResponse(PassThrough):
    clientDataJSON = _b64(required=True)
    attestationObject = _b64(required=True)
    transports = fields.List(fields.String())


class AssertionResponse(PassThrough):
    clientDataJSON = _b64(required=True)
    authenticatorData = _b64(required=True)
    signature = _b64(required=True)
    userHandle = _b64(allow_none=True)


class RegistrationResponseJSON(PassThrough):
    """A RegistrationResponseJSON (WebAuthn Level 3), as ``credential.toJSON()`` gives it."""

    id = _b64(required=True)
    rawId = _b64(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["public-key"]))
    response = fields.Nested(AttestationResponse, required=True)
    authenticatorAttachment = fields.String(allow_none=True)
    clientExtensionResults = fields.Dict()


class AuthenticationResponseJSON(PassThrough):
    """An AuthenticationResponseJSON (WebAuthn Level 3), as ``credential.toJSON()`` gives it."""

    id = _b64(required=True)
    rawId = _b64(required=True)
    type = fields.String(required=True, validate=validate.OneOf(["public-key"]))
    response = fields.Nested(AssertionResponse, required=True)
    authenticatorAttachment = fields.String(allow_none=True)
    clientExtensionResults = fields.Dict()


class EnrolRequest(Strict):
    credential = fields.Nested(RegistrationResponseJSON, required=True, error_messages=_FR)
    name = DeviceName(
        load_default="Mon téléphone",
        validate=DEVICE_NAME,
        error_messages=_FR,
        metadata={"pattern": DEVICE_NAME_PATTERN, "maxLength": 64},
    )


class RenameRequest(Strict):
    name = DeviceName(
        required=True,
        validate=DEVICE_NAME,
        error_messages=_FR,
        metadata={"pattern": DEVICE_NAME_PATTERN, "maxLength": 64},
    )


class AuthenticatorView(Schema):
    """A device, dumped from an ``Authenticator``."""

    id = fields.String()
    name = fields.String()
    created_at = Iso()
    last_used_at = Iso()
    backed_up = fields.Boolean(attribute="backup_state")
    device_type = fields.String()
    blocked = fields.Function(lambda authenticator: authenticator.flagged_at is not None)
    discoverable = fields.Boolean(
        allow_none=True,
        metadata={
            "description": "true: this device signs in alone (passkey), without NIR or "
            "password; false: only as the second step after the password; null: the device "
            "never said (a passkey sign-in with it makes it true)."
        },
    )


class AuthenticatorList(Schema):
    items = fields.List(fields.Nested(AuthenticatorView))


# --- mediators and mandates ------------------------------------------------------------


MEDIATOR_CODE_TYPED_MAX = 32


class MediatorCode(fields.String):
    """A mediator's public code as a person types it: spaces, dashes and case forgiven."""

    def _deserialize(self, value, attr, data, **kwargs):
        typed = super()._deserialize(value, attr, data, **kwargs)
        code = normalise_mediator_code(typed) if len(typed) <= MEDIATOR_CODE_TYPED_MAX else ""
        if re.fullmatch(MEDIATOR_CODE_PATTERN, code) is None:
            raise ValidationError(
                "Le code d'aidant comporte 8 caractères (lettres et chiffres), "
                "par exemple K7QM 4TXA."
            )
        return code


def _each_once(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Chaque autorisation ne peut être choisie qu'une fois.")


class CreateMandateRequest(Strict):
    mediator_code = MediatorCode(
        required=True,
        error_messages=_FR,
        metadata={
            "description": "The mediator's public code (case, spaces and dashes are ignored).",
            "example": "K7QM4TXA",
            "pattern": TYPED_MEDIATOR_CODE_PATTERN,
            "maxLength": MEDIATOR_CODE_TYPED_MAX,
        },
    )
    scopes = fields.List(
        _str(validate=validate.OneOf(MANDATE_SCOPES, error="Autorisation inconnue.")),
        required=True,
        validate=[
            validate.Length(min=1, error="Choisissez au moins une autorisation."),
            _each_once,
        ],
        error_messages=_FR,
        metadata={"uniqueItems": True},
    )
    duration_days = fields.Integer(
        required=True,
        strict=True,
        validate=validate.OneOf(
            MANDATE_DURATIONS, error="Durée possible : 1, 31, 182 ou 365 jours."
        ),
        error_messages=_FR,
    )


class MediatorIdentity(Schema):
    name = fields.String()
    organisation = fields.String()


class MandateView(Schema):
    """A mandate as its holder sees it (dumped from a ``Mandate``)."""

    id = fields.String()
    mediator = fields.Nested(MediatorIdentity)
    scopes = fields.List(fields.String())
    created_at = Iso()
    expires_at = Iso()
    revoked_at = Iso()
    last_used_at = Iso(metadata={"description": "When a delegated session last opened."})
    in_force = fields.Function(
        lambda mandate: mandate.revoked_at is None and mandate.expires_at > utcnow()
    )


class MandateList(Schema):
    items = fields.List(fields.Nested(MandateView))


class MediatorLoginRequest(Strict):
    email = _str(required=True, validate=validate.Length(min=3, max=254))
    password = _str(
        required=True,
        validate=validate.Length(
            min=1, max=MAX_LENGTH, error="Le mot de passe doit comporter entre 1 et 256 caractères."
        ),
    )
    totp = _str(
        required=True,
        validate=WholeMatch(r"^[0-9]{6}$", error="Le code doit comporter 6 chiffres."),
        metadata={"description": "The 6-digit code of the authenticator app (RFC 6238)."},
    )


class MediatorSignedIn(TokenPair):
    password_change_required = fields.Boolean(
        metadata={"description": "True until PUT /mediator/password replaces the first one."}
    )


class MediatorProfile(Schema):
    """The signed-in mediator (dumped from a ``Mediator``)."""

    id = fields.String()
    email = fields.String()
    name = fields.String()
    organisation = fields.String()
    mediator_code = fields.String(attribute="code")
    password_change_required = fields.Boolean(attribute="must_change_password")


class MediatorMandate(Schema):
    """A mandate as its mediator sees it: the holder's NIR masked, nothing else."""

    id = fields.String()
    holder_nir_masked = fields.String(attribute="account.nir_masked")
    scopes = fields.List(fields.String())
    created_at = Iso()
    expires_at = Iso()


class MediatorMandateList(Schema):
    items = fields.List(fields.Nested(MediatorMandate))


class DelegatedToken(Schema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


# --- contacts -------------------------------------------------------------------------


class ContactRequest(Strict):
    value = _str(
        required=True,
        validate=validate.Length(min=1, max=254, error="Ce champ doit faire 1 à 254 caractères."),
        metadata={"description": "An email address, or a French mobile number (06 12 34 56 78)."},
    )
    name = DeviceName(
        load_default=None,
        validate=DEVICE_NAME,
        error_messages=_FR,
        metadata={
            "pattern": DEVICE_NAME_PATTERN,
            "maxLength": 64,
            "description": "The trusted person's name, as the holder calls them "
            "(trusted_email only, where it is required).",
        },
    )


class ContactView(Schema):
    value = fields.String()
    name = fields.String(metadata={"description": "The trusted person's name."})
    verified_at = Iso(metadata={"description": "When a code sent there was typed back."})

    @post_dump
    def drop_missing_name(self, data, **kwargs):
        if data.get("name") is None:
            data.pop("name", None)
        return data


class Contacts(Schema):
    email = fields.Nested(ContactView, allow_none=True)
    phone = fields.Nested(ContactView, allow_none=True)
    trusted_email = fields.Nested(ContactView, allow_none=True)
