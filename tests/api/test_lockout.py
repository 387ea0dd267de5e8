"""Consecutive password failures per NIR lead to growing, temporary locks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from api.extensions import db
from api.models import SecurityEvent
from tests.conftest import bearer, fresh_nir

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def app_settings() -> dict:
    # Many codes are sent here: the hourly cap (tested in test_code_channels) would only slow
    # the tests down, and a login transaction would expire while waiting for it.
    return {"OTP_HOURLY_CAP": 1000}


def send_code_now(auth, mfa: str) -> None:
    """Ask for a code, waiting out (on the test clock) the cooldown and the hourly cap."""
    sent = auth.send_code(mfa)
    while sent.status_code == 429:
        auth.clock.advance(seconds=int(sent.headers["Retry-After"]))
        sent = auth.send_code(mfa)
    assert sent.status_code == 202, sent.json


def fail(auth, account, times: int) -> list[int]:
    return [auth.login(account, password="mauvais mot de passe").status_code for _ in range(times)]


def test_five_failures_lock_the_nir_even_for_the_right_password(auth, account, clock):
    assert fail(auth, account, 5) == [401] * 5
    locked = auth.login(account)
    assert locked.status_code == 429
    assert locked.json["code"] == "too_many_attempts"
    assert locked.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(locked.headers["Retry-After"]) <= 60

    clock.advance(seconds=61)
    assert auth.login(account).status_code == 200


def test_locks_grow_when_they_repeat(auth, account, clock):
    fail(auth, account, 5)
    first = int(auth.login(account).headers["Retry-After"])
    clock.advance(seconds=first + 1)
    fail(auth, account, 5)
    second = int(auth.login(account).headers["Retry-After"])
    assert second > first
    clock.advance(seconds=second + 1)
    assert auth.login(account).status_code == 200


def test_success_resets_the_count(auth, account):
    fail(auth, account, 4)
    assert auth.login(account).status_code == 200
    assert fail(auth, account, 4) == [401] * 4
    assert auth.login(account).status_code == 200


def test_unknown_nirs_lock_the_same_way(client):
    nir = fresh_nir()
    statuses = [
        client.post(LOGIN, json={"nir": nir, "password": "devine"}).status_code for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_a_lock_is_recorded_and_mailed_to_the_holder(auth, account, smtp):
    fail(auth, account, 5)
    subjects = [m["Subject"] for m in smtp.to(account.email)]
    assert "Connexion à Mon Compte bloquée temporairement" in subjects


def test_the_lock_and_failures_show_in_activity(auth, account, clock):
    fail(auth, account, 5)
    clock.advance(seconds=61)
    pair = auth.sign_in(account)
    items = auth.client.get("/api/v1/account/activity", headers=bearer(pair["access_token"])).json[
        "items"
    ]
    types = [item["type"] for item in items]
    assert types[0] == "sign_in"
    assert "login_locked" in types and types.count("password_failed") == 5
    locked = next(item for item in items if item["type"] == "login_locked")
    assert locked["detail"] == "Connexion bloquée pendant 1 minutes après plusieurs essais."


def test_a_burst_of_parallel_guesses_gets_no_more_checks_than_the_limit(auth, app, account):
    """20 wrong guesses released at once: 5 are checked, the others refused unchecked."""
    barrier = threading.Barrier(20)

    def guess(_) -> int:
        client = app.test_client()
        barrier.wait()
        body = {"nir": account.nir, "password": "mauvais mot de passe"}
        return client.post(LOGIN, json=body).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(guess, range(20)))
    assert sorted(statuses) == [401] * 5 + [429] * 15, statuses
    assert auth.login(account).status_code == 429  # the right password waits too
    with app.app_context():
        failed = db.session.scalar(
            select(func.count(SecurityEvent.id)).where(
                SecurityEvent.account_id == account.id, SecurityEvent.type == "password_failed"
            )
        )
    assert failed == 5


def test_a_stranger_cannot_lock_the_holder_out_of_a_known_device(auth, account, clock):
    known = auth.sign_in(account)["device_token"]
    for _ in range(3):  # a stranger keeps the NIR locked, lock after lock
        assert fail(auth, account, 5) == [401] * 5
        assert auth.login(account).status_code == 429
        # ...and the holder, on their own phone, signs in all the same.
        assert auth.login(account, device_token=known).status_code == 200
        clock.advance(seconds=int(auth.login(account).headers["Retry-After"]) + 1)


def test_a_known_device_is_judged_by_its_own_failures(auth, account):
    known = auth.sign_in(account)["device_token"]
    wrong = [
        auth.login(account, password="mauvais", device_token=known).status_code for _ in range(5)
    ]
    assert wrong == [401] * 5
    assert auth.login(account, device_token=known).status_code == 429
    # Other clients are not locked by that device's failures.
    assert auth.login(account).status_code == 200


def test_a_sign_in_returns_the_same_device_token_it_was_given(auth, account):
    known = auth.sign_in(account)["device_token"]
    assert known.startswith("dt_")
    mfa = auth.login(account, device_token=known).json["mfa_token"]
    send_code_now(auth, mfa)
    pair = auth.verify(mfa, auth.smtp.last_code(account.email)).json
    assert pair["device_token"] == known
    # A client without one gets a new one.
    assert auth.sign_in(account)["device_token"] != known


@pytest.mark.parametrize("kind", ["forged", "another account's"])
def test_an_invalid_device_token_does_not_pass_the_lock(auth, account, make_account, kind):
    if kind == "forged":
        token = "dt_" + "0" * 32 + "." + "A" * 43
    else:
        token = auth.sign_in(make_account())["device_token"]
    fail(auth, account, 5)
    locked = auth.login(account, device_token=token)
    assert locked.status_code == 429


def test_a_hundred_wrong_second_factors_lock_the_password_step(auth, account, smtp, clock):
    """Wrong codes over many sign-ins add up per account (NIST SP 800-63B-4 §3.2.2)."""
    wrong_codes = 0
    while wrong_codes < 100:
        mfa = auth.start(account)
        for _ in range(2):  # two codes of five tries each: ten wrong codes per sign-in
            send_code_now(auth, mfa)
            for _ in range(5):
                response = auth.verify(mfa, "000000")
                assert response.status_code == 401
                wrong_codes += 1

    locked = auth.login(account)
    assert locked.status_code == 429 and locked.json["code"] == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) > 3600
    # Only someone who knows the password learns it: a wrong one is still a plain 401.
    assert auth.login(account, password="mauvais mot de passe").status_code == 401
    assert "Connexion à Mon Compte bloquée par sécurité" in [
        m["Subject"] for m in smtp.to(account.email)
    ]
    clock.advance(days=1, seconds=1)
    pair = auth.sign_in(account)
    types = [
        item["type"]
        for item in auth.client.get(
            "/api/v1/account/activity?limit=200", headers=bearer(pair["access_token"])
        ).json["items"]
    ]
    assert "second_factor_locked" in types


def test_a_success_resets_the_second_factor_count(auth, account, clock):
    for _ in range(9):  # 90 wrong codes, then a good one
        mfa = auth.start(account)
        for _ in range(2):
            send_code_now(auth, mfa)
            for _ in range(5):
                auth.verify(mfa, "000000")
    clock.advance(hours=1)
    auth.sign_in(account)
    mfa = auth.start(account)
    send_code_now(auth, mfa)
    for _ in range(5):
        assert auth.verify(mfa, "000000").status_code == 401
    assert auth.login(account).status_code == 200
