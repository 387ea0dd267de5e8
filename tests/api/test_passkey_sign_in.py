"""Passkey sign-in: the enrolled phone alone, without NIR or password.

The "phone" is a software authenticator keeping discoverable credentials, presenting the
Android app's origin; signatures are real, nothing cryptographic is mocked. Every refusal
must be the very same ``401 webauthn_failed`` body.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
import pytest
from sqlalchemy import delete, func, select, update

from api.clock import utcnow
from api.errors import PasskeyFailed
from api.extensions import db
from api.models import Authenticator, PasskeyFlow, SecurityEvent, WebAuthnChallenge
from api.webauthn import challenges
from mobile_mock.authenticator import AuthenticatorError, SoftwareAuthenticator, b64url
from tests.conftest import ANDROID_ORIGIN, bearer
from tests.webauthn_support import (
    AUTHENTICATORS,
    BIO_OPTIONS,
    BIO_VERIFY,
    PASSKEY_OPTIONS,
    PASSKEY_VERIFY,
    bio_options,
    bio_verify,
    enrol,
    passkey_options,
    passkey_verify,
    stored,
)

# One body for every refusal: nothing tells which check failed.
REFUSED = PasskeyFailed().to_dict()
assert REFUSED["code"] == "webauthn_failed" and REFUSED["status"] == 401


def assert_refused(response) -> None:
    assert response.status_code == 401, response.json
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json == REFUSED


def sign_in_with_passkey(client, phone, **kwargs):
    started = passkey_options(client)
    assertion = phone.get(started["options"], **{"origin": ANDROID_ORIGIN, **kwargs})
    return passkey_verify(client, started["passkey_token"], assertion)


def events(app, account_id: str, event_type: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(SecurityEvent)
            .where(SecurityEvent.account_id == account_id, SecurityEvent.type == event_type)
        )


def test_an_enrolled_phone_signs_in_with_one_assertion(
    client, auth, account, phone, enrolled, smtp, app
):
    mails_before = len(smtp.to(account.email))
    started = passkey_options(client)
    assert started["passkey_token"].startswith("pk_")
    assert started["expires_in"] == 300
    options = started["options"]
    assert options["allowCredentials"] == []  # the phone offers its own passkeys
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"

    response = passkey_verify(
        client, started["passkey_token"], phone.get(options, origin=ANDROID_ORIGIN)
    )
    assert response.status_code == 200, response.json
    pair = response.json
    claims = pyjwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["hwk", "user"] and claims["sub"] == account.id
    assert pair["device_token"].startswith("dt_")
    access = bearer(pair["access_token"])
    me = client.get("/api/v1/account", headers=access).json
    assert me["authenticators"][0]["discoverable"] is True
    assert me["authenticators"][0]["last_used_at"] is not None
    assert stored(app, enrolled["id"]).sign_count == 1
    activity = client.get("/api/v1/account/activity", headers=access).json["items"]
    assert activity[0]["type"] == "sign_in"
    assert activity[0]["detail"] == "Connexion avec la biométrie seule, sans mot de passe."
    listed = client.get("/api/v1/account/sessions", headers=access).json["items"]
    [current] = [s for s in listed if s["current"]]
    assert current["amr"] == ["hwk", "user"]
    assert len(smtp.to(account.email)) == mails_before  # no email, no code
    with app.app_context():
        [flow] = db.session.scalars(select(PasskeyFlow)).all()
        assert flow.completed_at is not None
        assert started["passkey_token"].encode() not in flow.token_hash  # stored hashed

    # The session records the device that opened it: removing the device ends it.
    other = auth.sign_in(account)
    removed = client.delete(
        f"{AUTHENTICATORS}/{enrolled['id']}", headers=bearer(other["access_token"])
    )
    assert removed.status_code == 204
    assert client.get("/api/v1/account", headers=access).json["code"] == "token_invalid"


def forged(token: str) -> str:
    """Return ``token`` with one character of its MAC changed (never one of unused bits)."""
    # Not the last character: part of its bits are base64url padding, and a change there
    # may decode to the very same MAC.
    index = len(token) - 10
    return token[:index] + ("B" if token[index] == "A" else "A") + token[index + 1 :]


def test_the_device_token_the_app_keeps_comes_back(client, make_account, auth, phone):
    alice, bob = make_account(), make_account()
    known = auth.sign_in(alice)
    enrol(client, known["access_token"], phone)
    started = passkey_options(client, device_token=known["device_token"])
    pair = passkey_verify(
        client, started["passkey_token"], phone.get(started["options"], origin=ANDROID_ORIGIN)
    ).json
    assert pair["device_token"] == known["device_token"]

    # Another account's device token, or a forged one, is not this account's device.
    for foreign in (auth.sign_in(bob)["device_token"], forged(known["device_token"])):
        started = passkey_options(client, device_token=foreign)
        pair = passkey_verify(
            client, started["passkey_token"], phone.get(started["options"], origin=ANDROID_ORIGIN)
        ).json
        assert pair["device_token"] not in (foreign, known["device_token"])


@pytest.mark.parametrize(
    ("fault", "kwargs"),
    [
        ("user not verified", {"user_verified": False}),
        ("user absent", {"user_present": False}),
        ("foreign web origin", {"origin": "https://caf-securite.example"}),
        ("wrong app signature", {"origin": "android:apk-key-hash:AAAAAAAAAAAAAAAAAAAAAA"}),
        ("wrong RP ID", {"rp_id": "caf-securite.example"}),
        ("tampered signature", {"tamper_signature": True}),
        ("backup eligibility changed", {"backup_eligible": True}),
        ("cross-origin frame", {"cross_origin": True}),
        (
            "framed by another site",
            {"cross_origin": True, "top_origin": "https://caf-securite.example"},
        ),
        ("top origin without crossOrigin", {"top_origin": "https://caf-securite.example"}),
        ("crossOrigin not a boolean", {"cross_origin": "false"}),
        ("no user handle", {"include_user_handle": False}),
    ],
)
def test_refusals_are_one_answer_and_change_nothing(
    client, account, phone, enrolled, app, fault, kwargs
):
    started = passkey_options(client)
    assertion = phone.get(started["options"], **{"origin": ANDROID_ORIGIN, **kwargs})
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))
    device = stored(app, enrolled["id"])
    assert device.sign_count == 0 and device.last_used_at is None and device.flagged_at is None
    with app.app_context():
        assert db.session.scalars(select(PasskeyFlow)).one().completed_at is None
    # The same flow still succeeds with a genuine assertion: nothing was spent.
    genuine = phone.get(started["options"], origin=ANDROID_ORIGIN)
    assert passkey_verify(client, started["passkey_token"], genuine).status_code == 200


def test_a_refusal_for_a_known_account_is_in_its_activity_and_counts(
    client, auth, account, phone, enrolled, app
):
    assert_refused(sign_in_with_passkey(client, phone, user_verified=False))
    assert events(app, account.id, "webauthn_failed") == 1
    pair = auth.sign_in(account)
    activity = client.get("/api/v1/account/activity", headers=bearer(pair["access_token"]))
    assert "Échec d'une connexion biométrique." in [i["detail"] for i in activity.json["items"]]


@pytest.mark.parametrize(
    "app_settings", [{"SECOND_FACTOR_MAX_FAILURES": 3, "MAIL_BACKEND": "smtp"}]
)
def test_refused_passkeys_count_as_wrong_second_factors(
    client, auth, account, phone, enrolled, smtp
):
    for _ in range(3):
        assert_refused(sign_in_with_passkey(client, phone, tamper_signature=True))
    locked = auth.login(account)
    assert locked.status_code == 429 and locked.json["code"] == "too_many_attempts"
    assert smtp.wait_for(account.email, "bloquée")
    # A genuine assertion is the holder, not a guess: it signs in and ends the lock.
    assert sign_in_with_passkey(client, phone).status_code == 200
    assert auth.login(account).status_code == 200


def test_the_account_is_found_from_the_user_handle_and_the_credential_together(
    client, auth, make_account, app
):
    alice, bob = make_account(), make_account()
    alice_phone, bob_phone = SoftwareAuthenticator(), SoftwareAuthenticator()
    enrol(client, auth.sign_in(alice)["access_token"], alice_phone)
    enrol(client, auth.sign_in(bob)["access_token"], bob_phone)
    bob_handle = bob_phone.credentials[0].user_handle

    # Alice's credential with Bob's user handle: neither account.
    started = passkey_options(client)
    assertion = alice_phone.get(started["options"], origin=ANDROID_ORIGIN)
    assertion["response"]["userHandle"] = b64url(bob_handle)
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))
    # A user handle nobody has.
    assertion = alice_phone.get(started["options"], origin=ANDROID_ORIGIN)
    assertion["response"]["userHandle"] = b64url(b"\x00" * 32)
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))
    # A stranger's key made for Bob's user handle (a leaked handle is not enough).
    stranger = SoftwareAuthenticator()
    stranger.create(
        {
            "rp": {"id": "localhost"},
            "user": {"id": b64url(bob_handle)},
            "challenge": started["options"]["challenge"],
            "pubKeyCredParams": [{"alg": -7}],
        },
        origin=ANDROID_ORIGIN,
        discoverable=True,
    )
    assertion = stranger.get(started["options"], origin=ANDROID_ORIGIN)
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))
    # Nobody was identified, so nobody's activity or count moved.
    for person in (alice, bob):
        assert events(app, person.id, "webauthn_failed") == 0
    # The flow is intact: Alice's genuine assertion signs Alice in.
    genuine = alice_phone.get(started["options"], origin=ANDROID_ORIGIN)
    pair = passkey_verify(client, started["passkey_token"], genuine).json
    assert pyjwt.decode(pair["access_token"], options={"verify_signature": False})["sub"] == (
        alice.id
    )


def test_an_unknown_credential_is_refused(client, account, enrolled):
    stranger = SoftwareAuthenticator()
    started = passkey_options(client)
    stranger.create(
        {
            "rp": {"id": "localhost"},
            "user": {"id": b64url(b"x" * 32)},
            "challenge": started["options"]["challenge"],
            "pubKeyCredParams": [{"alg": -7}],
        },
        origin=ANDROID_ORIGIN,
        discoverable=True,
    )
    assertion = stranger.get(started["options"], origin=ANDROID_ORIGIN)
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))


def test_a_removed_device_is_refused(client, signed_in, phone, enrolled, app, account):
    started = passkey_options(client)
    assertion = phone.get(started["options"], origin=ANDROID_ORIGIN)
    removed = client.delete(
        f"{AUTHENTICATORS}/{enrolled['id']}", headers=bearer(signed_in["access_token"])
    )
    assert removed.status_code == 204
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))
    assert events(app, account.id, "webauthn_failed") == 0  # no credential, nobody identified


@pytest.mark.parametrize("change", ["blocked", "removed"])
def test_a_device_blocked_or_removed_during_the_checks_is_refused_once_locked(
    client, phone, enrolled, app, monkeypatch, change
):
    """Another request blocks (a clone seen) or removes the device after it was first read."""
    started = passkey_options(client)
    assertion = phone.get(started["options"], origin=ANDROID_ORIGIN)
    consume = challenges.consume

    def consume_then_change(challenge):
        spent = consume(challenge)  # the last step before the credential row is locked
        statement = (
            update(Authenticator).values(flagged_at=utcnow())
            if change == "blocked"
            else delete(Authenticator)
        )
        # In this transaction (SQLite lets no other writer in): what matters is what the
        # locked read sees.
        db.session.execute(statement.where(Authenticator.id == enrolled["id"]))
        return spent

    monkeypatch.setattr(challenges, "consume", consume_then_change)
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))
    monkeypatch.undo()
    with app.app_context():
        assert db.session.scalars(select(PasskeyFlow)).one().completed_at is None


def test_counter_regression_blocks_the_device_and_ends_its_sessions(
    client, auth, account, phone, enrolled, app, smtp
):
    sessions = [sign_in_with_passkey(client, phone).json for _ in range(2)]  # counter 2
    # A clone copied earlier still counts from 1.
    assert_refused(sign_in_with_passkey(client, phone, sign_count=1))
    device = stored(app, enrolled["id"])
    assert device.flagged_at is not None and device.sign_count == 2
    for pair in sessions:  # every session the device opened ends with it
        me = client.get("/api/v1/account", headers=bearer(pair["access_token"]))
        assert me.json["code"] == "token_invalid"
    mail = smtp.wait_for(account.email, "bloqué")
    assert mail["Subject"] == "Un appareil associé à votre compte a été bloqué"
    assert events(app, account.id, "counter_regression") == 1

    # Blocked for good, even with a counter that grows.
    assert_refused(sign_in_with_passkey(client, phone))
    pair = auth.sign_in(account)
    listed = client.get(AUTHENTICATORS, headers=bearer(pair["access_token"])).json["items"]
    assert listed[0]["blocked"] is True


def test_a_replayed_assertion_is_refused(client, phone, enrolled):
    started = passkey_options(client)
    assertion = phone.get(started["options"], origin=ANDROID_ORIGIN)
    assert passkey_verify(client, started["passkey_token"], assertion).status_code == 200
    # Again with the same, now spent, passkey token.
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))
    # Into another flow: its challenge belongs to the first one.
    assert_refused(passkey_verify(client, passkey_options(client)["passkey_token"], assertion))


def test_concurrent_replays_give_exactly_one_success(app, client, phone, enrolled):
    started = passkey_options(client)
    assertion = phone.get(started["options"], origin=ANDROID_ORIGIN)

    def submit(_):
        return (
            app.test_client()
            .post(PASSKEY_VERIFY, json=assertion, headers=bearer(started["passkey_token"]))
            .status_code
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(submit, range(8)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}
    device = stored(app, enrolled["id"])
    assert device.flagged_at is None and device.sign_count == 1  # a replay is not a clone


def test_the_challenge_expires_after_five_minutes(client, phone, enrolled, clock):
    started = passkey_options(client)
    assertion = phone.get(started["options"], origin=ANDROID_ORIGIN)
    clock.advance(seconds=301)
    assert_refused(passkey_verify(client, started["passkey_token"], assertion))


def test_a_second_step_challenge_is_no_passkey_challenge(auth, account, client, phone, enrolled):
    # The second step's challenge, answered by the phone, posted with a passkey token.
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN)
    assert_refused(passkey_verify(client, passkey_options(client)["passkey_token"], assertion))
    # And the other way round: a passkey challenge is no second step's.
    started = passkey_options(client)
    response = bio_verify(client, mfa, phone.get(started["options"], origin=ANDROID_ORIGIN))
    assert response.status_code == 401 and response.json["code"] == "webauthn_failed"


def test_tokens_of_other_kinds_are_refused(auth, account, client, signed_in):
    started = passkey_options(client)
    mfa = auth.start(account)
    for token in (mfa, signed_in["access_token"], signed_in["refresh_token"]):
        response = client.post(PASSKEY_VERIFY, json={}, headers=bearer(token))
        assert response.status_code == 401 and response.json["code"] == "token_invalid"
    missing = client.post(PASSKEY_VERIFY, json={})
    assert missing.status_code == 401 and missing.json["code"] == "token_invalid"
    # A passkey token is no mfa_token.
    response = client.post(BIO_OPTIONS, headers=bearer(started["passkey_token"]))
    assert response.status_code == 401 and response.json["code"] == "token_invalid"
    response = client.post(BIO_VERIFY, json={}, headers=bearer(started["passkey_token"]))
    assert response.status_code == 401 and response.json["code"] == "token_invalid"


def test_a_disabled_account_cannot_sign_in_with_its_passkey(
    client, account, phone, enrolled, runner
):
    result = runner.invoke(args=["accounts", "disable", "--nir", account.nir])
    assert result.exit_code == 0, result.output
    assert_refused(sign_in_with_passkey(client, phone))


def test_a_device_that_made_no_passkey_still_works_after_the_password(
    auth, account, client, signed_in, phone
):
    device = enrol(client, signed_in["access_token"], phone, discoverable=False).json
    assert device["discoverable"] is False
    with pytest.raises(AuthenticatorError):  # the phone has nothing to offer
        phone.get(passkey_options(client)["options"], origin=ANDROID_ORIGIN)
    mfa, options = bio_options(auth, account)
    assert bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN)).status_code == 200


def test_a_passkey_sign_in_proves_a_device_discoverable(client, signed_in, phone):
    device = enrol(client, signed_in["access_token"], phone, report_cred_props=False).json
    assert device["discoverable"] is None  # the client did not say
    assert sign_in_with_passkey(client, phone).status_code == 200
    listed = client.get(AUTHENTICATORS, headers=bearer(signed_in["access_token"])).json["items"]
    assert listed[0]["discoverable"] is True


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "@@"}},
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(b'{"type":"webauthn.get","challenge":"AA","origin":"x"}'),
                "authenticatorData": b64url(b"\x00" * 10),
                "signature": "AA",
                "userHandle": "AA",
            },
        },
    ],
)
def test_malformed_assertions_are_400(client, body):
    response = passkey_verify(client, passkey_options(client)["passkey_token"], body)
    assert response.status_code == 400 and response.json["code"] == "validation_error"


def test_options_take_no_body_or_a_device_token_only(client):
    assert client.post(PASSKEY_OPTIONS).status_code == 200
    assert client.post(PASSKEY_OPTIONS, json={}).status_code == 200
    unknown = client.post(PASSKEY_OPTIONS, json={"nir": "1850575123456"})
    assert unknown.status_code == 400 and unknown.json["code"] == "validation_error"
    text = client.post(PASSKEY_OPTIONS, data="x", content_type="text/plain")
    assert text.status_code == 415


def test_each_options_call_is_a_new_flow_with_its_own_hashed_challenge(client, app):
    first, second = passkey_options(client), passkey_options(client)
    assert first["passkey_token"] != second["passkey_token"]
    assert first["options"]["challenge"] != second["options"]["challenge"]
    with app.app_context():
        rows = db.session.scalars(select(WebAuthnChallenge)).all()
        assert {row.purpose for row in rows} == {"passkey"}
        assert all(row.account_id is None and row.passkey_flow_id for row in rows)
        assert len({row.passkey_flow_id for row in rows}) == 2


def test_per_address_limit_applies(app, client):
    app.extensions["settings"].RATELIMIT_PER_IP = "2 per minute"
    assert [client.post(PASSKEY_OPTIONS).status_code for _ in range(2)] == [200, 200]
    limited = client.post(PASSKEY_OPTIONS)
    assert limited.status_code == 429 and limited.json["code"] == "rate_limited"


@pytest.mark.parametrize("app_settings", [{"PASSKEY_SIGN_IN": False}])
def test_switched_off_both_endpoints_are_not_found(client, signed_in, phone, enrolled):
    for path in (PASSKEY_OPTIONS, PASSKEY_VERIFY):
        response = client.post(path, json={}, headers=bearer("pk_anything"))
        assert response.status_code == 404 and response.json["code"] == "not_found"
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert not any(path.startswith("/api/v1/auth/passkey") for path in paths)


def test_openapi_describes_passkey_sign_in(client):
    spec = client.get("/api/v1/openapi.json").json
    verify = spec["paths"]["/api/v1/auth/passkey/verify"]["post"]
    assert verify["security"] == [{"passkeyToken": []}]
    assert "401" in verify["responses"]
    options = spec["paths"]["/api/v1/auth/passkey/options"]["post"]
    assert options["requestBody"]["required"] is False
    assert "security" not in options


def test_expired_flows_are_purged(client, app, runner, clock):
    passkey_options(client)
    clock.advance(hours=2)
    result = runner.invoke(args=["maintenance", "purge"])
    assert "passkey_flows: 1 deleted" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebAuthnChallenge)) == 0


def test_nothing_secret_is_logged(client, phone, enrolled, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    started = passkey_options(client)
    tampered = phone.get(started["options"], origin=ANDROID_ORIGIN, tamper_signature=True)
    assert_refused(passkey_verify(client, started["passkey_token"], tampered))
    assertion = phone.get(started["options"], origin=ANDROID_ORIGIN)
    pair = passkey_verify(client, started["passkey_token"], assertion).json
    logged = "".join(r.getMessage() + str(vars(r)) for r in caplog.records)
    logged += "".join(capfd.readouterr())
    assert "assertion refused" in logged and "/api/v1/auth/passkey/verify" in logged
    for secret in (
        started["passkey_token"],
        started["options"]["challenge"],
        assertion["response"]["userHandle"],
        assertion["response"]["signature"],
        pair["access_token"],
        pair["refresh_token"],
        pair["device_token"],
    ):
        assert secret not in logged, f"a secret reached the logs: {secret[:4]}…"
