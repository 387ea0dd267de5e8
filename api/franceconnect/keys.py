"""The service's own keys, to which FranceConnect+ encrypts id_tokens and userinfo.

``FRANCECONNECT_ENC_KEYS`` is a private JWKS (``{"keys": [...]}``) given as a JSON
string: EC P-256 keys for ``ECDH-ES`` and RSA keys (2048 bits or more) for ``RSA-OAEP``,
each with a unique ``kid``. Only their public part is ever published, at
``GET /api/v1/auth/franceconnect/jwks``, where the provider fetches it.
"""

from __future__ import annotations

import json
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

# Key management algorithms accepted, by key type, and the content encryption.
KEY_ALGORITHMS = {"EC": "ECDH-ES", "RSA": "RSA-OAEP"}
CONTENT_ENCRYPTION = "A256GCM"
MIN_RSA_BITS = 2048


class InvalidKeys(ValueError):
    """The configured JWKS cannot serve as the service's decryption keys."""


def decryption_keys(jwks_json: str) -> KeySet:
    """Parse and check the private JWKS of ``FRANCECONNECT_ENC_KEYS``."""
    try:
        document = json.loads(jwks_json)
    except ValueError:
        raise InvalidKeys("not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise InvalidKeys('expected a JWKS: {"keys": [...]}')
    if not document["keys"]:
        raise InvalidKeys("the key set is empty")
    kids: set[str] = set()
    for jwk in document["keys"]:
        _check_member(jwk, kids)
    try:
        keys = KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidKeys(f"a key cannot be read ({type(exc).__name__})") from None
    for key in keys:
        if not key.is_private:
            raise InvalidKeys(f"key {key.kid!r} has no private part")
        if isinstance(key, ECKey) and key.curve_name != "P-256":
            raise InvalidKeys(f"key {key.kid!r}: only the P-256 curve is accepted")
        if isinstance(key, RSAKey) and key.public_key.key_size < MIN_RSA_BITS:
            raise InvalidKeys(f"key {key.kid!r}: RSA keys need {MIN_RSA_BITS} bits or more")
    return keys


def _check_member(jwk: Any, kids: set[str]) -> None:
    if not isinstance(jwk, dict):
        raise InvalidKeys("every key must be a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidKeys("every key needs a kid")
    if kid in kids:
        raise InvalidKeys(f"two keys share the kid {kid!r}")
    kids.add(kid)
    kty = jwk.get("kty")
    if kty not in KEY_ALGORITHMS:
        raise InvalidKeys(f"key {kid!r}: only EC (ECDH-ES) and RSA (RSA-OAEP) keys are accepted")
    if jwk.get("use", "enc") != "enc":
        raise InvalidKeys(f'key {kid!r}: "use" must be "enc"')
    if jwk.get("alg", KEY_ALGORITHMS[kty]) != KEY_ALGORITHMS[kty]:
        raise InvalidKeys(f'key {kid!r}: "alg" must be {KEY_ALGORITHMS[kty]}')


def public_jwks(keys: KeySet) -> dict[str, list[dict[str, Any]]]:
    """Return the public half of ``keys``, with the use and algorithm each key serves."""
    published = []
    for key in keys:
        member = dict(key.as_dict(private=False))
        member["use"] = "enc"
        member["alg"] = KEY_ALGORITHMS[key.key_type]
        published.append(member)
    return {"keys": published}
