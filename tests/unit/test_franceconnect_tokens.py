"""The id_token and userinfo checks on tokens no honest provider sends.

Real keys and real signatures (joserfc): an attacker's tokens, built the way an attacker
would build them, for the cases the local provider cannot be made to produce.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from joserfc import jwe, jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from api.franceconnect import tokens
from tests.franceconnect_support import service_keys

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ISSUER = "https://fc.example/api/v2"
EXPECTED = tokens.Expected(ISSUER, "moncompte", "eidas2", NOW)
PROVIDER_KEY = ECKey.generate_key("P-256", {"kid": "fc-sig", "alg": "ES256", "use": "sig"})
PROVIDER_KEYS = KeySet([PROVIDER_KEY])
SERVICE_KEYS = service_keys()


def id_claims(**changes) -> dict:
    claims = {
        "iss": ISSUER,
        "aud": "moncompte",
        "sub": "b6048e95bb134ec5b1d1e1fa69f287172e91722b9354d637a1bcf2ebb0fd2ef5v1",
        "exp": int(NOW.timestamp()) + 60,
        "iat": int(NOW.timestamp()),
        "nonce": "le-nonce",
        "acr": "eidas2",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def signed(claims: dict, key=PROVIDER_KEY, **header) -> str:
    return jwt.encode({"alg": "ES256", "kid": "fc-sig", **header}, claims, key)


def encrypted(inner: str, alg: str = "ECDH-ES") -> str:
    recipient = next(k for k in SERVICE_KEYS if k.alg == alg)
    return jwe.encrypt_compact(
        {"alg": alg, "enc": "A256GCM", "cty": "JWT", "kid": recipient.kid},
        inner,
        recipient,
        algorithms=[alg, "A256GCM"],
    )


def check(claims: dict) -> None:
    tokens.check_id_token(claims, EXPECTED, nonce_matches=lambda nonce: nonce == "le-nonce")


def test_a_genuine_token_opens_and_passes():
    for alg in ("ECDH-ES", "RSA-OAEP"):
        inner = tokens.open_token(encrypted(signed(id_claims()), alg), SERVICE_KEYS)
        claims = tokens.verify_signature(inner, PROVIDER_KEYS)
        check(claims)
        assert claims["acr"] == "eidas2", alg


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://pirate.example"}, "wrong issuer"),
        ({"aud": "another-service"}, "not meant for this service"),
        ({"aud": ["moncompte", "another-service"]}, "authorized party"),
        ({"azp": "another-service"}, "authorized party"),
        ({"exp": int(NOW.timestamp()) - 61}, "expired"),
        ({"exp": None}, "expired"),
        ({"iat": int(NOW.timestamp()) + 61}, "future"),
        ({"nonce": "un-autre-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"acr": "eidas1"}, "below eidas2"),
        ({"acr": None}, "no known acr"),
        ({"acr": "loa-high"}, "no known acr"),
        ({"sub": ""}, "no subject"),
        ({"sub": 42}, "no subject"),
    ],
)
def test_id_token_claims_are_checked(changes, reason):
    with pytest.raises(tokens.Rejected, match=reason):
        check(id_claims(**changes))


def test_several_audiences_are_accepted_with_our_azp():
    check(id_claims(aud=["moncompte", "another-service"], azp="moncompte"))


def _unsigned(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _unsigned(id_claims()), "algorithm 'none'"),
        (
            lambda: jwt.encode(
                {"alg": "HS256"}, id_claims(), OctKey.import_key(b"s" * 32), algorithms=["HS256"]
            ),
            "algorithm 'HS256'",
        ),
        (lambda: signed(id_claims(), jku="https://pirate.example/jwks"), "names its own key"),
        (lambda: signed(id_claims(), typ="at+jwt"), "not a JWT"),
        (
            lambda: signed(id_claims(), key=ECKey.generate_key("P-256", {"kid": "fc-sig"})),
            "signature not verified",
        ),
        (
            lambda: signed(id_claims(), key=ECKey.generate_key("P-256"), kid="elsewhere"),
            "signature not verified",
        ),
    ],
)
def test_signatures_the_provider_did_not_make_are_refused(make, reason):
    with pytest.raises(tokens.Rejected, match=reason):
        tokens.verify_signature(make(), PROVIDER_KEYS)


def test_encryption_is_required_when_the_service_has_keys_and_only_to_its_keys():
    plain = signed(id_claims())
    with pytest.raises(tokens.Rejected, match="not encrypted"):
        tokens.open_token(plain, SERVICE_KEYS)
    with pytest.raises(tokens.Rejected, match="no key to open it"):
        tokens.open_token(encrypted(plain), None)
    # Encrypted to somebody else's key (under our kid): it does not open.
    stranger = ECKey.generate_key("P-256", {"kid": "moncompte-ec", "alg": "ECDH-ES"})
    elsewhere = jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A256GCM", "kid": "moncompte-ec"},
        plain,
        stranger,
        algorithms=["ECDH-ES", "A256GCM"],
    )
    with pytest.raises(tokens.Rejected, match="cannot be decrypted"):
        tokens.open_token(elsewhere, SERVICE_KEYS)
    # Another content encryption than A256GCM is refused.
    weaker = jwe.encrypt_compact(
        {"alg": "ECDH-ES", "enc": "A128CBC-HS256", "kid": "moncompte-ec"},
        plain,
        next(k for k in SERVICE_KEYS if k.kid == "moncompte-ec"),
        algorithms=["ECDH-ES", "A128CBC-HS256"],
    )
    with pytest.raises(tokens.Rejected, match="cannot be decrypted"):
        tokens.open_token(weaker, SERVICE_KEYS)


def test_userinfo_must_be_about_the_id_tokens_subject_from_this_provider_to_us():
    subject = id_claims()["sub"]
    tokens.check_userinfo({"sub": subject, "given_name": "Angela"}, EXPECTED, subject)
    for claims, reason in [
        ({"sub": "quelqu-un-d-autre"}, "another subject"),
        ({"sub": subject, "iss": "https://pirate.example"}, "wrong issuer"),
        ({"sub": subject, "aud": "another-service"}, "not meant"),
        ({"sub": subject, "exp": int(NOW.timestamp()) - 120}, "expired"),
        ({}, "no subject"),
    ]:
        with pytest.raises(tokens.Rejected, match=reason):
            tokens.check_userinfo(claims, EXPECTED, subject)
