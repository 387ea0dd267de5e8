"""Open and check the JWTs FranceConnect+ sends: the id_token and the userinfo answer.

Each is a JWS signed by the provider (ES256 or RS256 only, with a key of its published
JWKS), encrypted in a JWE to the service's key (``ECDH-ES`` or ``RSA-OAEP`` with
``A256GCM``) when the service has decryption keys. When it has them, an unencrypted
token is refused: FranceConnect+ always encrypts, so a plain one did not come from it.
Headers that would let a token choose its own key (``jku``, ``jwk``, ``x5u``, ``x5c``)
are refused, as is any other ``typ`` than JWT.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc import jwe, jws, jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.registry import HeaderParameter

from ..config import FRANCECONNECT_ACR_LEVELS
from .keys import CONTENT_ENCRYPTION, KEY_ALGORITHMS

SIGNING_ALGORITHMS = ("ES256", "RS256")
# Clocks differ a little between the provider and the service.
LEEWAY_SECONDS = 60
_FORBIDDEN_HEADERS = {"jku", "jwk", "x5u", "x5c", "crit"}


def _any(_value: Any) -> None:
    """Accept any value: the claim is checked in the payload, where it counts."""


# The provider replicates iss and aud in the JWE header (RFC 7519 §5.3); they are only
# a copy of the signed claims inside, which are the ones checked.
_DECRYPTION = jwe.JWERegistry(
    header_registry={
        "iss": HeaderParameter("Issuer, replicated from the claims", "str"),
        "aud": HeaderParameter("Audience, replicated from the claims", _any),
    },
    algorithms=[*KEY_ALGORITHMS.values(), CONTENT_ENCRYPTION],
)


class Rejected(Exception):
    """A token failed a check; the message says which, for the logs (never the token)."""


class UnknownSigningKey(Rejected):
    """The signature does not verify with the provider's keys as the service knows them.

    The provider may have rotated its keys: fetch its JWKS again before giving up.
    """


@dataclass(frozen=True)
class Expected:
    """What the tokens of one sign-in must say."""

    issuer: str
    client_id: str
    minimum_acr: str
    now: datetime


def open_token(raw: str, decryption_keys: KeySet | None) -> str:
    """Return the signed JWT inside ``raw``, decrypting it with the service's keys."""
    if not isinstance(raw, str) or len(raw) > 64 * 1024:
        raise Rejected("not a token")
    segments = raw.count(".") + 1
    if decryption_keys is None:
        if segments != 3:
            raise Rejected("an encrypted token, and no key to open it")
        return raw
    if segments != 5:
        raise Rejected("not encrypted to the service's key")
    try:
        message = jwe.decrypt_compact(raw, decryption_keys, registry=_DECRYPTION)
    except (JoseError, ValueError) as exc:
        raise Rejected(f"cannot be decrypted ({type(exc).__name__})") from None
    content_type = str(message.headers().get("cty", "JWT")).upper()
    if content_type != "JWT" or message.plaintext is None:
        raise Rejected("the encrypted content is not a JWT")
    try:
        signed = message.plaintext.decode("ascii")
    except UnicodeDecodeError:
        raise Rejected("the encrypted content is not a JWT") from None
    if signed.count(".") != 2:
        raise Rejected("the encrypted content is not a signed JWT")
    return signed


def verify_signature(signed: str, signing_keys: KeySet) -> dict[str, Any]:
    """Check the signature of ``signed`` with the provider's keys; return its claims."""
    try:
        header = jws.extract_compact(signed.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeEncodeError) as exc:
        raise Rejected(f"unreadable ({type(exc).__name__})") from None
    if header.get("alg") not in SIGNING_ALGORITHMS:
        raise Rejected(f"algorithm {str(header.get('alg'))[:16]!r} is not allowed")
    if _FORBIDDEN_HEADERS & set(header):
        raise Rejected("a header names its own key")
    if str(header.get("typ", "JWT")).upper() != "JWT":
        raise Rejected("not a JWT")
    try:
        token = jwt.decode(signed, signing_keys, algorithms=list(SIGNING_ALGORITHMS))
    except (BadSignatureError, InvalidKeyIdError) as exc:
        raise UnknownSigningKey(f"signature not verified ({type(exc).__name__})") from None
    except (JoseError, ValueError) as exc:
        raise Rejected(f"signature not verified ({type(exc).__name__})") from None
    return token.claims


def check_id_token(
    claims: dict[str, Any], expected: Expected, nonce_matches: Callable[[str], bool]
) -> None:
    """Apply OpenID Connect Core §3.1.3.7 to the id_token's claims, and the acr floor."""
    _check_issuer_and_audience(claims, expected, required=True)
    now = expected.now.timestamp()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not _is_number(exp) or exp <= now - LEEWAY_SECONDS:
        raise Rejected("expired")
    if not _is_number(iat) or iat > now + LEEWAY_SECONDS:
        raise Rejected("issued in the future")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not nonce_matches(nonce):
        raise Rejected("nonce does not match this sign-in")
    _check_subject(claims)
    acr = claims.get("acr")
    if acr not in FRANCECONNECT_ACR_LEVELS:
        raise Rejected("no known acr")
    if FRANCECONNECT_ACR_LEVELS.index(acr) < FRANCECONNECT_ACR_LEVELS.index(expected.minimum_acr):
        raise Rejected(f"acr {acr} is below {expected.minimum_acr}")


def check_userinfo(claims: dict[str, Any], expected: Expected, subject: str) -> None:
    """The userinfo answer must be about the id_token's subject, from this provider to us."""
    _check_subject(claims)
    if not hmac.compare_digest(
        hashlib.sha256(claims["sub"].encode()).digest(), hashlib.sha256(subject.encode()).digest()
    ):
        raise Rejected("userinfo is about another subject")
    # OpenID Connect Core §5.3.2: a signed answer should carry iss and aud; when it does,
    # they must be right.
    _check_issuer_and_audience(claims, expected, required=False)
    exp = claims.get("exp")
    if exp is not None and (
        not _is_number(exp) or exp <= expected.now.timestamp() - LEEWAY_SECONDS
    ):
        raise Rejected("userinfo expired")


def _check_issuer_and_audience(
    claims: dict[str, Any], expected: Expected, *, required: bool
) -> None:
    if ("iss" in claims or required) and claims.get("iss") != expected.issuer:
        raise Rejected("wrong issuer")
    if "aud" in claims or required:
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if expected.client_id not in audiences:
            raise Rejected("not meant for this service")
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != expected.client_id:
            raise Rejected("authorized party is not this service")


def _check_subject(claims: dict[str, Any]) -> None:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 255:
        raise Rejected("no subject")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
