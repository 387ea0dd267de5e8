"""« Gérer mon compte »: menu, password, sessions and activity."""

from __future__ import annotations

import unicodedata

import pytest

from tests.conftest import bearer

PASSWORD = "/api/v1/account/password"
ACTIVITY = "/api/v1/account/activity"


def test_menu_lists_the_account_entries(client, signed_in):
    response = client.get("/api/v1/account/menu", headers=bearer(signed_in["access_token"]))
    assert response.status_code == 200
    items = {item["id"]: item for item in response.json["items"]}
    assert {"password", "sessions", "activity"} <= set(items)
    assert items["password"] == {
        "id": "password",
        "label": "Changer mon mot de passe",
        "description": "Choisissez un nouveau mot de passe. Vos autres connexions seront fermées.",
        "href": "/api/v1/account/password",
        "method": "PUT",
    }


def test_password_change_ends_other_sessions_and_mails_a_notice(auth, account, client, smtp):
    other = auth.sign_in(account)
    current = auth.sign_in(account)
    response = client.put(
        PASSWORD,
        json={"current_password": account.password, "new_password": "Un tout nouveau secret 42"},
        headers=bearer(current["access_token"]),
    )
    assert response.status_code == 204
    assert client.get("/api/v1/account", headers=bearer(other["access_token"])).status_code == 401
    assert client.get("/api/v1/account", headers=bearer(current["access_token"])).status_code == 200
    assert smtp.to(account.email)[-1]["Subject"] == "Votre mot de passe Mon Compte a été modifié"
    assert auth.login(account).status_code == 401
    account.password = "Un tout nouveau secret 42"
    assert auth.login(account).status_code == 200


def test_a_sign_in_begun_with_the_old_password_cannot_be_finished(auth, account, client, smtp):
    """Whoever had the old password and was halfway through a sign-in is stopped too."""
    current = auth.sign_in(account)
    pending = auth.start(account)
    assert auth.send_code(pending).status_code == 202
    code = smtp.last_code(account.email)

    changed = client.put(
        PASSWORD,
        json={"current_password": account.password, "new_password": "Un tout nouveau secret 42"},
        headers=bearer(current["access_token"]),
    )
    assert changed.status_code == 204

    late = auth.verify(pending, code)
    assert late.status_code == 401, late.json
    assert "access_token" not in late.json


@pytest.mark.parametrize(
    ("new_password", "reason"),
    [
        ("court", "too_short"),
        ("azertyuiop", "common"),
        ("Soleil2024!", "common"),
        ("moncompte-2026", "context_word"),
        ("CAF!!!2026", "context_word"),
        ("aaaaaaaaaaaa", "repetitive"),
        ("x" * 257, "too_long"),
        ("\ufdfa" * 15, "too_long"),  # 15 characters, 270 once NFKC-normalised
        # 265 characters as typed (decomposed accents), 210 once normalised: sign-in caps
        # the typed form at 256, so this one could not be typed the same way to sign in.
        (unicodedata.normalize("NFD", "Été à Sète, décidé à Orléans ; " * 8)[:265], "too_long"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(client, signed_in, account, new_password, reason):
    response = client.put(
        PASSWORD,
        json={"current_password": account.password, "new_password": new_password},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status_code == 400
    assert response.json["code"] == "weak_password"
    assert response.json["reason"] == reason
    assert response.json["detail"].startswith(("Votre mot de passe", "Ce mot de passe"))


def test_current_password_over_the_cap_once_normalised_is_wrong_without_hashing(
    client, signed_in, argon2_inputs
):
    response = client.put(
        PASSWORD,
        json={"current_password": "\ufdfa" * 15, "new_password": "Un tout nouveau secret 42"},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status_code == 400
    assert response.json["code"] == "invalid_current_password"
    assert all(len(text) <= 256 for text in argon2_inputs), sorted(map(len, argon2_inputs))


def test_over_long_new_password_is_refused_before_any_other_work(
    client, signed_in, account, monkeypatch
):
    """The NIR check hashes every 13-digit run: a 60 000-digit password must not get there."""
    from api.services import accounts

    digests = []
    monkeypatch.setattr(accounts, "nir_digest", lambda nir: digests.append(nir) or b"")
    response = client.put(
        PASSWORD,
        json={"current_password": account.password, "new_password": "1" * 60_000},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status_code == 400 and response.json["reason"] == "too_long"
    assert len(digests) == 0


def test_password_containing_the_nir_is_refused(client, signed_in, account):
    response = client.put(
        PASSWORD,
        json={"current_password": account.password, "new_password": f"moi {account.nir} !"},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status_code == 400
    assert response.json["reason"] == "contains_nir"
    assert account.nir not in response.get_data(as_text=True)


def test_password_change_needs_the_current_password(client, signed_in):
    response = client.put(
        PASSWORD,
        json={"current_password": "pas le bon", "new_password": "Un tout nouveau secret 42"},
        headers=bearer(signed_in["access_token"]),
    )
    # A 400, never a 401: an app reads a 401 as "signed out".
    assert response.status_code == 400
    assert response.json["code"] == "invalid_current_password"
    assert response.json["attempts_remaining"] == 4


def test_guesses_of_the_current_password_are_counted_locked_and_told(
    client, signed_in, account, smtp, clock
):
    headers = bearer(signed_in["access_token"])
    wrong = {"current_password": "pas le bon", "new_password": "Un tout nouveau secret 42"}
    statuses = [client.put(PASSWORD, json=wrong, headers=headers).status_code for _ in range(5)]
    assert statuses == [400] * 5
    locked = client.put(
        PASSWORD,
        json={"current_password": account.password, "new_password": "Un tout nouveau secret 42"},
        headers=headers,
    )
    assert locked.status_code == 429 and locked.json["code"] == "too_many_attempts"
    first_wait = int(locked.headers["Retry-After"])
    assert 1 <= first_wait <= 60
    assert "Changement de mot de passe bloqué temporairement" in [
        m["Subject"] for m in smtp.to(account.email)
    ]
    types = [i["type"] for i in client.get(ACTIVITY, headers=headers).json["items"]]
    assert types.count("password_change_failed") == 5 and "password_change_locked" in types

    # The lock grows when it repeats; the session itself stays signed in.
    clock.advance(seconds=first_wait + 1)
    for _ in range(5):
        client.put(PASSWORD, json=wrong, headers=headers)
    again = client.put(PASSWORD, json=wrong, headers=headers)
    assert again.status_code == 429 and int(again.headers["Retry-After"]) > first_wait
    assert client.get("/api/v1/account", headers=headers).status_code == 200


def test_sessions_are_listed_and_can_be_ended(auth, account, client):
    phone = auth.sign_in(account)
    tablet = auth.sign_in(account)
    listed = client.get("/api/v1/account/sessions", headers=bearer(tablet["access_token"]))
    assert listed.status_code == 200
    items = listed.json["items"]
    assert len(items) == 2
    assert sum(item["current"] for item in items) == 1
    assert all(item["amr"] == ["pwd", "otp"] for item in items)
    assert all(item["created_at"].endswith("Z") for item in items)
    other = next(item for item in items if not item["current"])

    ended = client.delete(
        f"/api/v1/account/sessions/{other['id']}", headers=bearer(tablet["access_token"])
    )
    assert ended.status_code == 204
    assert client.get("/api/v1/account", headers=bearer(phone["access_token"])).status_code == 401
    again = client.delete(
        f"/api/v1/account/sessions/{other['id']}", headers=bearer(tablet["access_token"])
    )
    assert again.status_code == 404 and again.json["code"] == "not_found"


def test_another_accounts_session_cannot_be_ended(auth, make_account, client):
    alice, bob = make_account(), make_account()
    alice_tokens = auth.sign_in(alice)
    bob_tokens = auth.sign_in(bob)
    bob_session = client.get(
        "/api/v1/account/sessions", headers=bearer(bob_tokens["access_token"])
    ).json["items"][0]["id"]
    response = client.delete(
        f"/api/v1/account/sessions/{bob_session}", headers=bearer(alice_tokens["access_token"])
    )
    assert response.status_code == 404
    assert (
        client.get("/api/v1/account", headers=bearer(bob_tokens["access_token"])).status_code == 200
    )


def test_activity_is_french_and_newest_first(auth, account, client):
    auth.login(account, password="mauvais mot de passe")
    pair = auth.sign_in(account)
    client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    pair = auth.sign_in(account)
    items = client.get("/api/v1/account/activity", headers=bearer(pair["access_token"])).json[
        "items"
    ]
    assert [item["type"] for item in items] == [
        "sign_in",
        "code_sent",
        "signed_out",
        "sign_in",
        "code_sent",
        "password_failed",
    ]
    assert items[0]["detail"] == "Connexion à votre compte avec le code reçu par courriel."
    assert items[-1]["detail"] == "Mot de passe incorrect lors d'une tentative de connexion."
    assert all(item["at"].endswith("Z") for item in items)
