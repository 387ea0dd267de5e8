"""The whole sign-in through the HTTP API, as the app drives it."""

from __future__ import annotations

import statistics
import time
import unicodedata

import pytest

from tests.conftest import bearer, fresh_nir

LOGIN = "/api/v1/auth/login"


def test_sign_in_with_emailed_code_reaches_the_account(auth, account, client, smtp):
    login = auth.login(account)
    assert login.status_code == 200
    assert login.json["methods"] == ["email_otp"]
    assert login.json["expires_in"] == 900
    assert login.json["email_hint"].endswith(".fr") and "•••" in login.json["email_hint"]
    mfa_token = login.json["mfa_token"]

    sent = auth.send_code(mfa_token)
    assert sent.status_code == 202
    assert sent.json == {
        "channel": "email",
        "expires_in": 900,
        "resend_after": 60,
        "destination_hint": login.json["email_hint"],
        "email_hint": login.json["email_hint"],
    }

    verified = auth.verify(mfa_token, smtp.last_code(account.email))
    assert verified.status_code == 200
    pair = verified.json
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900
    assert pair["refresh_token"] != pair["access_token"]

    me = client.get("/api/v1/account", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json["id"] == account.id
    assert me.json["email"] == account.email
    assert me.json["nir_masked"] == f"1 85 •• •• ••• {account.nir[-3:]}"
    assert account.nir not in str(me.json)


def test_unknown_nir_and_wrong_password_are_indistinguishable(auth, account, client):
    wrong_password = auth.login(account, password="pas le bon mot de passe")
    unknown = client.post(LOGIN, json={"nir": fresh_nir(), "password": account.password})
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json == unknown.json
    assert wrong_password.json["code"] == "invalid_credentials"
    assert wrong_password.headers["Content-Type"] == unknown.headers["Content-Type"]


def test_unknown_nir_costs_a_password_verification(auth, account, client):
    """Both paths run one argon2id verification, so neither answers noticeably faster.

    Measured in this process's CPU time (the argon2id thread included), not wall time, so
    that other work on a busy machine cannot make either path look slower.
    """

    def median_seconds(call) -> float:
        samples = []
        for _ in range(5):
            started = time.process_time()
            call()
            samples.append(time.process_time() - started)
        return statistics.median(samples)

    # Different NIRs each time so no lock kicks in and skips the hash.
    known = median_seconds(lambda: auth.login(account, password="mauvais mot de passe"))
    unknown = median_seconds(
        lambda: client.post(LOGIN, json={"nir": fresh_nir(), "password": "mauvais"})
    )
    # argon2id dominates both; a missing dummy verify would make `unknown` ~100x faster.
    assert 0.5 < unknown / known < 2.0


@pytest.mark.parametrize(
    "nir",
    ["1850575123456", "185052A123456", "185052B123456", "185052a123456", "2991299000001"],
)
def test_valid_nir_shapes_reach_the_password_check(client, nir):
    response = client.post(LOGIN, json={"nir": nir, "password": "quelconque"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "nir",
    [
        "185057512345",  # 12 characters
        "18505751234567",  # 14 characters
        "1850575 23456",
        "185052C123456",  # only 2A / 2B as letters
        "1850A75123456",  # letter outside the département
        "18505751234５6",  # full-width digit
        "",
        1850575123456,
        None,
        ["1850575123456"],
    ],
)
def test_malformed_nir_gets_one_uniform_400(client, nir):
    response = client.post(LOGIN, json={"nir": nir, "password": "quelconque"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == ["nir"]
    assert body["errors"]["nir"] == [
        "Le numéro de sécurité sociale doit comporter 13 caractères : des chiffres "
        "(2A ou 2B possibles pour la Corse)."
    ]


def test_unknown_fields_and_over_long_passwords_are_refused(client):
    extra = client.post(LOGIN, json={"nir": "1850575123456", "password": "x", "admin": True})
    assert extra.status_code == 400 and "admin" in extra.json["errors"]
    too_long = client.post(LOGIN, json={"nir": "1850575123456", "password": "x" * 257})
    assert too_long.status_code == 400 and "password" in too_long.json["errors"]


def test_password_over_the_cap_once_normalised_is_wrong_without_hashing(
    client, account, argon2_inputs
):
    expands = "\ufdfa" * 15  # 15 characters; NFKC turns each into 18
    assert len(expands) <= 256 < len(unicodedata.normalize("NFKC", expands))
    for nir in [account.nir, fresh_nir()]:  # known and unknown NIR alike
        response = client.post(LOGIN, json={"nir": nir, "password": expands})
        assert response.status_code == 401 and response.json["code"] == "invalid_credentials"
    assert all(len(text) <= 256 for text in argon2_inputs), sorted(map(len, argon2_inputs))


def test_password_may_hold_unicode_and_spaces(auth, make_account):
    account = make_account(password="  été à Lyon, 東京 et ma grand-mère 🌻 ")
    assert auth.login(account).status_code == 200
    # Never trimmed or truncated: a near miss fails.
    assert auth.login(account, password="été à Lyon, 東京 et ma grand-mère 🌻").status_code == 401


def test_disabled_account_looks_like_a_wrong_password(auth, account, runner, client):
    result = runner.invoke(args=["accounts", "disable", "--nir", account.nir])
    assert result.exit_code == 0, result.output
    response = auth.login(account)
    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"
