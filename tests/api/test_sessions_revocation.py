"""« Déconnecter tous mes appareils » and « Ce n'était pas moi »."""

from __future__ import annotations

import pytest

from tests.conftest import bearer

SESSIONS = "/api/v1/account/sessions"
ACTIVITY = "/api/v1/account/activity"


def alive(client, pair: dict) -> bool:
    return client.get("/api/v1/account", headers=bearer(pair["access_token"])).status_code == 200


def activity(client, pair: dict) -> list[dict]:
    return client.get(ACTIVITY, headers=bearer(pair["access_token"])).json["items"]


@pytest.fixture
def three(auth, account) -> list[dict]:
    """Three sessions of the same holder: a phone, a tablet, a computer."""
    return [auth.sign_in(account) for _ in range(3)]


def test_disconnecting_every_device_keeps_only_the_current_session(client, three):
    current, *others = three
    response = client.delete(SESSIONS, headers=bearer(current["access_token"]))
    assert response.status_code == 204
    assert alive(client, current)
    for pair in others:
        assert not alive(client, pair)
        refreshed = client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"]))
        assert refreshed.status_code == 401
    listed = client.get(SESSIONS, headers=bearer(current["access_token"])).json["items"]
    assert [item["current"] for item in listed] == [True]
    assert activity(client, current)[0]["detail"] == (
        "Vous avez déconnecté tous vos autres appareils."
    )


def test_activity_items_carry_an_id(client, three):
    items = activity(client, three[0])
    assert items and all(isinstance(item["id"], str) and item["id"] for item in items)
    assert len({item["id"] for item in items}) == len(items)


def test_not_me_ends_every_other_session_and_is_recorded(client, three):
    current, *others = three
    sign_in = next(item for item in activity(client, current) if item["type"] == "sign_in")
    response = client.post(
        f"{ACTIVITY}/{sign_in['id']}/not-me", headers=bearer(current["access_token"])
    )
    assert response.status_code == 204
    assert alive(client, current)
    assert not any(alive(client, pair) for pair in others)
    newest = activity(client, current)[0]
    assert newest["type"] == "not_me_reported"
    assert "Ce n'était pas moi" in newest["detail"]


def test_not_me_on_someone_elses_event_is_not_found(client, auth, make_account):
    mine, theirs = auth.sign_in(make_account()), auth.sign_in(make_account())
    their_event = activity(client, theirs)[0]["id"]
    for event_id in (their_event, "no-such-event"):
        response = client.post(
            f"{ACTIVITY}/{event_id}/not-me", headers=bearer(mine["access_token"])
        )
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json["code"] == "not_found"
    # Nothing ended on either side.
    assert alive(client, mine) and alive(client, theirs)


@pytest.mark.parametrize(
    "path",
    [f"{ACTIVITY}/%00/not-me", f"{ACTIVITY}/a%0Ab/not-me", f"{SESSIONS}/%00"],
    ids=["not-me-nul", "not-me-newline", "session-nul"],
)
def test_an_identifier_with_a_control_character_is_not_found(client, three, path):
    """PostgreSQL refuses NUL in any string: such an id is a 404, never a 500."""
    current, *others = three
    headers = bearer(current["access_token"])
    call = client.post if path.endswith("not-me") else client.delete
    response = call(path, headers=headers)
    assert (response.status_code, response.json["code"]) == (404, "not_found")
    assert all(alive(client, pair) for pair in others)


def test_disconnecting_every_device_ends_mediators_sessions_too(
    client, auth, account, mediator_auth, mediator
):
    holder = auth.sign_in(account)
    helper = mediator_auth.activate(mediator)
    delegated = mediator_auth.act_for(holder["access_token"], mediator, helper["access_token"]).json
    assert alive(client, delegated)
    # The mediator may not do it themselves.
    for method, path in (
        ("DELETE", SESSIONS),
        ("POST", f"{ACTIVITY}/{activity(client, holder)[0]['id']}/not-me"),
    ):
        refused = client.open(path, method=method, headers=bearer(delegated["access_token"]))
        assert (refused.status_code, refused.json["code"]) == (403, "delegation_forbidden")
    assert client.delete(SESSIONS, headers=bearer(holder["access_token"])).status_code == 204
    assert not alive(client, delegated)
    assert alive(client, holder)


def test_security_notices_point_to_the_buttons(client, auth, account, smtp):
    pair = auth.sign_in(account)
    client.put(
        "/api/v1/account/password",
        json={"current_password": account.password, "new_password": "Toujours plus solide 88"},
        headers=bearer(pair["access_token"]),
    )
    notice = smtp.wait_for(account.email, "mot de passe Mon Compte a été modifié")
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "« Ce n'était pas moi »" in text
    assert "« Déconnecter tous mes appareils »" in text


def test_the_menu_offers_to_disconnect_every_device(client, signed_in):
    items = client.get("/api/v1/account/menu", headers=bearer(signed_in["access_token"])).json[
        "items"
    ]
    entry = next(item for item in items if item["id"] == "sessions_end_all")
    assert (entry["label"], entry["method"], entry["href"]) == (
        "Déconnecter tous mes appareils",
        "DELETE",
        SESSIONS,
    )
