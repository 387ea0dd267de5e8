"""Access and refresh tokens, sessions, and token-kind confusion."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token

from tests.conftest import bearer

REFRESH = "/api/v1/auth/refresh"
ACCOUNT = "/api/v1/account"


def claims_of(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


def test_access_token_claims_follow_the_contract(signed_in, account):
    claims = claims_of(signed_in["access_token"])
    assert claims["sub"] == account.id
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["type"] == "access"
    assert {"sid", "jti", "auth_time", "exp", "iat", "iss", "aud"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 900
    assert account.nir not in json.dumps(claims)
    assert account.email not in json.dumps(claims)


def test_refresh_rotates_and_reuse_revokes_the_session(client, signed_in, clock):
    first = client.post(REFRESH, headers=bearer(signed_in["refresh_token"]))
    assert first.status_code == 200
    rotated = first.json
    assert rotated["refresh_token"] != signed_in["refresh_token"]
    assert client.get(ACCOUNT, headers=bearer(rotated["access_token"])).status_code == 200

    clock.advance(seconds=11)  # past the grace window for a retried refresh
    reused = client.post(REFRESH, headers=bearer(signed_in["refresh_token"]))
    assert reused.status_code == 401 and reused.json["code"] == "token_reused"
    # The whole session is over: the newest pair dies too.
    assert client.post(REFRESH, headers=bearer(rotated["refresh_token"])).status_code == 401
    assert client.get(ACCOUNT, headers=bearer(rotated["access_token"])).status_code == 401


def test_refresh_keeps_the_original_sign_in(client, signed_in):
    rotated = client.post(REFRESH, headers=bearer(signed_in["refresh_token"])).json
    before, after = claims_of(signed_in["access_token"]), claims_of(rotated["access_token"])
    assert after["sid"] == before["sid"] and after["auth_time"] == before["auth_time"]
    assert after["jti"] != before["jti"]


def test_refresh_token_expires(client, signed_in, clock):
    clock.advance(days=31)
    response = client.post(REFRESH, headers=bearer(signed_in["refresh_token"]))
    assert response.status_code == 401
    assert response.json["code"] in {"token_expired", "token_invalid"}


def test_refresh_lifetime_slides(client, signed_in, clock):
    clock.advance(days=20)
    pair = client.post(REFRESH, headers=bearer(signed_in["refresh_token"])).json
    clock.advance(days=20)
    assert client.post(REFRESH, headers=bearer(pair["refresh_token"])).status_code == 200


def test_concurrent_refreshes_give_one_successor(app, client, signed_in):
    def attempt(_):
        return app.test_client().post(REFRESH, headers=bearer(signed_in["refresh_token"]))

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(attempt, range(6)))
    # An app that sends its refresh twice is not signed out, and the chain does not fork:
    # every answer carries the same successor, which works once.
    assert [r.status_code for r in responses] == [200] * 6
    successors = {r.json["refresh_token"] for r in responses}
    assert len(successors) == 1
    (successor,) = successors
    assert client.post(REFRESH, headers=bearer(successor)).status_code == 200


def test_a_retried_refresh_within_the_grace_window_gets_the_same_successor(client, signed_in):
    first = client.post(REFRESH, headers=bearer(signed_in["refresh_token"]))
    retried = client.post(REFRESH, headers=bearer(signed_in["refresh_token"]))
    assert first.status_code == retried.status_code == 200
    assert retried.json["refresh_token"] == first.json["refresh_token"]
    # Both access tokens work: the session is whole.
    for pair in (first.json, retried.json):
        assert client.get(ACCOUNT, headers=bearer(pair["access_token"])).status_code == 200


def test_a_retried_refresh_after_its_successor_was_used_is_theft(client, signed_in):
    successor = client.post(REFRESH, headers=bearer(signed_in["refresh_token"])).json
    newer = client.post(REFRESH, headers=bearer(successor["refresh_token"])).json
    replayed = client.post(REFRESH, headers=bearer(signed_in["refresh_token"]))
    assert replayed.status_code == 401 and replayed.json["code"] == "token_reused"
    assert client.get(ACCOUNT, headers=bearer(newer["access_token"])).status_code == 401


def test_a_session_ends_after_its_absolute_lifetime_however_often_refreshed(
    client, signed_in, clock
):
    pair = signed_in
    for _ in range(4):  # every 20 days: the sliding 30-day window never lapses
        clock.advance(days=20)
        response = client.post(REFRESH, headers=bearer(pair["refresh_token"]))
        assert response.status_code == 200
        pair = response.json
    clock.advance(days=11)  # 91 days after the sign-in
    response = client.post(REFRESH, headers=bearer(pair["refresh_token"]))
    assert response.status_code == 401
    assert response.json["code"] == "token_expired"
    assert client.get(ACCOUNT, headers=bearer(pair["access_token"])).status_code == 401


def test_logout_ends_the_session_at_once(client, signed_in):
    response = client.post("/api/v1/auth/logout", headers=bearer(signed_in["access_token"]))
    assert response.status_code == 204
    assert client.get(ACCOUNT, headers=bearer(signed_in["access_token"])).status_code == 401
    refreshed = client.post(REFRESH, headers=bearer(signed_in["refresh_token"]))
    assert refreshed.status_code == 401 and refreshed.json["code"] == "token_invalid"


def test_every_sign_in_gets_new_tokens_and_session(auth, account):
    first, second = auth.sign_in(account), auth.sign_in(account)
    assert claims_of(first["access_token"])["sid"] != claims_of(second["access_token"])["sid"]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (ACCOUNT, "mfa"),
        (ACCOUNT, "refresh"),
        (REFRESH, "access"),
        (REFRESH, "mfa"),
        ("/api/v1/auth/otp", "access"),
        ("/api/v1/auth/otp", "refresh"),
        ("/api/v1/auth/logout", "refresh"),
        ("/api/v1/auth/logout", "mfa"),
    ],
)
def test_a_token_of_one_kind_is_refused_elsewhere(auth, account, client, path, kind):
    pair = auth.sign_in(account)
    tokens = {
        "mfa": auth.start(account),
        "access": pair["access_token"],
        "refresh": pair["refresh_token"],
    }
    method = client.get if path == ACCOUNT else client.post
    response = method(path, headers=bearer(tokens[kind]))
    assert response.status_code == 401
    assert response.json["code"] == "token_invalid"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_and_tampered_jwts_are_refused(client, signed_in, app):
    token = signed_in["access_token"]
    header, payload, signature = token.split(".")
    claims = claims_of(token)
    forged = [
        # alg: none
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        # a changed claim under the old signature
        f"{header}.{_b64({**claims, 'sub': 'someone-else'})}.{signature}",
        # a header naming its own key
        f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'jku': 'https://evil.example/keys'})}"
        f".{payload}.{signature}",
        # signed with another key
        pyjwt.encode(claims, "not-the-key-but-long-enough-for-hs256!!", algorithm="HS256"),
        # re-signed with the right key but an embedded jwk header
        pyjwt.encode(
            claims,
            app.config["JWT_SECRET_KEY"],
            algorithm="HS256",
            headers={"jwk": {"kty": "oct", "k": "AA"}},
        ),
        "not.a.jwt",
        "",
    ]
    for candidate in forged:
        response = client.get(ACCOUNT, headers={"Authorization": f"Bearer {candidate}"})
        assert response.status_code == 401, candidate
        assert response.json["code"] == "token_invalid"


def test_expired_access_token(client, signed_in, app):
    claims = claims_of(signed_in["access_token"])
    with app.app_context():
        expired = create_access_token(
            identity=claims["sub"],
            additional_claims={k: claims[k] for k in ("sid", "amr", "auth_time")},
            expires_delta=timedelta(seconds=-120),
        )
    response = client.get(ACCOUNT, headers=bearer(expired))
    assert response.status_code == 401 and response.json["code"] == "token_expired"


def test_missing_or_malformed_authorization(client):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = client.get(ACCOUNT, headers=headers)
        assert response.status_code == 401
        assert response.json["code"] == "token_invalid"


def test_mfa_token_expires_with_the_login_transaction(auth, account, clock):
    mfa = auth.start(account)
    clock.advance(minutes=16)
    response = auth.send_code(mfa)
    assert response.status_code == 401 and response.json["code"] == "token_expired"
