"""A software WebAuthn platform authenticator, standing in for a phone's biometrics.

It makes real P-256 keys and real signatures, and speaks the WebAuthn Level 3 JSON
forms (``RegistrationResponseJSON``, ``AuthenticationResponseJSON``) that a browser's
``credential.toJSON()`` or Android Credential Manager hand to the app. Every part a
faulty or hostile phone could get wrong can be chosen per call (flags, counter,
origin, RP ID, signature), so each refusal path of the server can be exercised.

Like a phone's passkey provider it keeps discoverable ("resident") credentials: asked
with an empty ``allowCredentials`` it offers them, and every assertion carries the
``userHandle`` the credential was made for. Its state (keys, counters) saves to and
loads from JSON, so a "phone" survives between runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_BE = 0x08
FLAG_BS = 0x10
FLAG_AT = 0x40
ES256 = -7


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AuthenticatorError(Exception):
    """The authenticator cannot do what was asked (as a real one would refuse)."""


@dataclass
class Credential:
    """One key pair the authenticator holds for a relying party."""

    credential_id: bytes
    rp_id: str
    user_handle: bytes
    private_key: ec.EllipticCurvePrivateKey
    sign_count: int = 0
    backup_eligible: bool = False
    backup_state: bool = False
    # Kept on the phone with its user handle: offered when the site names no credential.
    discoverable: bool = True
    # The simulator's bookkeeping, not an authenticator's: the last counter the server
    # accepted. A clone presents no more than this (see the ``cloned`` fault).
    accepted_sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: ES256,  # alg
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))

    def to_dict(self) -> dict[str, Any]:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "credential_id": b64url(self.credential_id),
            "rp_id": self.rp_id,
            "user_handle": b64url(self.user_handle),
            "private_key_pem": pem.decode(),
            "sign_count": self.sign_count,
            "backup_eligible": self.backup_eligible,
            "backup_state": self.backup_state,
            "discoverable": self.discoverable,
            "accepted_sign_count": self.accepted_sign_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Credential:
        key = serialization.load_pem_private_key(data["private_key_pem"].encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(
            credential_id=b64url_decode(data["credential_id"]),
            rp_id=data["rp_id"],
            user_handle=b64url_decode(data["user_handle"]),
            private_key=key,
            sign_count=data["sign_count"],
            backup_eligible=data["backup_eligible"],
            backup_state=data["backup_state"],
            # Phones saved before these were kept made every credential discoverable;
            # what the server accepted then is unknown, and 0 is never above it.
            discoverable=data.get("discoverable", True),
            accepted_sign_count=data.get("accepted_sign_count", 0),
        )


@dataclass
class SoftwareAuthenticator:
    """A platform authenticator with user verification (the phone's fingerprint reader)."""

    aaguid: bytes = bytes(16)
    credentials: list[Credential] = field(default_factory=list)
    # The last assertion produced, kept so a test can replay it.
    last_assertion: dict[str, Any] | None = None

    # --- registration (navigator.credentials.create) ------------------------------------

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        attestation: str = "none",
        user_verified: bool = True,
        user_present: bool = True,
        backup_eligible: bool = False,
        backup_state: bool = False,
        rp_id: str | None = None,
        credential_id: bytes | None = None,
        cross_origin: object = False,
        top_origin: str | None = None,
        discoverable: bool | None = None,
        report_cred_props: bool = True,
    ) -> dict[str, Any]:
        """Make a new credential for ``options`` (PublicKeyCredentialCreationOptionsJSON).

        ``credential_id`` forces the new credential's id, as a hostile authenticator might.
        ``cross_origin`` and ``top_origin`` are what the client reports when the page runs
        in a frame of another site (``crossOrigin: true``, ``topOrigin``).
        The credential is discoverable when ``residentKey`` is ``required`` or
        ``preferred``, as a phone that stores passkeys does; ``discoverable`` forces it
        either way (a security key without room for one). The ``credProps`` extension is
        answered when asked, unless ``report_cred_props`` is False (an older client).
        """
        rp_id = rp_id or options["rp"].get("id") or _host_of(origin)
        if ES256 not in [p["alg"] for p in options.get("pubKeyCredParams", [])]:
            raise AuthenticatorError("ES256 not offered")
        excluded = {c["id"] for c in options.get("excludeCredentials", [])}
        if any(b64url(c.credential_id) in excluded for c in self.credentials if c.rp_id == rp_id):
            raise AuthenticatorError("InvalidStateError: already registered here")
        if discoverable is None:
            resident_key = options.get("authenticatorSelection", {}).get("residentKey")
            discoverable = resident_key in ("required", "preferred")
        credential = Credential(
            credential_id=credential_id or os.urandom(32),
            rp_id=rp_id,
            user_handle=b64url_decode(options["user"]["id"]),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            backup_eligible=backup_eligible,
            backup_state=backup_state,
            discoverable=discoverable,
        )
        flags = FLAG_AT | _flags(user_present, user_verified, backup_eligible, backup_state)
        attested = (
            self.aaguid
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        auth_data = _rp_hash(rp_id) + bytes([flags]) + struct.pack(">I", 0) + attested
        client_data = _client_data(
            "webauthn.create", options["challenge"], origin, cross_origin, top_origin
        )
        if attestation == "none":
            statement: dict[str, Any] = {}
        elif attestation == "packed":
            # Self attestation: signed by the new credential's own key.
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {"alg": ES256, "sig": credential.sign(signed)}
        else:
            raise AuthenticatorError(f"unsupported attestation {attestation!r}")
        attestation_object = cbor2.dumps(
            {"fmt": attestation, "attStmt": statement, "authData": auth_data}
        )
        self.credentials.append(credential)
        public_key_der = credential.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        registration = _credential_json(
            credential,
            {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "authenticatorData": b64url(auth_data),
                "transports": ["internal", "hybrid"],
                "publicKeyAlgorithm": ES256,
                "publicKey": b64url(public_key_der),
            },
        )
        if report_cred_props and options.get("extensions", {}).get("credProps"):
            registration["clientExtensionResults"]["credProps"] = {"rk": discoverable}
        return registration

    # --- assertion (navigator.credentials.get) ------------------------------------------

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str,
        user_verified: bool = True,
        user_present: bool = True,
        rp_id: str | None = None,
        sign_count: int | None = None,
        counter_step: int = 1,
        backup_eligible: bool | None = None,
        backup_state: bool | None = None,
        tamper_signature: bool = False,
        credential_id: bytes | None = None,
        include_user_handle: bool = True,
        cross_origin: object = False,
        top_origin: str | None = None,
    ) -> dict[str, Any]:
        """Sign ``options`` (PublicKeyCredentialRequestOptionsJSON) with a matching credential.

        ``sign_count`` forces the counter sent (a clone's stale counter); ``counter_step=0``
        models authenticators whose counter is always 0. ``cross_origin`` and ``top_origin``
        are what the client reports from a frame of another site.
        """
        credential = self.credential_for(options, credential_id, options.get("rpId"))
        if sign_count is None:
            if counter_step:
                credential.sign_count += counter_step
            sign_count = credential.sign_count
        be = credential.backup_eligible if backup_eligible is None else backup_eligible
        bs = credential.backup_state if backup_state is None else backup_state
        rp = rp_id or credential.rp_id  # rp_id: sign for another RP, as a phishing page would
        flags = _flags(user_present, user_verified, be, bs)
        auth_data = _rp_hash(rp) + bytes([flags]) + struct.pack(">I", sign_count)
        client_data = _client_data(
            "webauthn.get", options["challenge"], origin, cross_origin, top_origin
        )
        signature = credential.sign(auth_data + hashlib.sha256(client_data).digest())
        if tamper_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        assertion = _credential_json(
            credential,
            {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
            },
        )
        if include_user_handle:
            assertion["response"]["userHandle"] = b64url(credential.user_handle)
        self.last_assertion = assertion
        return assertion

    def credential_for(
        self, options: dict[str, Any], credential_id: bytes | None, rp_id: str | None
    ) -> Credential:
        if credential_id is not None:
            for credential in self.credentials:
                if credential.credential_id == credential_id:
                    return credential
            raise AuthenticatorError("no such credential")
        allowed = {c["id"] for c in options.get("allowCredentials", [])}
        for credential in reversed(self.credentials):  # the newest first, as phones list them
            # Named credentials, or else the discoverable ones (a passkey sign-in).
            named = b64url(credential.credential_id) in allowed
            if (named or (not allowed and credential.discoverable)) and (
                rp_id is None or credential.rp_id == rp_id
            ):
                return credential
        raise AuthenticatorError("NotAllowedError: no credential for this relying party")

    def record_accepted(self, assertion: dict[str, Any]) -> None:
        """Note that the server accepted ``assertion``: its counter is the server's now."""
        credential_id = b64url_decode(assertion["rawId"])
        auth_data = b64url_decode(assertion["response"]["authenticatorData"])
        (counter,) = struct.unpack(">I", auth_data[33:37])
        for credential in self.credentials:
            if credential.credential_id == credential_id:
                credential.accepted_sign_count = max(credential.accepted_sign_count, counter)

    # --- persistence --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "aaguid": b64url(self.aaguid),
            "credentials": [c.to_dict() for c in self.credentials],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SoftwareAuthenticator:
        return cls(
            aaguid=b64url_decode(data.get("aaguid", b64url(bytes(16)))),
            credentials=[Credential.from_dict(c) for c in data.get("credentials", [])],
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> SoftwareAuthenticator:
        return cls.from_dict(json.loads(text))


def _credential_json(credential: Credential, response: dict[str, Any]) -> dict[str, Any]:
    """Wrap a response in the PublicKeyCredential JSON form (``credential.toJSON()``)."""
    return {
        "id": b64url(credential.credential_id),
        "rawId": b64url(credential.credential_id),
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
        "response": response,
    }


def _flags(up: bool, uv: bool, be: bool, bs: bool) -> int:
    return (
        (FLAG_UP if up else 0)
        | (FLAG_UV if uv else 0)
        | (FLAG_BE if be else 0)
        | (FLAG_BS if bs else 0)
    )


def _rp_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode()).digest()


def _client_data(
    kind: str, challenge: str, origin: str, cross_origin: object, top_origin: str | None
) -> bytes:
    """CollectedClientData as a client serialises it (WebAuthn L3 §5.8.1.1)."""
    data = {"type": kind, "challenge": challenge, "origin": origin}
    if cross_origin is not None:  # None: left out, as Android's Credential Manager does
        data["crossOrigin"] = cross_origin
    if top_origin is not None:
        data["topOrigin"] = top_origin
    return json.dumps(data, separators=(",", ":")).encode()


def _host_of(origin: str) -> str:
    return origin.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0]
