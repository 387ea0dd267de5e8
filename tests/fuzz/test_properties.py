"""Property tests: NIR parsing, and WebAuthn JSON/CBOR parsing under arbitrary damage."""

from __future__ import annotations

import contextlib
import re

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.nir import mask_nir, parse_nir
from api.webauthn import ceremonies
from mobile_mock.authenticator import SoftwareAuthenticator, b64url, b64url_decode
from tests.conftest import ANDROID_ORIGIN, bearer

VALID_NIR = re.compile(r"^[0-9]{5}([0-9]{2}|2[AB])[0-9]{6}$")
FIXTURES_OK = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

valid_nirs = st.from_regex(r"\A[0-9]{5}([0-9]{2}|2[ABab])[0-9]{6}\Z")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.text(max_size=40))
def test_parse_nir_accepts_exactly_the_valid_shape(text):
    parsed = parse_nir(text)
    if parsed is None:
        assert not VALID_NIR.match(text.upper()) or len(text) != 13
    else:
        assert VALID_NIR.match(parsed) and parsed == text.upper()


@given(valid_nirs)
def test_every_valid_nir_parses_and_masks_without_leaking(nir):
    parsed = parse_nir(nir)
    assert parsed == nir.upper()
    masked = mask_nir(parsed)
    assert parsed[3:10] not in masked.replace(" ", "")


@given(json_values)
def test_parse_nir_never_raises(value):
    assert parse_nir(value) is None or isinstance(value, str)


@FIXTURES_OK
@given(nir=json_values | st.text(max_size=20), password=json_values)
def test_login_answers_4xx_for_any_input(client, nir, password):
    response = client.post("/api/v1/auth/login", json={"nir": nir, "password": password})
    assert response.status_code in {400, 401, 429}
    assert response.headers["Content-Type"] == "application/problem+json"


# --- WebAuthn ---------------------------------------------------------------------------

B64URL_CHARS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=120
)
cbor_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.binary(max_size=64)
    | st.text(max_size=16),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(-10, 10), children, max_size=4)
    ),
    max_leaves=10,
)


def _same_bytes(original: str, damaged: str) -> bool:
    """True when the damage left the value meaning the same bytes (e.g. padding added)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", damaged):
        return False
    try:
        return b64url_decode(original) == b64url_decode(damaged.rstrip("="))
    except ValueError:
        return False


def _damage(value: str, how: str, cut: int, junk: str) -> str:
    if how == "truncate":
        return value[: cut % (len(value) + 1)]
    if how == "junk":
        return junk
    return value + junk  # append


damage = st.tuples(
    st.sampled_from(["truncate", "junk", "append"]),
    st.integers(0, 500),
    B64URL_CHARS | st.text(max_size=20),
)


@given(json_values)
def test_parse_assertion_only_raises_malformed(payload):
    with contextlib.suppress(ceremonies.MalformedCredential):
        ceremonies.parse_assertion(payload)


@given(json_values)
def test_parse_registration_only_raises_malformed(payload):
    with contextlib.suppress(ceremonies.MalformedCredential):
        ceremonies.parse_registration(payload)


@pytest.fixture
def enrolled(client, signed_in):
    phone = SoftwareAuthenticator()
    options = client.post(
        "/api/v1/account/authenticators/options", headers=bearer(signed_in["access_token"])
    ).json
    credential = phone.create(options, origin=ANDROID_ORIGIN)
    client.post(
        "/api/v1/account/authenticators",
        json={"credential": credential, "name": "P"},
        headers=bearer(signed_in["access_token"]),
    )
    return phone


@FIXTURES_OK
@given(
    field=st.sampled_from(["clientDataJSON", "authenticatorData", "signature", "userHandle"]),
    how=damage,
)
def test_damaged_assertions_are_refused_never_500(auth, account, client, enrolled, field, how):
    login = auth.login(account)
    mfa = login.json["mfa_token"]
    options = client.post("/api/v1/auth/webauthn/options", headers=bearer(mfa)).json
    assertion = enrolled.get(options, origin=ANDROID_ORIGIN)
    original = assertion["response"].get(field, "")
    assertion["response"][field] = _damage(original, *how)
    response = client.post("/api/v1/auth/webauthn/verify", json=assertion, headers=bearer(mfa))
    if _same_bytes(original or "", assertion["response"][field]):
        assert response.status_code == 200
    else:
        assert response.status_code in {400, 401}, response.json
        assert response.headers["Content-Type"] == "application/problem+json"


@FIXTURES_OK
@given(
    field=st.sampled_from(["clientDataJSON", "attestationObject"]),
    how=damage,
    cbor=cbor_values,
    use_cbor=st.booleans(),
)
def test_damaged_registrations_are_refused_never_500(client, signed_in, field, how, cbor, use_cbor):
    phone = SoftwareAuthenticator()
    access = bearer(signed_in["access_token"])
    options = client.post("/api/v1/account/authenticators/options", headers=access).json
    credential = phone.create(options, origin=ANDROID_ORIGIN)
    original = credential["response"][field]
    if use_cbor and field == "attestationObject":
        credential["response"][field] = b64url(cbor2.dumps(cbor))  # well-formed CBOR, wrong
    else:
        credential["response"][field] = _damage(credential["response"][field], *how)
    response = client.post(
        "/api/v1/account/authenticators",
        json={"credential": credential, "name": "P"},
        headers=access,
    )
    if _same_bytes(original, credential["response"][field]):
        assert response.status_code == 201
    else:
        assert response.status_code == 400, response.json
        assert response.headers["Content-Type"] == "application/problem+json"
