"""Mandates and delegated sessions: a mediator acts for a holder, within what was granted."""

from __future__ import annotations

import re

import jwt as pyjwt
import pytest

from api.nir import mask_nir
from api.services.tokens import Holder, Principal
from tests.conftest import bearer, sample_path
from tests.franceconnect_support import APP_RETURN, CALLBACK, WEB_RETURN

MANDATES = "/api/v1/account/mandates"
MEDIATOR_MANDATES = "/api/v1/mediator/mandates"
ACCOUNT = "/api/v1/account"
ACTIVITY = "/api/v1/account/activity"
# A FranceConnect+ relying party whose provider is never reached: its link endpoints exist.
FRANCECONNECT = {
    "FRANCECONNECT_ISSUER": "http://127.0.0.1:9",
    "FRANCECONNECT_CLIENT_ID": "moncompte",
    "FRANCECONNECT_CLIENT_SECRET": "c" * 64,
    "FRANCECONNECT_REDIRECT_URI": CALLBACK,
    "FRANCECONNECT_RETURN_URLS": [WEB_RETURN, APP_RETURN],
}
# The guards run with and without FranceConnect+, whose routes exist only when configured.
with_and_without_franceconnect = pytest.mark.parametrize(
    "app_settings", [{}, FRANCECONNECT], ids=["plain", "franceconnect"]
)


def claims_of(token: str) -> dict:
    return pyjwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def holder(auth, account) -> dict:
    """The holder's own, fresh session."""
    return auth.sign_in(account)


@pytest.fixture
def helper(mediator_auth, mediator) -> dict:
    """The mediator, signed in with their own password (already changed) and code."""
    return mediator_auth.activate(mediator)


def grant(client, holder, mediator, scopes=("consult", "declare"), days=31):
    return client.post(
        MANDATES,
        json={"mediator_code": mediator.code, "scopes": list(scopes), "duration_days": days},
        headers=bearer(holder["access_token"]),
    )


def open_session(client, helper, mandate_id):
    return client.post(
        f"{MEDIATOR_MANDATES}/{mandate_id}/session", headers=bearer(helper["access_token"])
    )


@pytest.fixture
def delegated(client, holder, helper, mediator) -> dict:
    """A delegated session under a fresh consult + declare mandate: its token and mandate."""
    mandate = grant(client, holder, mediator).json
    token = open_session(client, helper, mandate["id"])
    assert token.status_code == 200, token.json
    return {"access_token": token.json["access_token"], "mandate": mandate}


# --- the holder grants, lists and revokes ------------------------------------------------


def test_a_holder_grants_a_mandate_and_is_told(client, holder, mediator, account, smtp):
    response = grant(client, holder, mediator, scopes=("declare", "consult"), days=182)
    assert response.status_code == 201, response.json
    mandate = response.json
    assert mandate["mediator"] == {
        "name": "Camille Martin",
        "organisation": "France Services de Montreuil",
    }
    assert mandate["scopes"] == ["consult", "declare"]
    assert mandate["revoked_at"] is None and mandate["in_force"] is True
    assert mandate["created_at"].endswith("Z") and mandate["expires_at"].endswith("Z")

    mail = smtp.wait_for(account.email, "mandat")
    assert mail["Subject"] == "Vous avez donné un mandat à un aidant"
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Camille Martin (France Services de Montreuil)" in body
    assert "consulter votre compte et faire vos déclarations" in body
    latest = client.get(ACTIVITY, headers=bearer(holder["access_token"])).json["items"][0]
    assert latest["type"] == "mandate_granted"
    assert re.fullmatch(
        r"Vous avez donné un mandat à Camille Martin \(France Services de Montreuil\) pour "
        r"consulter votre compte et faire vos déclarations, jusqu'au \d\d/\d\d/\d{4}\.",
        latest["detail"],
    )
    listed = client.get(MANDATES, headers=bearer(holder["access_token"])).json["items"]
    assert [item["id"] for item in listed] == [mandate["id"]]


def test_the_code_is_forgiving_of_spaces_dashes_and_case(client, holder, mediator):
    typed = f"{mediator.code[:4].lower()} -{mediator.code[4:]}"
    response = client.post(
        MANDATES,
        json={"mediator_code": typed, "scopes": ["consult"], "duration_days": 1},
        headers=bearer(holder["access_token"]),
    )
    assert response.status_code == 201, response.json


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": []}, "scopes"),
        ({"scopes": ["consult", "consult"]}, "scopes"),
        ({"scopes": ["payer"]}, "scopes.0"),
        ({"duration_days": 30}, "duration_days"),
        ({"duration_days": "31"}, "duration_days"),
        ({"mediator_code": "ABC"}, "mediator_code"),
        ({"mediator_code": "K7QM4TX0"}, "mediator_code"),  # 0 is not in the alphabet
    ],
)
def test_a_mandate_is_scoped_and_time_boxed_as_the_contract_says(
    client, holder, mediator, body, field
):
    payload = {"mediator_code": mediator.code, "scopes": ["consult"], "duration_days": 31}
    payload.update(body)
    response = client.post(MANDATES, json=payload, headers=bearer(holder["access_token"]))
    assert response.status_code == 400 and response.json["code"] == "validation_error"
    assert field in response.json["errors"]


def test_an_unknown_or_disabled_mediator_is_not_found(client, holder, mediator, runner):
    unknown = client.post(
        MANDATES,
        json={"mediator_code": "AAAA2222", "scopes": ["consult"], "duration_days": 1},
        headers=bearer(holder["access_token"]),
    )
    assert unknown.status_code == 404 and unknown.json["code"] == "mediator_not_found"
    runner.invoke(args=["mediators", "disable", "--email", mediator.email])
    disabled = grant(client, holder, mediator)
    assert disabled.status_code == 404 and disabled.json["code"] == "mediator_not_found"


def test_granting_needs_a_fresh_sign_in(client, holder, mediator, clock):
    clock.advance(seconds=301)
    response = grant(client, holder, mediator)
    assert response.status_code == 401 and response.json["code"] == "reauthentication_required"


def test_a_new_mandate_to_the_same_mediator_replaces_the_previous(client, holder, helper, mediator):
    first = grant(client, holder, mediator, scopes=("consult",)).json
    second = grant(client, holder, mediator, scopes=("consult", "documents")).json
    listed = client.get(MANDATES, headers=bearer(holder["access_token"])).json["items"]
    assert [(m["id"], m["in_force"]) for m in listed] == [
        (second["id"], True),
        (first["id"], False),
    ]
    seen = client.get(MEDIATOR_MANDATES, headers=bearer(helper["access_token"])).json["items"]
    assert [m["id"] for m in seen] == [second["id"]]
    assert open_session(client, helper, first["id"]).status_code == 404


def test_a_holder_cannot_revoke_another_holders_mandate(
    client, auth, holder, make_account, mediator
):
    mandate = grant(client, holder, mediator).json
    stranger = auth.sign_in(make_account())
    response = client.delete(
        f"{MANDATES}/{mandate['id']}", headers=bearer(stranger["access_token"])
    )
    assert response.status_code == 404
    assert client.get(MANDATES, headers=bearer(stranger["access_token"])).json == {"items": []}


# --- the mediator's side -------------------------------------------------------------------


def test_the_mediator_sees_masked_nirs_only(client, holder, helper, mediator, account):
    mandate = grant(client, holder, mediator, days=1).json
    response = client.get(MEDIATOR_MANDATES, headers=bearer(helper["access_token"]))
    assert response.status_code == 200
    assert response.json["items"] == [
        {
            "id": mandate["id"],
            "holder_nir_masked": mask_nir(account.nir),
            "scopes": ["consult", "declare"],
            "created_at": mandate["created_at"],
            "expires_at": mandate["expires_at"],
        }
    ]
    text = response.get_data(as_text=True)
    assert account.nir not in text and account.email not in text


def test_a_delegated_token_says_who_acts_for_whom(client, holder, helper, mediator, account):
    mandate = grant(client, holder, mediator).json
    response = open_session(client, helper, mandate["id"])
    assert response.status_code == 200
    assert set(response.json) == {"access_token", "token_type", "expires_in"}  # no refresh
    assert response.json["expires_in"] == 3600
    claims = claims_of(response.json["access_token"])
    assert claims["sub"] == account.id
    assert claims["act"] == {
        "sub": f"mediator:{mediator.id}",
        "name": "Camille Martin",
        "organisation": "France Services de Montreuil",
    }
    assert claims["scope"] == "consult declare"
    assert claims["aud"] == "mon-compte-app"
    assert claims["exp"] - claims["iat"] <= 3600
    assert account.nir not in str(claims) and account.email not in str(claims)


def test_a_delegated_session_never_outlives_its_mandate(
    client, holder, helper, mediator, mediator_auth, clock
):
    mandate = grant(client, holder, mediator, days=1).json
    clock.advance(hours=23, minutes=30)
    helper = mediator_auth.sign_in(mediator)  # the next morning, a new working day
    response = open_session(client, helper, mandate["id"])
    assert response.status_code == 200
    assert 1790 <= response.json["expires_in"] <= 1800


def test_the_mediator_reads_the_account_and_the_holder_sees_it(client, holder, delegated, account):
    headers = bearer(delegated["access_token"])
    shown = client.get(ACCOUNT, headers=headers)
    assert shown.status_code == 200 and shown.json["nir_masked"] == mask_nir(account.nir)
    menu = client.get(f"{ACCOUNT}/menu", headers=headers).json["items"]
    assert [item["id"] for item in menu] == ["activity"]  # nothing they could change
    seen = client.get(ACTIVITY, headers=headers).json["items"][0]
    assert seen["type"] == "delegated_session_opened"
    assert seen["detail"] == (
        "Camille Martin (France Services de Montreuil) a ouvert une session sur votre "
        "compte grâce à votre mandat, pour consulter votre compte et faire vos déclarations."
    )
    # The holder, in person, sees the same line, and when the mandate was last used.
    own = client.get(ACTIVITY, headers=bearer(holder["access_token"])).json["items"][0]
    assert own == seen
    mandate = client.get(MANDATES, headers=bearer(holder["access_token"])).json["items"][0]
    assert mandate["last_used_at"] is not None


def _holder_routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        doc = getattr(app.view_functions[rule.endpoint], "api_doc", None)
        if doc and doc["requires"] is Holder:
            path = sample_path(rule.rule)
            routes += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


@with_and_without_franceconnect
def test_every_change_to_the_account_requires_the_holder_in_person(app, app_settings):
    """A guard for every endpoint, today's and tomorrow's: whatever changes an account
    (credentials, contacts, devices, mandates, FranceConnect link) declares Holder."""
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert ("/api/v1/account/franceconnect" in rules) is bool(app_settings)
    for rule in app.url_map.iter_rules():
        doc = getattr(app.view_functions[rule.endpoint], "api_doc", None)
        if doc is None or not rule.rule.startswith("/api/v1/account"):
            continue
        changes = rule.methods - {"GET", "HEAD", "OPTIONS"}
        if changes or "/mandates" in rule.rule:
            assert doc["requires"] is Holder, f"{sorted(changes)} {rule.rule} must require Holder"
        else:
            assert doc["requires"] in (Principal, Holder), rule.rule
    assert {"delegation_forbidden"} <= {
        error.code for error in app.view_functions["account.change_password"].api_doc["errors"]
    }


@with_and_without_franceconnect
def test_a_delegated_token_changes_nothing(
    app, client, delegated, holder, account, auth, app_settings
):
    routes = _holder_routes(app)
    assert len(routes) >= 9
    if app_settings:  # linking and unlinking FranceConnect are the holder's alone
        assert {("POST", f"{ACCOUNT}/franceconnect"), ("DELETE", f"{ACCOUNT}/franceconnect")} <= (
            set(routes)
        )
    headers = bearer(delegated["access_token"])
    for method, path in routes:
        response = client.open(path, method=method, json={}, headers=headers)
        assert (response.status_code, response.json["code"]) == (403, "delegation_forbidden"), (
            method,
            path,
        )
    # Not even with a well-formed body: the password, devices and mandates are as they were.
    change = client.put(
        f"{ACCOUNT}/password",
        json={"current_password": account.password, "new_password": "Pris par un aidant 42"},
        headers=headers,
    )
    assert change.status_code == 403
    assert auth.login(account).status_code == 200
    revoke = client.delete(f"{MANDATES}/{delegated['mandate']['id']}", headers=headers)
    assert revoke.status_code == 403
    listed = client.get(MANDATES, headers=bearer(holder["access_token"])).json["items"]
    assert listed[0]["in_force"] is True


def test_a_delegated_token_changes_no_contact(client, delegated, holder, account, smtp):
    """Where codes go is the holder's alone: a mediator can neither ask for, confirm nor
    remove a contact, even with well-formed bodies and a mandate freshly opened."""
    headers = bearer(delegated["access_token"])
    contacts = f"{ACCOUNT}/contacts"
    before = client.get(contacts, headers=bearer(holder["access_token"])).json
    sent_before = len(smtp.messages)
    for kind, body in (
        ("email", {"value": "aidant@exemple.fr"}),
        ("phone", {"value": "0611223344"}),
        ("trusted_email", {"value": "proche@exemple.fr", "name": "Un proche"}),
    ):
        asked = client.put(f"{contacts}/{kind}", json=body, headers=headers)
        assert (asked.status_code, asked.json["code"]) == (403, "delegation_forbidden")
    confirmed = client.post(f"{contacts}/email/verify", json={"code": "123456"}, headers=headers)
    assert (confirmed.status_code, confirmed.json["code"]) == (403, "delegation_forbidden")
    removed = client.delete(f"{contacts}/email", headers=headers)
    assert (removed.status_code, removed.json["code"]) == (403, "delegation_forbidden")
    # Nothing was sent anywhere and the contacts are as they were.
    assert len(smtp.messages) == sent_before
    assert client.get(contacts, headers=bearer(holder["access_token"])).json == before
    assert before["email"]["value"] == account.email


def test_a_mandate_without_consult_does_not_read_the_account(client, holder, helper, mediator):
    mandate = grant(client, holder, mediator, scopes=("declare",)).json
    token = open_session(client, helper, mandate["id"]).json["access_token"]
    assert claims_of(token)["scope"] == "declare"
    response = client.get(ACCOUNT, headers=bearer(token))
    assert response.status_code == 403 and response.json["code"] == "insufficient_scope"
    assert client.get(ACTIVITY, headers=bearer(token)).status_code == 403
    # The mediator may still close the session they opened.
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 401


# --- ending: revocation, expiry, sign-out, disabling ---------------------------------------


def test_a_revoked_mandate_stops_the_mediator_at_once(client, holder, helper, delegated):
    headers = bearer(delegated["access_token"])
    assert client.get(ACCOUNT, headers=headers).status_code == 200
    mandate_id = delegated["mandate"]["id"]
    revoked = client.delete(f"{MANDATES}/{mandate_id}", headers=bearer(holder["access_token"]))
    assert revoked.status_code == 204

    refused = client.get(ACCOUNT, headers=headers)
    assert refused.status_code == 401 and refused.json["code"] == "token_invalid"
    assert "mandat" in refused.json["detail"]
    assert open_session(client, helper, mandate_id).status_code == 404
    assert client.get(MEDIATOR_MANDATES, headers=bearer(helper["access_token"])).json == {
        "items": []
    }
    again = client.delete(f"{MANDATES}/{mandate_id}", headers=bearer(holder["access_token"]))
    assert again.status_code == 404
    items = client.get(ACTIVITY, headers=bearer(holder["access_token"])).json["items"]
    assert items[0]["detail"] == (
        "Vous avez retiré le mandat donné à Camille Martin (France Services de Montreuil)."
    )


def test_an_expired_mandate_opens_nothing(
    client, holder, helper, mediator, mediator_auth, clock, auth, account
):
    mandate = grant(client, holder, mediator, days=1).json
    token = open_session(client, helper, mandate["id"]).json["access_token"]
    clock.advance(minutes=50)
    assert client.get(ACCOUNT, headers=bearer(token)).status_code == 200
    clock.advance(days=1)
    assert client.get(ACCOUNT, headers=bearer(token)).status_code == 401
    helper = mediator_auth.sign_in(mediator)
    assert client.get(MEDIATOR_MANDATES, headers=bearer(helper["access_token"])).json == {
        "items": []
    }
    response = open_session(client, helper, mandate["id"])
    assert response.status_code == 404 and response.json["code"] == "not_found"
    holder = auth.sign_in(account)
    listed = client.get(MANDATES, headers=bearer(holder["access_token"])).json["items"]
    assert listed[0]["in_force"] is False


def test_a_delegated_session_ends_after_an_hour(client, delegated, clock):
    clock.advance(minutes=59)
    assert client.get(ACCOUNT, headers=bearer(delegated["access_token"])).status_code == 200
    clock.advance(minutes=1, seconds=1)
    assert client.get(ACCOUNT, headers=bearer(delegated["access_token"])).status_code == 401


def test_another_mediators_mandate_is_not_found(
    client, holder, mediator, make_mediator, mediator_auth
):
    mandate = grant(client, holder, mediator).json
    other = make_mediator(name="Autre Aidant")
    other_tokens = mediator_auth.activate(other)
    response = open_session(client, other_tokens, mandate["id"])
    assert response.status_code == 404


def test_the_mediator_signs_out_of_a_delegated_session(client, holder, delegated):
    headers = bearer(delegated["access_token"])
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get(ACCOUNT, headers=headers).status_code == 401
    # Only the delegated session ended: the holder's own is untouched.
    items = client.get(ACTIVITY, headers=bearer(holder["access_token"])).json["items"]
    assert items[0]["type"] == "delegated_session_ended"
    assert items[0]["detail"] == (
        "Camille Martin (France Services de Montreuil) a fermé sa session sur votre compte."
    )


def test_the_mediators_sign_out_ends_their_delegated_sessions(client, helper, delegated):
    assert (
        client.post("/api/v1/mediator/logout", headers=bearer(helper["access_token"])).status_code
        == 204
    )
    assert client.get(ACCOUNT, headers=bearer(delegated["access_token"])).status_code == 401


def test_disabling_the_mediator_ends_their_mandates_at_once(
    client, runner, holder, helper, delegated, mediator
):
    result = runner.invoke(args=["mediators", "disable", "--email", mediator.email])
    assert result.exit_code == 0, result.output
    assert "1 mandate(s) ended" in result.stdout
    assert client.get(ACCOUNT, headers=bearer(delegated["access_token"])).status_code == 401
    listed = client.get(MANDATES, headers=bearer(holder["access_token"])).json["items"]
    assert listed[0]["in_force"] is False and listed[0]["revoked_at"] is not None
    items = client.get(ACTIVITY, headers=bearer(holder["access_token"])).json["items"]
    assert items[0]["detail"] == (
        "Le mandat donné à Camille Martin (France Services de Montreuil) a pris fin : "
        "son compte d'aidant a été fermé."
    )


def test_a_disabled_holder_cannot_be_acted_for(client, runner, account, delegated):
    runner.invoke(args=["accounts", "disable", "--nir", account.nir])
    assert client.get(ACCOUNT, headers=bearer(delegated["access_token"])).status_code == 401


def test_a_mediator_with_the_initial_password_opens_no_session(
    client, holder, make_mediator, mediator_auth
):
    newcomer = make_mediator()
    mandate = grant(client, holder, newcomer).json
    tokens = mediator_auth.sign_in(newcomer)
    response = open_session(client, tokens, mandate["id"])
    assert response.status_code == 403 and response.json["code"] == "password_change_required"
