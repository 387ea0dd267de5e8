"""Mediator accounts: operator commands, sign-in with a TOTP code, password, tokens."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
import pyotp
import pytest
from sqlalchemy import select

from api.extensions import db
from api.infra import totp
from api.models import Mediator
from tests.conftest import MEDIATOR_LOGIN, bearer, sample_path

PROFILE = "/api/v1/mediator"
PASSWORD = "/api/v1/mediator/password"
MANDATES = "/api/v1/mediator/mandates"
REFRESH = "/api/v1/auth/refresh"


def claims_of(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


# --- operator commands ----------------------------------------------------------------


def create(runner, *extra: str, email: str = "camille@france-services.example"):
    return runner.invoke(
        args=[
            "mediators",
            "create",
            "--email",
            email,
            "--name",
            "Camille Martin",
            "--organisation",
            "France Services de Montreuil",
            *extra,
        ]
    )


def test_create_prints_the_enrolment_once_one_item_a_line(runner, client, clock):
    result = create(runner)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == ["totp_uri", "mediator_code", "password"]
    printed = dict(line.split(": ", 1) for line in lines)
    assert printed["totp_uri"].startswith("otpauth://totp/")
    assert re.fullmatch(r"[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{8}", printed["mediator_code"])
    assert "Shown once" in result.stderr

    # What was printed is enough to sign in, with the code of any authenticator app.
    app_code = pyotp.parse_uri(printed["totp_uri"]).at(clock.now())
    signed_in = client.post(
        MEDIATOR_LOGIN,
        json={
            "email": "Camille@France-Services.example ",
            "password": printed["password"],
            "totp": app_code,
        },
    )
    assert signed_in.status_code == 200, signed_in.json
    assert signed_in.json["password_change_required"] is True
    profile = client.get(PROFILE, headers=bearer(signed_in.json["access_token"])).json
    assert profile["mediator_code"] == printed["mediator_code"]
    assert profile["organisation"] == "France Services de Montreuil"


def test_create_as_json_prints_one_object(runner, app):
    result = create(runner, "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert set(printed) == {"totp_uri", "mediator_code", "password"}
    # Neither the password nor the TOTP secret is stored as printed.
    secret = pyotp.parse_uri(printed["totp_uri"]).secret
    with app.app_context():
        row = db.session.scalar(select(Mediator))
        stored = row.totp_secret + row.password_hash.encode()
        assert secret.encode() not in stored and printed["password"].encode() not in stored
        assert totp.unseal(row.totp_secret, row.id) == secret
        with pytest.raises(ValueError):  # sealed for its own row only
            totp.unseal(row.totp_secret, "another-row")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "pas-une-adresse", "--name", "A", "--organisation", "B"], "Adresse"),
        (["--email", "a@b.fr", "--name", " ", "--organisation", "B"], "name"),
        (["--email", "a@b.fr", "--name", "A", "--organisation", "x" * 161], "organisation"),
    ],
)
def test_create_refuses_bad_input(runner, args, message):
    result = runner.invoke(args=["mediators", "create", *args])
    assert result.exit_code != 0 and message in result.output


def test_create_refuses_a_taken_address(runner):
    assert create(runner).exit_code == 0
    again = create(runner, email="CAMILLE@france-services.example")
    assert again.exit_code != 0 and "existe déjà" in again.output


def test_list_shows_each_mediator_state_and_mandates(runner, make_mediator, mediator_auth):
    fresh = make_mediator(email="nouveau@france-services.example")
    active = make_mediator(email="actif@france-services.example", name="Sam Durand")
    mediator_auth.activate(active)
    result = runner.invoke(args=["mediators", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "2 mediator(s)."
    assert f"{fresh.code}  nouveau@france-services.example  Camille Martin" in lines[0]
    assert "[initial password not changed yet]  0 mandate(s) in force" in lines[0]
    assert "Sam Durand — France Services de Montreuil  [active]" in lines[1]


def test_disable_of_an_unknown_address_fails(runner):
    result = runner.invoke(args=["mediators", "disable", "--email", "personne@exemple.fr"])
    assert result.exit_code != 0 and "No mediator" in result.output


# --- sign-in ------------------------------------------------------------------------------


def test_sign_in_gives_mediator_tokens(mediator_auth, mediator):
    pair = mediator_auth.sign_in(mediator)
    claims = claims_of(pair["access_token"])
    assert claims["aud"] == "mediator"
    assert claims["sub"] == f"mediator:{mediator.id}"
    assert claims["amr"] == ["pwd", "otp"]
    assert mediator.email not in json.dumps(claims)
    assert pair["refresh_token"].startswith("mrt_")
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 900


@pytest.mark.parametrize("wrong", ["unknown address", "password", "code", "disabled"])
def test_every_wrong_sign_in_gets_the_same_answer(mediator_auth, mediator, runner, client, wrong):
    body = {
        "email": mediator.email,
        "password": mediator.password,
        "totp": mediator_auth.code(mediator),
    }
    if wrong == "unknown address":
        body["email"] = "inconnu@france-services.example"
    elif wrong == "password":
        body["password"] = "pas le bon mot de passe"
    elif wrong == "code":
        body["totp"] = mediator_auth.code(mediator, steps=5)
    else:
        runner.invoke(args=["mediators", "disable", "--email", mediator.email])
    response = client.post(MEDIATOR_LOGIN, json=body)
    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"
    assert response.json["detail"] == (
        "L'adresse électronique, le mot de passe ou le code de votre application de codes "
        "est incorrect. Vérifiez-les, puis réessayez avec un nouveau code."
    )


def test_a_code_is_accepted_once(mediator_auth, mediator):
    code = mediator_auth.code(mediator)
    assert mediator_auth.login(mediator, totp=code).status_code == 200
    replayed = mediator_auth.login(mediator, totp=code)
    assert replayed.status_code == 401 and replayed.json["code"] == "invalid_credentials"
    # The previous period's code is still within the drift window, but older: refused too.
    assert (
        mediator_auth.login(mediator, totp=mediator_auth.code(mediator, steps=-1)).status_code
        == 401
    )
    # The next period's code is new: accepted.
    assert (
        mediator_auth.login(mediator, totp=mediator_auth.code(mediator, steps=1)).status_code == 200
    )


def test_a_wrong_password_burns_no_code(mediator_auth, mediator):
    code = mediator_auth.code(mediator)
    assert mediator_auth.login(mediator, password="pas le bon", totp=code).status_code == 401
    assert mediator_auth.login(mediator, totp=code).status_code == 200


@pytest.mark.parametrize(("steps", "status"), [(-1, 200), (1, 200), (-2, 401), (2, 401)])
def test_one_period_of_clock_drift_is_tolerated(mediator_auth, mediator, steps, status):
    response = mediator_auth.login(mediator, totp=mediator_auth.code(mediator, steps=steps))
    assert response.status_code == status


def test_failures_lock_the_address_and_tell_the_mediator(mediator_auth, mediator, smtp, clock):
    statuses = [mediator_auth.login(mediator, password="pas le bon").status_code for _ in range(5)]
    assert statuses == [401] * 5
    locked = mediator_auth.login(mediator)  # the right password and code wait too
    assert locked.status_code == 429 and locked.json["code"] == "too_many_attempts"
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    subjects = [m["Subject"] for m in smtp.to(mediator.email)]
    assert "Connexion à votre espace aidant bloquée temporairement" in subjects
    clock.advance(seconds=61)
    assert mediator_auth.login(mediator).status_code == 200


def test_unknown_addresses_lock_the_same_way(client):
    body = {"email": "inconnu@exemple.fr", "password": "devine", "totp": "123456"}
    statuses = [client.post(MEDIATOR_LOGIN, json=body).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_a_burst_of_parallel_guesses_gets_no_more_checks_than_the_limit(
    app, mediator_auth, mediator
):
    """20 wrong guesses at once, on every database: 5 checked, 15 refused unchecked."""
    barrier = threading.Barrier(20)
    body = {"email": mediator.email, "password": "pas le bon", "totp": "000000"}

    def guess(_) -> int:
        client = app.test_client()
        barrier.wait()
        return client.post(MEDIATOR_LOGIN, json=body).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(guess, range(20)))
    assert sorted(statuses) == [401] * 5 + [429] * 15, statuses
    assert mediator_auth.login(mediator).status_code == 429


# --- password ---------------------------------------------------------------------------


def test_the_initial_password_must_be_changed_first(client, mediator_auth, mediator, smtp):
    pair = mediator_auth.sign_in(mediator)
    headers = bearer(pair["access_token"])
    blocked = client.get(MANDATES, headers=headers)
    assert blocked.status_code == 403 and blocked.json["code"] == "password_change_required"
    assert client.post(f"{MANDATES}/x/session", headers=headers).status_code == 403
    assert client.get(PROFILE, headers=headers).json["password_change_required"] is True

    unchanged = client.put(
        PASSWORD,
        json={"current_password": mediator.password, "new_password": mediator.password},
        headers=headers,
    )
    assert unchanged.status_code == 400 and unchanged.json["reason"] == "unchanged"
    changed = client.put(
        PASSWORD,
        json={"current_password": mediator.password, "new_password": "Un nouveau secret 2026"},
        headers=headers,
    )
    assert changed.status_code == 204
    assert client.get(MANDATES, headers=headers).json == {"items": []}
    assert smtp.wait_for(mediator.email, "mot de passe d'aidant")


def test_a_password_change_checks_the_current_one_and_ends_other_sessions(
    client, mediator_auth, mediator
):
    other = mediator_auth.sign_in(mediator)
    current = mediator_auth.sign_in(mediator)
    wrong = client.put(
        PASSWORD,
        json={"current_password": "pas le bon", "new_password": "Un nouveau secret 2026"},
        headers=bearer(current["access_token"]),
    )
    assert wrong.status_code == 400 and wrong.json["code"] == "invalid_current_password"
    weak = client.put(
        PASSWORD,
        json={"current_password": mediator.password, "new_password": "azertyuiop"},
        headers=bearer(current["access_token"]),
    )
    assert weak.status_code == 400 and weak.json["reason"] == "common"
    changed = client.put(
        PASSWORD,
        json={"current_password": mediator.password, "new_password": "Un nouveau secret 2026"},
        headers=bearer(current["access_token"]),
    )
    assert changed.status_code == 204
    assert client.get(PROFILE, headers=bearer(other["access_token"])).status_code == 401
    assert client.get(PROFILE, headers=bearer(current["access_token"])).status_code == 200


# --- tokens -------------------------------------------------------------------------------


def test_the_refresh_token_rotates_and_a_reuse_ends_the_session(
    client, mediator_auth, mediator, clock
):
    pair = mediator_auth.activate(mediator)
    rotated = client.post(REFRESH, headers=bearer(pair["refresh_token"]))
    assert rotated.status_code == 200
    assert rotated.json["refresh_token"].startswith("mrt_")
    assert claims_of(rotated.json["access_token"])["aud"] == "mediator"
    assert client.get(MANDATES, headers=bearer(rotated.json["access_token"])).status_code == 200
    # A retry within the grace window gets the same successor.
    retried = client.post(REFRESH, headers=bearer(pair["refresh_token"]))
    assert retried.json["refresh_token"] == rotated.json["refresh_token"]

    clock.advance(seconds=11)
    reused = client.post(REFRESH, headers=bearer(pair["refresh_token"]))
    assert reused.status_code == 401 and reused.json["code"] == "token_reused"
    assert client.get(PROFILE, headers=bearer(rotated.json["access_token"])).status_code == 401


def test_a_mediator_session_ends_after_a_working_day(client, mediator_auth, mediator, clock):
    pair = mediator_auth.activate(mediator)
    clock.advance(hours=11)
    pair = client.post(REFRESH, headers=bearer(pair["refresh_token"])).json
    clock.advance(hours=1, seconds=1)
    expired = client.post(REFRESH, headers=bearer(pair["refresh_token"]))
    assert expired.status_code == 401 and expired.json["code"] == "token_expired"


def test_sign_out_ends_the_mediator_session(client, mediator_auth, mediator):
    pair = mediator_auth.activate(mediator)
    assert (
        client.post("/api/v1/mediator/logout", headers=bearer(pair["access_token"])).status_code
        == 204
    )
    assert client.get(PROFILE, headers=bearer(pair["access_token"])).status_code == 401
    assert client.post(REFRESH, headers=bearer(pair["refresh_token"])).status_code == 401


def test_disabling_a_mediator_ends_their_sessions_at_once(client, runner, mediator_auth, mediator):
    pair = mediator_auth.activate(mediator)
    result = runner.invoke(args=["mediators", "disable", "--email", mediator.email])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Mediator {mediator.code} disabled: 1 session(s)")
    assert client.get(PROFILE, headers=bearer(pair["access_token"])).status_code == 401
    assert client.post(REFRESH, headers=bearer(pair["refresh_token"])).status_code == 401


def _routes(app, prefix: str) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(prefix) and rule.rule != MEDIATOR_LOGIN:
            path = sample_path(rule.rule)
            routes += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_a_holders_token_opens_no_mediator_endpoint(app, client, signed_in):
    routes = _routes(app, "/api/v1/mediator")
    assert len(routes) >= 5
    for method, path in routes:
        response = client.open(
            path, method=method, json={}, headers=bearer(signed_in["access_token"])
        )
        assert (response.status_code, response.json["code"]) == (401, "token_invalid"), path


def test_a_mediators_token_opens_no_account_endpoint(app, client, mediator_auth, mediator):
    pair = mediator_auth.activate(mediator)
    routes = _routes(app, "/api/v1/account")
    assert len(routes) >= 12
    for method, path in routes:
        response = client.open(path, method=method, json={}, headers=bearer(pair["access_token"]))
        assert (response.status_code, response.json["code"]) == (401, "token_invalid"), path
    logout = client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    assert logout.status_code == 401


def test_a_mediator_password_change_without_the_current_password_is_a_400(
    client, mediator, mediator_auth
):
    """Only a holder's FranceConnect+ recovery may skip it; a missing one is no 500."""
    pair = mediator_auth.sign_in(mediator)
    response = client.put(
        "/api/v1/mediator/password",
        json={"new_password": "Un tout nouveau secret 42"},
        headers=bearer(pair["access_token"]),
    )
    assert response.status_code == 400 and response.json["code"] == "validation_error"
