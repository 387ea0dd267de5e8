"""The four WebAuthn verbs, configured for this relying party.

Everything cryptographic is py_webauthn's; this module supplies the relying-party
settings (RP ID, exact origins, algorithms), the policy (platform authenticator, user
verification required) and one refusal type, :class:`CeremonyFailed`.
"""

from __future__ import annotations

import io
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

import cbor2
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import (
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticationCredential,
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    ClientDataType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from ..config import settings

CHALLENGE_BYTES = 32
CEREMONY_TIMEOUT_MS = 120_000
# ES256 first: every platform authenticator supports it. Then EdDSA and RS256.
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]


class MalformedCredential(ValueError):
    """The client's response is not a well-formed WebAuthn credential (a 400)."""


class CeremonyFailed(Exception):
    """The response is well formed but does not prove what it must (a refusal)."""


@dataclass(frozen=True)
class StoredDescriptor:
    credential_id: bytes
    transports: list[str]


@dataclass(frozen=True)
class ParsedRegistration:
    credential: RegistrationCredential
    challenge: bytes
    transports: list[str]
    # The client's credProps answer: a discoverable credential or not; None when unsaid.
    discoverable: bool | None


@dataclass(frozen=True)
class ParsedAssertion:
    credential: AuthenticationCredential
    challenge: bytes
    user_handle: bytes | None


def _rp() -> tuple[str, str, list[str]]:
    config = settings()
    return config.WEBAUTHN_RP_ID, config.WEBAUTHN_RP_NAME, list(config.WEBAUTHN_ORIGINS)


def _descriptors(stored: list[StoredDescriptor]) -> list[PublicKeyCredentialDescriptor]:
    descriptors = []
    for item in stored:
        transports = [
            AuthenticatorTransport(t)
            for t in item.transports
            if t in AuthenticatorTransport._value2member_map_
        ]
        descriptors.append(
            PublicKeyCredentialDescriptor(id=item.credential_id, transports=transports or None)
        )
    return descriptors


def begin_registration(
    *, user_handle: bytes, user_name: str, display_name: str, exclude: list[StoredDescriptor]
) -> tuple[dict[str, Any], bytes]:
    """Return creation options (JSON form) and their challenge."""
    rp_id, rp_name, _ = _rp()
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        attestation=AttestationConveyancePreference(settings().WEBAUTHN_ATTESTATION),
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment.PLATFORM,
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=_descriptors(exclude),
        supported_pub_key_algs=ALGORITHMS,
    )
    options_json = json.loads(options_to_json(options))
    # Ask the client to say whether it made a discoverable credential (WebAuthn L3 §10.1.3):
    # only those can sign in alone, without the password step.
    options_json["extensions"] = {"credProps": True}
    return options_json, challenge


# base64url without padding, as WebAuthn's JSON forms use (padding tolerated). Checked
# before decoding: Python's decoder silently skips characters outside the alphabet, so
# "abc!" and "abc" would otherwise be the same credential. Matched with fullmatch: "$"
# alone would let a final newline through.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _require_base64url(payload: object, response_fields: tuple[str, ...]) -> None:
    if not isinstance(payload, dict) or not isinstance(payload.get("response"), dict):
        raise MalformedCredential("not a credential object")
    values = [payload.get("id"), payload.get("rawId")]
    values += [payload["response"].get(name) for name in response_fields]
    for value in values:
        if isinstance(value, str) and not _BASE64URL.fullmatch(value):
            raise MalformedCredential("not base64url")


def _require_single_cbor_item(data: bytes) -> None:
    """Refuse bytes after the attestation object: a CBOR decoder would ignore them."""
    stream = io.BytesIO(data)
    cbor2.CBORDecoder(stream).decode()
    if stream.tell() != len(data):
        raise ValueError("trailing bytes after the attestation object")


def parse_registration(payload: object) -> ParsedRegistration:
    """Decode a RegistrationResponseJSON far enough to find its challenge."""
    _require_base64url(payload, ("clientDataJSON", "attestationObject"))
    try:
        credential = parse_registration_credential_json(payload)  # type: ignore[arg-type]
        client_data = parse_client_data_json(credential.response.client_data_json)
        _require_single_cbor_item(credential.response.attestation_object)
    except Exception as exc:  # py_webauthn raises many types on malformed input
        raise MalformedCredential(type(exc).__name__) from exc
    transports = [t.value for t in (credential.response.transports or [])]
    return ParsedRegistration(credential, client_data.challenge, transports, _resident_key(payload))


def _resident_key(payload: dict[str, Any]) -> bool | None:
    """Read ``clientExtensionResults.credProps.rk``: absent means "unknown", not "no"."""
    results = payload.get("clientExtensionResults")
    props = results.get("credProps") if isinstance(results, dict) else None
    if props is None:
        return None
    if not isinstance(props, dict) or not isinstance(props.get("rk", False), bool):
        raise MalformedCredential("credProps is not {rk: boolean}")
    return props.get("rk")


def _require_top_level_context(client_data_json: bytes) -> None:
    """Refuse a ceremony that ran in a frame of another site (WebAuthn L3 §7.1 step 10, §7.2).

    The app and the « Mon Compte » page never run inside another site's frame (the page
    itself refuses framing), so ``crossOrigin`` must be absent or false and ``topOrigin``
    absent. py_webauthn reads ``crossOrigin`` loosely (``bool("false")`` is true) and
    ignores ``topOrigin``, hence this check on the raw clientDataJSON.
    """
    client_data = json.loads(client_data_json)
    if client_data.get("crossOrigin", False) is not False:
        raise CeremonyFailed("crossOrigin: the ceremony ran in a cross-origin frame")
    if "topOrigin" in client_data:
        raise CeremonyFailed("topOrigin: the ceremony ran in a frame")


def finish_registration(parsed: ParsedRegistration, *, challenge: bytes) -> VerifiedRegistration:
    """Verify a registration: type, challenge, origin, no framing, RP ID, UP, UV, algorithm."""
    rp_id, _, origins = _rp()
    _require_top_level_context(parsed.credential.response.client_data_json)
    try:
        return verify_registration_response(
            credential=parsed.credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            require_user_presence=True,
            require_user_verification=True,
            supported_pub_key_algs=ALGORITHMS,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise CeremonyFailed(str(exc)) from exc


def begin_authentication(*, allow: list[StoredDescriptor]) -> tuple[dict[str, Any], bytes]:
    """Return request options (JSON form) for these credentials, and their challenge."""
    rp_id, _, _ = _rp()
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=_descriptors(allow),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return json.loads(options_to_json(options)), challenge


def parse_assertion(payload: object) -> ParsedAssertion:
    """Decode an AuthenticationResponseJSON: base64url, clientDataJSON and authenticatorData."""
    _require_base64url(payload, ("clientDataJSON", "authenticatorData", "signature", "userHandle"))
    try:
        credential = parse_authentication_credential_json(payload)  # type: ignore[arg-type]
        client_data = parse_client_data_json(credential.response.client_data_json)
        parse_authenticator_data(credential.response.authenticator_data)
    except Exception as exc:  # py_webauthn raises many types on malformed input
        raise MalformedCredential(type(exc).__name__) from exc
    if client_data.type != ClientDataType.WEBAUTHN_GET:
        raise MalformedCredential("clientDataJSON type is not webauthn.get")
    return ParsedAssertion(credential, client_data.challenge, credential.response.user_handle)


def finish_authentication(
    parsed: ParsedAssertion, *, challenge: bytes, public_key: bytes
) -> VerifiedAuthentication:
    """Verify an assertion: type, challenge, origin, no framing, RP ID, UP, UV, signature.

    The sign counter is left to the caller (``credential_current_sign_count=0`` turns
    py_webauthn's check off): a regression must be told apart from other failures, and
    acted on only once the signature is known to be genuine.
    """
    rp_id, _, origins = _rp()
    _require_top_level_context(parsed.credential.response.client_data_json)
    try:
        return verify_authentication_response(
            credential=parsed.credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origins,
            credential_public_key=public_key,
            credential_current_sign_count=0,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise CeremonyFailed(str(exc)) from exc


def counter_regressed(stored: int, received: int) -> bool:
    """Apply WebAuthn §7.2 step 21: both zero is fine (synced passkeys), else it must grow."""
    return (stored > 0 or received > 0) and received <= stored
