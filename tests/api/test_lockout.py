"""Consecutive password failures per NIR lead to growing, temporary locks."""

from __future__ import annotations

from tests.conftest import bearer, fresh_nir

LOGIN = "/api/v1/auth/login"


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
