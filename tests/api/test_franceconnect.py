"""FranceConnect+ sign-in, hand-off, linking and sign-out, against a real OpenID provider.

The provider is the local stand-in of FranceConnect+ (panva's oidc-provider, see
``tests/franceconnect_support.py``): real discovery, real signed and encrypted id_tokens
and userinfo answers, real refusals. The service runs in-process; the provider's
redirects to it are followed through the test client.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import jwt as pyjwt
import pytest

from api.extensions import db
from tests.conftest import bearer
from tests.franceconnect_support import APP_RETURN, CALLBACK, WEB_RETURN, FranceConnectActions


@pytest.fixture
def app_settings(fc_provider) -> dict:
    return fc_provider.service_settings()


@pytest.fixture
def fc(client, fc_provider) -> FranceConnectActions:
    return FranceConnectActions(client, fc_provider)


def claims_of(access_token: str) -> dict:
    return pyjwt.decode(access_token, options={"verify_signature": False})


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code
    return response.json


def link_identity(fc, auth, account, identity: str = "angela") -> dict:
    """FranceConnect+ once (link required), the usual sign-in, then the link."""
    refused = assert_problem(fc.sign_in(identity), 409, "link_required")
    pair = auth.sign_in(account)
    linked = fc.client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": refused["link_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert linked.status_code == 201, linked.json
    return pair


# --- the happy path -----------------------------------------------------------------------


def test_a_linked_identity_signs_in_with_amr_fc_and_its_acr(fc, auth, account, client):
    link_identity(fc, auth, account)

    signed_in = fc.sign_in("angela")

    assert signed_in.status_code == 200, signed_in.json
    pair = signed_in.json
    assert set(pair) >= {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["device_token"].startswith("dt_")
    claims = claims_of(pair["access_token"])
    assert claims["amr"] == ["fc"] and claims["acr"] == "eidas2"
    assert claims["sub"] == account.id
    me = client.get("/api/v1/account", headers=bearer(pair["access_token"]))
    assert me.json["franceconnect"]["linked"] is True
    activity = client.get("/api/v1/account/activity", headers=bearer(pair["access_token"]))
    assert activity.json["items"][0]["detail"] == "Connexion à votre compte avec FranceConnect."
    # The level of assurance stays in the tokens of that session.
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"]))
    assert claims_of(refreshed.json["access_token"])["acr"] == "eidas2"


@pytest.mark.parametrize("profile", ["es256", "rs256"])
def test_both_signing_and_encryption_profiles_of_franceconnect_plus(
    profile, fc_provider, make_settings_app, account
):
    """ES256 signatures with ECDH-ES, and RS256 with RSA-OAEP: both are FranceConnect+'s."""
    client, auth = make_settings_app(fc_provider.service_settings(profile=profile))
    fc = FranceConnectActions(client, fc_provider)
    link_identity(fc, auth, account)
    assert fc.sign_in("angela").status_code == 200


@pytest.fixture
def make_settings_app(app, smtp, redis_prefix):
    """Build another app, on the test's database, with other FranceConnect settings."""
    from api import create_app
    from tests.conftest import AuthActions, ServerLikeClient, make_settings

    built = []

    def build(settings: dict):
        database_url = app.config["SQLALCHEMY_DATABASE_URI"]
        other = create_app(make_settings(database_url, smtp.port, redis_prefix, **settings))
        other.test_client_class = ServerLikeClient
        built.append(other)
        client = other.test_client()
        return client, AuthActions(client, smtp, other.extensions["clock"])

    yield build
    for other in built:
        with other.app_context():
            db.engine.dispose()


def test_start_sends_the_person_to_the_provider_with_fresh_state_and_nonce(fc, app, fc_provider):
    _verifier, provider_url = fc.start(APP_RETURN)
    query = query_of(provider_url)
    assert provider_url.startswith(fc_provider.issuer + "/auth?")
    assert query["response_type"] == "code" and query["prompt"] == "login"
    assert query["redirect_uri"] == CALLBACK
    assert query["acr_values"] == "eidas2"
    assert query["scope"].split() == [
        "openid",
        "given_name",
        "family_name",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
    ]
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    again = query_of(fc.start(APP_RETURN)[1])
    assert again["state"] != query["state"] and again["nonce"] != query["nonce"]
    # Neither is stored as given: only their keyed hashes are.
    dump = database_dump(app)
    assert query["state"] not in dump and query["nonce"] not in dump


def database_dump(app) -> str:
    """Every value of every row, as text: what a copy of the database would show."""
    from api.extensions import db

    with app.app_context():
        rows = []
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()):
                rows.append(" ".join(repr(value) for value in row))
        return "\n".join(rows)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"return_to": "https://pirate.example/", "code_challenge": "A" * 43}, "return_to"),
        ({"return_to": APP_RETURN + "/../x", "code_challenge": "A" * 43}, "return_to"),
        (
            {"return_to": WEB_RETURN + "?next=https://pirate.example", "code_challenge": "A" * 43},
            "return_to",
        ),
        ({"return_to": WEB_RETURN.upper(), "code_challenge": "A" * 43}, "return_to"),
        ({"return_to": APP_RETURN, "code_challenge": "court"}, "code_challenge"),
        ({"return_to": APP_RETURN}, "code_challenge"),
        (
            {"return_to": APP_RETURN, "code_challenge": "A" * 43, "code_challenge_method": "plain"},
            "code_challenge_method",
        ),
    ],
)
def test_start_refuses_any_return_to_off_the_list_and_a_bad_challenge(client, query, field):
    response = client.get("/api/v1/auth/franceconnect/start", query_string=query)
    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"]
    assert "Location" not in response.headers


def test_callback_hands_off_to_the_app_link_once(fc, client):
    verifier, provider_url = fc.start(APP_RETURN)
    callback = fc.to_callback(provider_url)

    first = fc.callback(callback)

    assert first.status_code == 302
    location = first.headers["Location"]
    assert location.startswith(APP_RETURN + "?handoff=fch_")
    # The provider's redirect is spent: its state cannot be used again.
    assert_problem(fc.callback(callback), 400, "franceconnect_failed")
    assert_problem(fc.complete(query_of(location)["handoff"], verifier), 409, "link_required")


def test_an_unknown_state_is_a_problem_not_a_redirect(fc, client):
    response = client.get(
        "/api/v1/auth/franceconnect/callback", query_string={"code": "x", "state": "fcs_inconnu"}
    )
    assert_problem(response, 400, "franceconnect_failed")
    assert_problem(client.get("/api/v1/auth/franceconnect/callback"), 400, "franceconnect_failed")


def test_a_code_injected_into_another_sign_in_fails_its_nonce(fc, caplog):
    """The code of sign-in A replayed with the state of sign-in B: B's nonce refuses it."""
    _verifier_a, provider_url_a = fc.start(APP_RETURN)
    callback_a = fc.to_callback(provider_url_a)
    _verifier_b, provider_url_b = fc.start(APP_RETURN)
    injected = query_of(callback_a)
    injected["state"] = query_of(provider_url_b)["state"]

    response = fc.client.get("/api/v1/auth/franceconnect/callback", query_string=injected)

    assert response.status_code == 302
    assert response.headers["Location"] == APP_RETURN + "?error=franceconnect_failed"
    assert failure_reasons(caplog) == ["id_token refused: nonce does not match this sign-in"]


def test_a_code_the_provider_already_redeemed_is_refused_by_it(fc, caplog):
    """The token endpoint's own refusal (invalid_grant) ends the sign-in kindly."""
    _verifier_a, provider_url_a = fc.start(APP_RETURN)
    callback_a = fc.to_callback(provider_url_a)
    assert fc.callback(callback_a).headers["Location"].startswith(APP_RETURN + "?handoff=")
    _verifier_b, provider_url_b = fc.start(APP_RETURN)
    replayed = {**query_of(callback_a), "state": query_of(provider_url_b)["state"]}

    response = fc.client.get("/api/v1/auth/franceconnect/callback", query_string=replayed)

    assert response.headers["Location"] == APP_RETURN + "?error=franceconnect_failed"
    assert failure_reasons(caplog) == ["token request failed (OAuthError)"]


def test_an_authorization_response_from_another_issuer_is_refused(fc):
    """RFC 9207: the provider names itself in its redirect; a mix-up is refused."""
    _verifier, provider_url = fc.start(WEB_RETURN)
    callback = query_of(fc.to_callback(provider_url))
    callback["iss"] = "https://pirate.example"
    response = fc.client.get("/api/v1/auth/franceconnect/callback", query_string=callback)
    assert response.headers["Location"] == WEB_RETURN + "?error=franceconnect_failed"


@pytest.mark.parametrize(
    ("required", "given", "accepted"),
    [
        ("eidas2", "eidas1", False),
        ("eidas2", "eidas2", True),
        ("eidas2", "eidas3", True),
        ("eidas3", "eidas2", False),
    ],
)
def test_the_level_of_assurance_must_reach_the_configured_floor(
    required, given, accepted, fc_provider, make_settings_app, caplog
):
    client, _auth = make_settings_app(fc_provider.service_settings(acr=required))
    fc = FranceConnectActions(client, fc_provider)
    _verifier, provider_url = fc.start(APP_RETURN)
    assert query_of(provider_url)["acr_values"] == required

    returned = fc.browser.sign_in(provider_url, identity="angela", acr=given, return_to=APP_RETURN)

    if accepted:
        assert returned.handoff and returned.error is None
    else:
        assert returned.handoff is None and returned.error == "franceconnect_failed"
        assert failure_reasons(caplog) == [f"id_token refused: acr {given} is below {required}"]


def test_a_cancelled_sign_in_at_the_provider_comes_back_as_a_failure(fc, caplog):
    _verifier, provider_url = fc.start(WEB_RETURN)
    returned = fc.browser.cancel(provider_url, return_to=WEB_RETURN)
    assert returned.url == WEB_RETURN + "?error=franceconnect_failed"
    assert failure_reasons(caplog) == ["provider answered 'access_denied'"]


def failure_reasons(caplog) -> list[str]:
    return [r.reason for r in caplog.records if r.getMessage() == "franceconnect sign-in failed"]


@pytest.mark.parametrize(
    ("jwks", "userinfo", "reason"),
    [
        # Tokens signed by a key the provider does not publish (even after a fresh fetch).
        ("rotated", "genuine", "id_token refused: signature not verified"),
        # A userinfo answer signed by someone else, under the provider's key id.
        ("genuine", "forged", "userinfo refused: signature not verified"),
        # A genuinely signed answer about somebody else.
        ("genuine", "other_subject", "userinfo refused: userinfo is about another subject"),
        # Plain JSON: anyone in the middle could have written it.
        ("genuine", "unencrypted", "userinfo is not a signed JWT"),
    ],
)
def test_tokens_the_provider_did_not_sign_for_this_person_are_refused(
    fc, fc_provider, jwks, userinfo, reason, caplog
):
    fc_provider.behave(jwks=jwks, userinfo=userinfo)
    returned, _verifier = fc.run("angela")
    assert returned.handoff is None and returned.error == "franceconnect_failed"
    assert [r for r in failure_reasons(caplog) if r.startswith(reason)], failure_reasons(caplog)


def test_keys_the_provider_rotated_are_fetched_again(fc, fc_provider, clock):
    """A signature under an unknown key sends the service back to the provider's JWKS."""
    fc_provider.behave(jwks="rotated")
    assert fc.run("angela")[0].error == "franceconnect_failed"  # the service now caches those
    fc_provider.behave()
    clock.advance(seconds=31)  # refetches are spaced out, not refused
    assert fc.run("angela")[0].handoff is not None


@pytest.mark.parametrize(
    ("profile", "encrypted", "reason"),
    [
        ("hs256", True, "id_token refused: algorithm 'HS256' is not allowed"),
        ("plain", True, "id_token refused: not encrypted to the service's key"),
        ("plain", False, None),  # FranceConnect (not +): signed only, and no keys configured
    ],
)
def test_signature_and_encryption_policy(
    profile, encrypted, reason, fc_provider, make_settings_app, caplog
):
    settings = fc_provider.service_settings(profile=profile, encrypted=encrypted)
    client, _auth = make_settings_app(settings)
    returned, _verifier = FranceConnectActions(client, fc_provider).run("angela")
    if reason is None:
        assert returned.handoff is not None, failure_reasons(caplog)
    else:
        assert returned.error == "franceconnect_failed"
        assert failure_reasons(caplog) == [reason]


def test_the_state_lives_ten_minutes(fc, clock):
    _verifier, provider_url = fc.start(APP_RETURN)
    callback = fc.to_callback(provider_url)
    clock.advance(minutes=10, seconds=1)
    response = fc.callback(callback)
    assert response.headers["Location"] == APP_RETURN + "?error=franceconnect_failed"


# --- the hand-off -------------------------------------------------------------------------


def test_a_handoff_works_once(fc, auth, account):
    link_identity(fc, auth, account)
    returned, verifier = fc.run("angela")
    assert fc.complete(returned.handoff, verifier).status_code == 200
    assert_problem(fc.complete(returned.handoff, verifier), 401, "token_invalid")


def test_a_handoff_needs_the_verifier_of_the_app_that_started(fc, auth, account):
    link_identity(fc, auth, account)
    returned, verifier = fc.run("angela")
    from mobile_mock.franceconnect import new_verifier

    assert_problem(fc.complete(returned.handoff, new_verifier()), 401, "token_invalid")
    # The app that holds the verifier still completes it.
    assert fc.complete(returned.handoff, verifier).status_code == 200


def test_a_handoff_lives_two_minutes(fc, auth, account, clock):
    link_identity(fc, auth, account)
    returned, verifier = fc.run("angela")
    clock.advance(minutes=2, seconds=1)
    assert_problem(fc.complete(returned.handoff, verifier), 401, "token_invalid")


@pytest.mark.parametrize(
    "body",
    [
        {"handoff": "fch_inconnu", "code_verifier": "v" * 43},
        {"handoff": "fcl_autre_sorte", "code_verifier": "v" * 43},
    ],
)
def test_an_unknown_handoff_is_refused(fc, body):
    assert_problem(
        fc.client.post("/api/v1/auth/franceconnect/complete", json=body), 401, "token_invalid"
    )


def test_a_malformed_verifier_is_a_validation_error(fc):
    response = fc.complete("fch_x", "trop-court")
    assert "code_verifier" in assert_problem(response, 400, "validation_error")["errors"]


def test_a_known_device_keeps_its_device_token(fc, auth, account):
    pair = link_identity(fc, auth, account)
    returned, verifier = fc.run("angela")
    signed_in = fc.complete(returned.handoff, verifier, device_token=pair["device_token"])
    assert signed_in.json["device_token"] == pair["device_token"]


# --- linking ------------------------------------------------------------------------------


def test_linking_shows_the_names_once_and_tells_the_holder(fc, auth, account, client, smtp):
    refused = assert_problem(fc.sign_in("angela"), 409, "link_required")
    assert refused["link_token"].startswith("fcl_") and refused["expires_in"] == 600
    pair = auth.sign_in(account)
    headers = bearer(pair["access_token"])
    assert client.get("/api/v1/account", headers=headers).json["franceconnect"] == {"linked": False}

    linked = client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": refused["link_token"]},
        headers=headers,
    )

    assert linked.status_code == 201
    assert linked.json["given_name"] == "Angela Claire Louise"
    assert linked.json["family_name"] == "DUBOIS"
    status = client.get("/api/v1/account", headers=headers).json["franceconnect"]
    assert status == {"linked": True, "linked_at": linked.json["linked_at"]}
    notice = smtp.wait_for(account.email, "FranceConnect a été associé")
    assert "Gérer mon compte" in notice.get_body(preferencelist=("plain",)).get_content()
    activity = client.get("/api/v1/account/activity", headers=headers).json["items"]
    assert activity[0]["type"] == "franceconnect_linked"
    assert "associé à FranceConnect" in activity[0]["detail"]
    # Spent: the same token links nothing more.
    again = client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": refused["link_token"]},
        headers=headers,
    )
    assert_problem(again, 400, "link_token_invalid")


def test_linking_needs_a_fresh_session(fc, auth, account, client, clock):
    refused = assert_problem(fc.sign_in("angela"), 409, "link_required")
    pair = auth.sign_in(account)
    clock.advance(minutes=5, seconds=1)
    stale = client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": refused["link_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert_problem(stale, 401, "reauthentication_required")


def test_a_link_token_lives_ten_minutes(fc, auth, account, client, clock):
    refused = assert_problem(fc.sign_in("angela"), 409, "link_required")
    clock.advance(minutes=10, seconds=1)
    pair = auth.sign_in(account)
    late = client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": refused["link_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert_problem(late, 400, "link_token_invalid")


def test_one_identity_for_one_account(fc, auth, make_account, client):
    first, second = make_account(), make_account()
    link_identity(fc, auth, first, "angela")

    assert fc.sign_in("angela").status_code == 200  # angela signs in to the first account
    marcel_token = assert_problem(fc.sign_in("marcel"), 409, "link_required")

    # Another identity for an account already linked: refused too.
    pair = auth.sign_in(first)
    other = client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": marcel_token["link_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert "autre identité" in assert_problem(other, 409, "already_linked")["detail"]

    # Marcel links to the second account instead.
    pair = auth.sign_in(second)
    assert (
        client.post(
            "/api/v1/account/franceconnect",
            json={"link_token": marcel_token["link_token"]},
            headers=bearer(pair["access_token"]),
        ).status_code
        == 201
    )


def test_an_identity_linked_elsewhere_cannot_be_linked_again(fc, auth, make_account, client):
    first, second = make_account(), make_account()
    # Two link tokens for the same identity, before either is used.
    token_one = assert_problem(fc.sign_in("angela"), 409, "link_required")["link_token"]
    token_two = assert_problem(fc.sign_in("angela"), 409, "link_required")["link_token"]
    pair = auth.sign_in(first)
    assert (
        client.post(
            "/api/v1/account/franceconnect",
            json={"link_token": token_one},
            headers=bearer(pair["access_token"]),
        ).status_code
        == 201
    )
    pair = auth.sign_in(second)
    taken = client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": token_two},
        headers=bearer(pair["access_token"]),
    )
    assert_problem(taken, 409, "already_linked")


def test_unlinking_ends_the_sessions_franceconnect_opened(fc, auth, account, client, smtp):
    password_pair = link_identity(fc, auth, account)
    fc_pair = fc.sign_in("angela").json

    removed = client.delete(
        "/api/v1/account/franceconnect", headers=bearer(password_pair["access_token"])
    )

    assert removed.status_code == 204
    assert_problem(
        client.get("/api/v1/account", headers=bearer(fc_pair["access_token"])),
        401,
        "token_invalid",
    )
    me = client.get("/api/v1/account", headers=bearer(password_pair["access_token"]))
    assert me.json["franceconnect"] == {"linked": False}
    smtp.wait_for(account.email, "FranceConnect a été retiré")
    assert_problem(fc.sign_in("angela"), 409, "link_required")
    again = client.delete(
        "/api/v1/account/franceconnect", headers=bearer(password_pair["access_token"])
    )
    assert_problem(again, 404, "not_found")


def test_a_changed_pivot_identity_must_be_linked_again(fc, fc_provider, auth, account, smtp):
    link_identity(fc, auth, account)
    fc_provider.set_identity(
        "angela", {**fc_provider_identity("angela"), "birthdate": "1962-08-25"}
    )

    changed = assert_problem(fc.sign_in("angela"), 409, "link_required")

    assert "ne correspond plus" in changed["detail"]
    smtp.wait_for(account.email, "Connexion avec FranceConnect refusée")
    pair = auth.sign_in(account)
    events = fc.client.get("/api/v1/account/activity", headers=bearer(pair["access_token"]))
    assert "franceconnect_identity_changed" in [item["type"] for item in events.json["items"]]
    # The holder confirms the new identity; it signs in again.
    relinked = fc.client.post(
        "/api/v1/account/franceconnect",
        json={"link_token": changed["link_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert relinked.status_code == 201
    assert fc.sign_in("angela").status_code == 200


def fc_provider_identity(login: str) -> dict[str, str]:
    from tests.franceconnect_support import IDENTITIES

    return dict(IDENTITIES[login])


def test_a_disabled_account_does_not_sign_in_with_franceconnect(fc, auth, account, runner):
    link_identity(fc, auth, account)
    assert runner.invoke(args=["accounts", "disable", "--nir", account.nir]).exit_code == 0
    assert_problem(fc.sign_in("angela"), 401, "token_invalid")


# --- a strong sign-in: recovery -----------------------------------------------------------


def test_after_franceconnect_the_holder_sets_a_new_password_without_the_old_one(
    fc, auth, account, client
):
    password_pair = link_identity(fc, auth, account)
    # The password forgotten, the person tried until the sign-in locked.
    for _ in range(5):
        auth.login(account, password="Je ne sais plus du tout")
    assert auth.login(account).status_code == 429
    fc_pair = fc.sign_in("angela").json

    changed = client.put(
        "/api/v1/account/password",
        json={"new_password": "Une toute nouvelle phrase 2027"},
        headers=bearer(fc_pair["access_token"]),
    )

    assert changed.status_code == 204, changed.json
    # Everywhere else is signed out, as with any password change.
    assert_problem(
        client.get("/api/v1/account", headers=bearer(password_pair["access_token"])),
        401,
        "token_invalid",
    )
    account.password = "Une toute nouvelle phrase 2027"
    assert auth.login(account).status_code == 200


def test_without_franceconnect_the_current_password_is_required(auth, account, client):
    pair = auth.sign_in(account)
    response = client.put(
        "/api/v1/account/password",
        json={"new_password": "Une toute nouvelle phrase 2027"},
        headers=bearer(pair["access_token"]),
    )
    assert "current_password" in assert_problem(response, 400, "validation_error")["errors"]


def test_the_recovery_window_is_the_freshness_window(fc, auth, account, client, clock):
    link_identity(fc, auth, account)
    fc_pair = fc.sign_in("angela").json
    clock.advance(minutes=5, seconds=1)
    late = client.put(
        "/api/v1/account/password",
        json={"new_password": "Une toute nouvelle phrase 2027"},
        headers=bearer(fc_pair["access_token"]),
    )
    assert_problem(late, 401, "reauthentication_required")


def test_a_franceconnect_sign_in_may_enrol_a_phone(fc, auth, account, client):
    link_identity(fc, auth, account)
    fc_pair = fc.sign_in("angela").json
    options = client.post(
        "/api/v1/account/authenticators/options", headers=bearer(fc_pair["access_token"])
    )
    assert options.status_code == 200 and options.json["challenge"]


# --- signing out --------------------------------------------------------------------------


def test_signing_out_of_a_franceconnect_session_signs_out_at_the_provider(
    fc, fc_provider, auth, account, client, app
):
    link_identity(fc, auth, account)
    returned, verifier = fc.run("angela", return_to=WEB_RETURN)
    pair = fc.complete(returned.handoff, verifier).json

    signed_out = client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))

    assert signed_out.status_code == 200
    url = signed_out.json["franceconnect_logout_url"]
    assert url.startswith(fc_provider.issuer + "/session/end?")
    query = query_of(url)
    assert query["post_logout_redirect_uri"] == WEB_RETURN and len(query["state"]) >= 32
    assert query["id_token_hint"].count(".") == 2  # the signed id_token, decrypted
    # The provider accepts it: it signs the person out and sends them back to the page.
    back = fc.browser.sign_out(url, return_to=WEB_RETURN)
    assert back.url == WEB_RETURN + "?" + urlsplit(back.url).query
    assert query_of(back.url)["state"] == query["state"]
    # The session is over, and the id_token is forgotten.
    assert_problem(
        client.get("/api/v1/account", headers=bearer(pair["access_token"])), 401, "token_invalid"
    )
    assert query["id_token_hint"] not in database_dump(app)
    assert "franceconnect_sessions" not in table_counts(app)


def table_counts(app) -> dict[str, int]:
    """The tables that hold rows, with how many."""
    from sqlalchemy import func, select

    from api.extensions import db

    with app.app_context():
        counts = {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }
    return {name: count for name, count in counts.items() if count}


def test_an_app_session_signs_out_back_to_the_web_page(fc, auth, account, client):
    """The provider takes web addresses only: an app link comes back to the web page."""
    link_identity(fc, auth, account)
    pair = fc.sign_in("angela").json  # started from the app link
    url = client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"])).json[
        "franceconnect_logout_url"
    ]
    assert query_of(url)["post_logout_redirect_uri"] == WEB_RETURN


def test_other_sessions_sign_out_as_before(auth, account, client):
    pair = auth.sign_in(account)
    signed_out = client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    assert signed_out.status_code == 204 and signed_out.data == b""


# --- what is kept -------------------------------------------------------------------------


def test_only_hashes_of_the_identity_are_kept(fc, auth, account, app, runner, clock):
    link_identity(fc, auth, account)
    returned, verifier = fc.run("angela")
    pair = fc.complete(returned.handoff, verifier).json

    dump = database_dump(app)
    identity = fc_provider_identity("angela")
    for claim in ("given_name", "family_name", "birthdate", "birthplace", "preferred_username"):
        assert identity[claim] not in dump, claim
    assert "angela" not in dump  # the provider's subject, only as a keyed hash
    assert "eyJ" not in dump  # no token in clear (the id_token is sealed)
    assert pair["refresh_token"] not in dump

    # Once the attempts are over, the purge takes them away with their secrets.
    clock.advance(hours=2)
    assert runner.invoke(args=["maintenance", "purge"]).exit_code == 0
    counts = table_counts(app)
    assert "franceconnect_attempts" not in counts and "franceconnect_secrets" not in counts
    assert counts["franceconnect_links"] == 1


def test_the_menu_offers_franceconnect(signed_in, client):
    items = client.get("/api/v1/account/menu", headers=bearer(signed_in["access_token"])).json
    entries = {item["id"]: item for item in items["items"]}
    assert entries["franceconnect_link"]["href"] == "/api/v1/account/franceconnect"
    assert entries["franceconnect_link"]["method"] == "POST"
    assert entries["franceconnect_unlink"]["method"] == "DELETE"
    assert list(entries)[-1] == "activity"


def test_openapi_describes_the_franceconnect_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"post"} <= set(paths["/api/v1/auth/franceconnect/complete"])
    assert {"post", "delete"} <= set(paths["/api/v1/account/franceconnect"])
    start = paths["/api/v1/auth/franceconnect/start"]["get"]
    assert {p["name"] for p in start["parameters"]} >= {"return_to", "code_challenge"}
    assert "302" in start["responses"]
    complete = paths["/api/v1/auth/franceconnect/complete"]["post"]["responses"]
    assert "link_required" in complete["409"]["description"]
    logout = paths["/api/v1/auth/logout"]["post"]["responses"]
    assert {"200", "204"} <= set(logout)
