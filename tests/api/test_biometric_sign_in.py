"""Biometric sign-in: a WebAuthn assertion in place of the emailed code.

The "phone" is a software authenticator presenting the Android app's origin; signatures are
real, nothing cryptographic is mocked.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
import pytest
from sqlalchemy import select, update

from api.clock import utcnow
from api.extensions import db
from api.models import Authenticator, LoginTransaction
from api.webauthn import challenges
from mobile_mock.authenticator import SoftwareAuthenticator, b64url
from tests.conftest import ANDROID_ORIGIN, bearer
from tests.webauthn_support import (
    AUTHENTICATORS,
    BIO_OPTIONS,
    BIO_VERIFY,
    bio_options,
    bio_verify,
    enrol,
    stored,
)


def test_biometric_sign_in_replaces_the_emailed_code(
    auth, account, client, phone, enrolled, smtp, app
):
    mails_before = len(smtp.to(account.email))
    mfa, options = bio_options(auth, account)
    assert options["userVerification"] == "required"
    assert options["rpId"] == "localhost"
    assert [c["id"] for c in options["allowCredentials"]] == [
        b64url(phone.credentials[0].credential_id)
    ]
    response = bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN))
    assert response.status_code == 200, response.json
    pair = response.json
    me = client.get("/api/v1/account", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    claims = pyjwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["amr"] == ["pwd", "hwk", "user"]
    assert len(smtp.to(account.email)) == mails_before  # no email was needed
    device = stored(app, enrolled["id"])
    assert device.sign_count == 1 and device.last_used_at is not None
    # The mfa_token is spent.
    assert client.post(BIO_OPTIONS, headers=bearer(mfa)).json["code"] == "token_invalid"
    activity = client.get("/api/v1/account/activity", headers=bearer(pair["access_token"]))
    assert activity.json["items"][0]["detail"] == (
        "Connexion à votre compte avec la biométrie de votre téléphone."
    )


def test_no_authenticator_means_no_biometric_options(auth, account, client):
    login = auth.login(account)
    assert login.json["methods"] == ["email_otp"]
    response = client.post(BIO_OPTIONS, headers=bearer(login.json["mfa_token"]))
    assert response.status_code == 409 and response.json["code"] == "no_authenticator"


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
        # We never run in a frame of another site (WebAuthn L3 §7.2 step 11).
        ("cross-origin frame", {"cross_origin": True}),
        (
            "framed by another site",
            {"cross_origin": True, "top_origin": "https://caf-securite.example"},
        ),
        ("top origin without crossOrigin", {"top_origin": "https://caf-securite.example"}),
        ("top origin is our own origin", {"top_origin": ANDROID_ORIGIN}),
        ("crossOrigin not a boolean", {"cross_origin": "false"}),
    ],
)
def test_assertion_refusals_change_nothing(
    auth, account, client, phone, enrolled, app, fault, kwargs
):
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, **{"origin": ANDROID_ORIGIN, **kwargs})
    response = bio_verify(client, mfa, assertion)
    assert response.status_code == 401, fault
    assert response.json["code"] == "webauthn_failed"
    assert response.headers["Content-Type"] == "application/problem+json"
    device = stored(app, enrolled["id"])
    assert device.sign_count == 0 and device.last_used_at is None and device.flagged_at is None
    with app.app_context():
        transaction = db.session.scalars(select(LoginTransaction)).all()[-1]
        assert transaction.completed_at is None
    # The same sign-in can still succeed with a genuine assertion.
    response = bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN))
    assert response.status_code == 200


def test_web_origin_is_accepted_too(auth, account, client, phone, enrolled):
    mfa, options = bio_options(auth, account)
    response = bio_verify(client, mfa, phone.get(options, origin="http://localhost:8000"))
    assert response.status_code == 200


def test_client_data_without_cross_origin_is_accepted(auth, account, client, phone, enrolled):
    """Clients that predate crossOrigin (and some Android versions) leave it out."""
    mfa, options = bio_options(auth, account)
    response = bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN, cross_origin=None))
    assert response.status_code == 200


def test_replayed_assertion_is_refused(auth, account, client, phone, enrolled):
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN)
    assert bio_verify(client, mfa, assertion).status_code == 200
    # Same assertion into a new sign-in: its challenge belongs to the old one.
    mfa2, _ = bio_options(auth, account)
    replay = bio_verify(client, mfa2, assertion)
    assert replay.status_code == 401 and replay.json["code"] == "webauthn_failed"


def test_concurrent_replays_give_exactly_one_success(auth, account, app, phone, enrolled):
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN)

    def submit(_):
        return app.test_client().post(BIO_VERIFY, json=assertion, headers=bearer(mfa)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(submit, range(8)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}
    device = stored(app, enrolled["id"])
    assert device.flagged_at is None  # a replay is not mistaken for a clone
    assert device.sign_count == 1


def test_counter_regression_flags_the_credential(auth, account, client, phone, enrolled, app, smtp):
    for _ in range(2):
        mfa, options = bio_options(auth, account)
        assert bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN)).status_code == 200
    # A clone made earlier still counts from 1.
    mfa, options = bio_options(auth, account)
    response = bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN, sign_count=1))
    assert response.status_code == 401 and response.json["code"] == "webauthn_failed"
    device = stored(app, enrolled["id"])
    assert device.flagged_at is not None and device.sign_count == 2
    assert (
        smtp.to(account.email)[-1]["Subject"] == "Un appareil associé à votre compte a été bloqué"
    )

    # The flagged credential is useless from now on, even with a good counter.
    login = auth.login(account)
    assert login.json["methods"] == ["email_otp"]
    blocked = client.post(BIO_OPTIONS, headers=bearer(login.json["mfa_token"]))
    assert blocked.status_code == 409
    stale_options = {**options, "challenge": options["challenge"]}
    again = bio_verify(
        client, login.json["mfa_token"], phone.get(stale_options, origin=ANDROID_ORIGIN)
    )
    assert again.status_code == 401
    pair = auth.sign_in(account)
    listed = client.get(AUTHENTICATORS, headers=bearer(pair["access_token"])).json["items"]
    assert listed[0]["blocked"] is True
    activity = client.get("/api/v1/account/activity", headers=bearer(pair["access_token"]))
    assert "counter_regression" in [item["type"] for item in activity.json["items"]]


def test_credential_blocked_during_the_checks_is_refused_once_locked(
    auth, account, client, phone, enrolled, app, monkeypatch
):
    """A concurrent sign-in flags the credential as cloned after this one first read it."""
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN)
    consume = challenges.consume

    def consume_then_flag(challenge):
        spent = consume(challenge)  # the last step before the credential row is locked
        flag = (
            update(Authenticator)
            .where(Authenticator.id == enrolled["id"])
            .values(flagged_at=utcnow())
        )
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as other_request:  # another connection, committed
                other_request.execute(flag)
        else:
            # SQLite serialises writers (BEGIN IMMEDIATE), so no other connection can write
            # now; flag it in this transaction: what matters is what the locked read sees.
            db.session.execute(flag)
        return spent

    monkeypatch.setattr(challenges, "consume", consume_then_flag)
    response = bio_verify(client, mfa, assertion)
    assert response.status_code == 401 and response.json["code"] == "webauthn_failed"
    monkeypatch.undo()
    device = stored(app, enrolled["id"])
    assert device.sign_count == 0 and device.last_used_at is None
    with app.app_context():
        transaction = db.session.scalars(select(LoginTransaction)).all()[-1]
        assert transaction.completed_at is None


def test_counters_that_stay_zero_are_fine(auth, account, client, phone, enrolled):
    for _ in range(3):
        mfa, options = bio_options(auth, account)
        assertion = phone.get(options, origin=ANDROID_ORIGIN, counter_step=0)
        assert bio_verify(client, mfa, assertion).status_code == 200


def test_backup_state_may_change(auth, account, client, phone, app):
    pair = auth.sign_in(account)
    device = enrol(client, pair["access_token"], phone, backup_eligible=True).json
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN, backup_state=True)
    assert bio_verify(client, mfa, assertion).status_code == 200
    assert stored(app, device["id"]).backup_state is True


def test_another_accounts_credential_is_refused(auth, make_account, client, phone):
    alice, bob = make_account(), make_account()
    enrol(client, auth.sign_in(alice)["access_token"], phone)
    bob_phone = SoftwareAuthenticator()
    enrol(client, auth.sign_in(bob)["access_token"], bob_phone)
    mfa, options = bio_options(auth, bob)
    # Alice's phone answers Bob's challenge with Alice's key.
    assertion = phone.get({**options, "allowCredentials": []}, origin=ANDROID_ORIGIN)
    response = bio_verify(client, mfa, assertion)
    assert response.status_code == 401 and response.json["code"] == "webauthn_failed"


def test_unknown_credential_is_refused(auth, account, client, phone, enrolled):
    mfa, options = bio_options(auth, account)
    stranger = SoftwareAuthenticator()
    stranger.create(
        {
            "rp": {"id": "localhost"},
            "user": {"id": b64url(b"x" * 16)},
            "challenge": options["challenge"],
            "pubKeyCredParams": [{"alg": -7}],
        },
        origin=ANDROID_ORIGIN,
        discoverable=True,
    )
    response = bio_verify(
        client, mfa, stranger.get({**options, "allowCredentials": []}, origin=ANDROID_ORIGIN)
    )
    assert response.status_code == 401 and response.json["code"] == "webauthn_failed"


def test_user_handle_must_match_the_account(auth, account, client, phone, enrolled):
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN)
    assertion["response"]["userHandle"] = b64url(b"someone else's handle")
    response = bio_verify(client, mfa, assertion)
    assert response.status_code == 401 and response.json["code"] == "webauthn_failed"
    # Without a user handle (allowed for non-discoverable use) it works.
    fresh = phone.get(options, origin=ANDROID_ORIGIN, include_user_handle=False)
    assert bio_verify(client, mfa, fresh).status_code == 200


def test_challenge_expires(auth, account, client, phone, enrolled, clock):
    mfa, options = bio_options(auth, account)
    clock.advance(seconds=301)
    response = bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN))
    assert response.status_code == 401


def test_access_token_is_not_an_mfa_token(client, signed_in):
    response = client.post(BIO_OPTIONS, headers=bearer(signed_in["access_token"]))
    assert response.status_code == 401 and response.json["code"] == "token_invalid"


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
                "clientDataJSON": b64url(b"{}"),
                "authenticatorData": "AAAA",
                "signature": "AA",
            },
        },
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(b'{"type":"webauthn.get","challenge":"AA","origin":"x"}'),
                "authenticatorData": b64url(b"\x00" * 10),
                "signature": "AA",
            },
        },
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(b'{"type":"webauthn.get","challenge":"AA","origin":"x"}'),
                "authenticatorData": b64url(b"\x00" * 37),
                "signature": "AA",
                "userHandle": 12,
            },
        },
    ],
)
def test_malformed_assertions_are_400(auth, account, client, phone, enrolled, body):
    mfa, _ = bio_options(auth, account)
    response = bio_verify(client, mfa, body)
    assert response.status_code == 400
    assert response.json["code"] == "validation_error"


@pytest.mark.parametrize("suffix", ["!", "\n"])  # a regex "$" also matches before a final "\n"
@pytest.mark.parametrize("field", ["signature", "clientDataJSON", "authenticatorData"])
def test_characters_outside_base64url_are_refused_not_skipped(
    auth, account, client, phone, enrolled, field, suffix
):
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN)
    assertion["response"][field] += suffix  # a lenient decoder would drop it and accept
    response = bio_verify(client, mfa, assertion)
    assert response.status_code == 400 and response.json["code"] == "validation_error"


def test_whole_journey_through_the_menu(auth, account, client, smtp):
    """Sign in by code, enable biometrics from the menu, sign out, sign in by fingerprint."""
    pair = auth.sign_in(account)
    access = bearer(pair["access_token"])
    menu = {
        item["id"]: item
        for item in client.get("/api/v1/account/menu", headers=access).json["items"]
    }
    enable = menu["biometrics_enable"]
    options = client.open(enable["href"], method=enable["method"], headers=access).json
    phone = SoftwareAuthenticator()
    credential = phone.create(options, origin=ANDROID_ORIGIN)
    created = client.post(
        menu["biometrics_list"]["href"],
        json={"credential": credential, "name": "Mon Galaxy"},
        headers=access,
    )
    assert created.status_code == 201
    assert client.post("/api/v1/auth/logout", headers=access).status_code == 204

    mails_before = len(smtp.messages)
    login = auth.login(account)
    assert "webauthn" in login.json["methods"]
    mfa = bearer(login.json["mfa_token"])
    request_options = client.post(BIO_OPTIONS, headers=mfa).json
    tokens = client.post(
        BIO_VERIFY, json=phone.get(request_options, origin=ANDROID_ORIGIN), headers=mfa
    )
    assert tokens.status_code == 200
    me = client.get("/api/v1/account", headers=bearer(tokens.json["access_token"]))
    assert me.json["authenticators"][0]["name"] == "Mon Galaxy"
    assert me.json["authenticators"][0]["last_used_at"] is not None
    assert len(smtp.messages) == mails_before  # no email at all for this sign-in
