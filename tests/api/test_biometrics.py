"""Biometric device binding and sign-in, through the API, with a software authenticator.

The "phone" presents the Android app's origin (``android:apk-key-hash:…``), as the Caf
app does through Credential Manager. Signatures are real: nothing cryptographic is mocked.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from api.extensions import db
from api.models import Authenticator, LoginTransaction, WebAuthnChallenge
from mobile_mock.authenticator import SoftwareAuthenticator, b64url, b64url_decode
from tests.conftest import ANDROID_ORIGIN, bearer

OPTIONS = "/api/v1/account/authenticators/options"
AUTHENTICATORS = "/api/v1/account/authenticators"
BIO_OPTIONS = "/api/v1/auth/webauthn/options"
BIO_VERIFY = "/api/v1/auth/webauthn/verify"


@pytest.fixture
def phone() -> SoftwareAuthenticator:
    return SoftwareAuthenticator()


def enrol(client, access_token, phone, *, name="Pixel 8", origin=ANDROID_ORIGIN, **faults):
    options = client.post(OPTIONS, headers=bearer(access_token))
    assert options.status_code == 200, options.json
    credential = phone.create(options.json, origin=origin, **faults)
    return client.post(
        AUTHENTICATORS,
        json={"credential": credential, "name": name},
        headers=bearer(access_token),
    )


@pytest.fixture
def enrolled(client, signed_in, phone) -> dict:
    response = enrol(client, signed_in["access_token"], phone)
    assert response.status_code == 201, response.json
    return response.json


def bio_options(auth, account) -> tuple[str, dict]:
    login = auth.login(account)
    assert login.json["methods"] == ["email_otp", "webauthn"]
    mfa = login.json["mfa_token"]
    options = auth.client.post(BIO_OPTIONS, headers=bearer(mfa))
    assert options.status_code == 200, options.json
    return mfa, options.json


def bio_verify(client, mfa, assertion):
    return client.post(BIO_VERIFY, json=assertion, headers=bearer(mfa))


def stored(app, authenticator_id: str) -> Authenticator:
    with app.app_context():
        row = db.session.get(Authenticator, authenticator_id)
        db.session.expunge_all()
        return row


# --- enrolment -------------------------------------------------------------------------


def test_menu_offers_biometric_entries(client, signed_in):
    items = client.get("/api/v1/account/menu", headers=bearer(signed_in["access_token"])).json[
        "items"
    ]
    ids = [item["id"] for item in items]
    assert ids[:3] == ["biometrics_enable", "biometrics_list", "biometrics_remove"]
    enable = items[0]
    assert enable["href"] == OPTIONS and enable["method"] == "POST"
    assert enable["label"] == "Activer la connexion biométrique"


def test_creation_options_follow_the_contract(client, signed_in, account, app):
    options = client.post(OPTIONS, headers=bearer(signed_in["access_token"])).json
    assert options["rp"] == {"id": "localhost", "name": "Caf - Mon Compte"}
    assert options["authenticatorSelection"] == {
        "authenticatorAttachment": "platform",
        "residentKey": "preferred",
        "requireResidentKey": False,
        "userVerification": "required",
    }
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["attestation"] == "none"
    assert options["excludeCredentials"] == []
    assert len(b64url_decode(options["challenge"])) == 32
    user_handle = b64url_decode(options["user"]["id"])
    assert len(user_handle) == 32 and account.nir.encode() not in user_handle
    assert account.nir not in str(options)
    with app.app_context():
        [challenge] = db.session.scalars(select(WebAuthnChallenge)).all()
        assert challenge.challenge_hash != b64url_decode(options["challenge"])  # stored hashed


def test_enrolment_right_after_sign_in(client, signed_in, phone, smtp, account):
    response = enrol(client, signed_in["access_token"], phone, name="Pixel 8")
    assert response.status_code == 201
    device = response.json
    assert device["name"] == "Pixel 8"
    assert device["device_type"] == "single_device" and device["backed_up"] is False
    assert device["last_used_at"] is None and device["created_at"].endswith("Z")
    listed = client.get(AUTHENTICATORS, headers=bearer(signed_in["access_token"])).json["items"]
    assert [d["id"] for d in listed] == [device["id"]]
    me = client.get("/api/v1/account", headers=bearer(signed_in["access_token"])).json
    assert [d["name"] for d in me["authenticators"]] == ["Pixel 8"]

    [mail] = [m for m in smtp.to(account.email) if "appareil" in m["Subject"]]
    assert mail["Subject"] == "Nouvel appareil associé à votre compte"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "« Pixel 8 »" in text and "Si ce n'était pas vous" in text


def test_packed_self_attestation_is_accepted(client, signed_in, phone):
    assert enrol(client, signed_in["access_token"], phone, attestation="packed").status_code == 201


def test_synced_passkey_flags_are_recorded(client, signed_in, phone):
    response = enrol(
        client, signed_in["access_token"], phone, backup_eligible=True, backup_state=True
    )
    assert response.status_code == 201
    assert response.json["device_type"] == "multi_device" and response.json["backed_up"] is True


def test_backed_up_without_eligibility_is_refused(client, signed_in, phone):
    response = enrol(client, signed_in["access_token"], phone, backup_state=True)
    assert response.status_code == 400 and response.json["code"] == "webauthn_failed"


def test_stale_sign_in_must_sign_in_again(client, signed_in, clock):
    clock.advance(seconds=301)
    response = client.post(OPTIONS, headers=bearer(signed_in["access_token"]))
    assert response.status_code == 401
    assert response.json["code"] == "reauthentication_required"


def test_password_step_token_cannot_enrol(auth, account, client):
    mfa = auth.start(account)
    response = client.post(OPTIONS, headers=bearer(mfa))
    assert response.status_code == 401 and response.json["code"] == "token_invalid"


@pytest.mark.parametrize(
    ("fault", "kwargs"),
    [
        ("user not verified", {"user_verified": False}),
        ("user absent", {"user_present": False}),
        ("foreign origin", {"origin": "https://caf-securite.example"}),
        ("wrong app signature", {"origin": "android:apk-key-hash:AAAAAAAAAAAAAAAAAAAAAA"}),
        ("wrong RP ID", {"rp_id": "caf-securite.example"}),
    ],
)
def test_enrolment_refusals(client, signed_in, phone, app, fault, kwargs):
    response = enrol(client, signed_in["access_token"], phone, **kwargs)
    assert response.status_code == 400, fault
    assert response.json["code"] == "webauthn_failed"
    with app.app_context():
        assert db.session.scalars(select(Authenticator)).all() == []


def test_challenge_is_single_use_for_enrolment(client, signed_in, phone):
    options = client.post(OPTIONS, headers=bearer(signed_in["access_token"])).json
    first = phone.create(options, origin=ANDROID_ORIGIN)
    body = {"credential": first, "name": "Un"}
    assert (
        client.post(
            AUTHENTICATORS, json=body, headers=bearer(signed_in["access_token"])
        ).status_code
        == 201
    )
    second = phone.create({**options, "excludeCredentials": []}, origin=ANDROID_ORIGIN)
    again = client.post(
        AUTHENTICATORS,
        json={"credential": second, "name": "Deux"},
        headers=bearer(signed_in["access_token"]),
    )
    assert again.status_code == 400 and again.json["code"] == "webauthn_failed"


def test_a_credential_id_belongs_to_one_account(auth, make_account, client, phone):
    alice, bob = make_account(), make_account()
    enrol(client, auth.sign_in(alice)["access_token"], phone)
    alice_credential_id = phone.credentials[0].credential_id

    # A hostile authenticator makes a new key under Alice's credential id for Bob.
    bob_tokens = auth.sign_in(bob)
    options = client.post(OPTIONS, headers=bearer(bob_tokens["access_token"])).json
    credential = SoftwareAuthenticator().create(
        options, origin=ANDROID_ORIGIN, credential_id=alice_credential_id
    )
    response = client.post(
        AUTHENTICATORS,
        json={"credential": credential, "name": "B"},
        headers=bearer(bob_tokens["access_token"]),
    )
    assert response.status_code == 409 and response.json["code"] == "already_registered"


def test_exclude_credentials_lists_existing_devices(client, signed_in, phone, enrolled):
    options = client.post(OPTIONS, headers=bearer(signed_in["access_token"])).json
    assert [c["id"] for c in options["excludeCredentials"]] == [
        b64url(phone.credentials[0].credential_id)
    ]


@pytest.mark.parametrize(
    "credential",
    [
        {},
        {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
        {
            "id": "a",
            "rawId": "a",
            "type": "public-key",
            "response": {"clientDataJSON": "!!!", "attestationObject": "AA"},
        },
        {
            "id": "a",
            "rawId": "a",
            "type": "public-key",
            "response": {"clientDataJSON": b64url(b"not json"), "attestationObject": "AA"},
        },
    ],
)
def test_malformed_registration_is_a_400(client, signed_in, credential):
    client.post(OPTIONS, headers=bearer(signed_in["access_token"]))
    response = client.post(
        AUTHENTICATORS,
        json={"credential": credential, "name": "X"},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status_code == 400
    assert response.json["code"] in {"validation_error", "webauthn_failed"}


def test_device_names_are_checked(client, signed_in, phone):
    for name in ["", "   ", "x" * 65, "a\x00b"]:
        options = client.post(OPTIONS, headers=bearer(signed_in["access_token"])).json
        credential = phone.create({**options, "excludeCredentials": []}, origin=ANDROID_ORIGIN)
        response = client.post(
            AUTHENTICATORS,
            json={"credential": credential, "name": name},
            headers=bearer(signed_in["access_token"]),
        )
        assert response.status_code == 400, name
        assert response.json["code"] == "validation_error"


# --- biometric sign-in -----------------------------------------------------------------


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
    import jwt as pyjwt

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


# --- device management -----------------------------------------------------------------


def test_rename_and_remove(auth, account, client, phone, enrolled, signed_in):
    access = bearer(signed_in["access_token"])
    renamed = client.patch(
        f"{AUTHENTICATORS}/{enrolled['id']}", json={"name": "Téléphone de Lou"}, headers=access
    )
    assert renamed.status_code == 200 and renamed.json["name"] == "Téléphone de Lou"

    mfa, options = bio_options(auth, account)  # options issued before the removal
    assert client.delete(f"{AUTHENTICATORS}/{enrolled['id']}", headers=access).status_code == 204
    assert client.get(AUTHENTICATORS, headers=access).json["items"] == []
    response = bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN))
    assert response.status_code == 401 and response.json["code"] == "webauthn_failed"
    assert auth.login(account).json["methods"] == ["email_otp"]
    again = client.delete(f"{AUTHENTICATORS}/{enrolled['id']}", headers=access)
    assert again.status_code == 404


def test_another_accounts_device_cannot_be_touched(auth, make_account, client, phone):
    alice, bob = make_account(), make_account()
    device = enrol(client, auth.sign_in(alice)["access_token"], phone).json
    bob_access = bearer(auth.sign_in(bob)["access_token"])
    assert (
        client.patch(
            f"{AUTHENTICATORS}/{device['id']}", json={"name": "x"}, headers=bob_access
        ).status_code
        == 404
    )
    assert client.delete(f"{AUTHENTICATORS}/{device['id']}", headers=bob_access).status_code == 404


# --- native apps -----------------------------------------------------------------------


def test_well_known_documents(app, client):
    assert client.get("/.well-known/assetlinks.json").json == []
    app.config.update(
        ANDROID_APP_PACKAGE="fr.cnaf.moncompte",
        ANDROID_CERT_FINGERPRINTS=["AB:CD:EF"],
        APPLE_APP_IDS=["ABCDE12345.fr.cnaf.moncompte"],
    )
    links = client.get("/.well-known/assetlinks.json")
    assert links.status_code == 200 and links.mimetype == "application/json"
    assert links.json == [
        {
            "relation": [
                "delegate_permission/common.handle_all_urls",
                "delegate_permission/common.get_login_creds",
            ],
            "target": {
                "namespace": "android_app",
                "package_name": "fr.cnaf.moncompte",
                "sha256_cert_fingerprints": ["AB:CD:EF"],
            },
        }
    ]
    aasa = client.get("/.well-known/apple-app-site-association")
    assert aasa.status_code == 200 and aasa.mimetype == "application/json"
    assert aasa.json == {"webcredentials": {"apps": ["ABCDE12345.fr.cnaf.moncompte"]}}


def test_openapi_covers_biometrics(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "post" in paths["/api/v1/auth/webauthn/options"]
    verify = paths["/api/v1/auth/webauthn/verify"]["post"]
    assert "webauthn_failed" in verify["responses"]["401"]["description"]
    assert {"get", "post"} <= set(paths["/api/v1/account/authenticators"])
    assert {"patch", "delete"} <= set(paths["/api/v1/account/authenticators/{authenticator_id}"])
    assert (
        "reauthentication_required"
        in (
            paths["/api/v1/account/authenticators/options"]["post"]["responses"]["401"][
                "description"
            ]
        )
    )


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


@pytest.mark.parametrize("field", ["signature", "clientDataJSON", "authenticatorData"])
def test_characters_outside_base64url_are_refused_not_skipped(
    auth, account, client, phone, enrolled, field
):
    mfa, options = bio_options(auth, account)
    assertion = phone.get(options, origin=ANDROID_ORIGIN)
    assertion["response"][field] += "!"  # a lenient decoder would drop it and accept
    response = bio_verify(client, mfa, assertion)
    assert response.status_code == 400 and response.json["code"] == "validation_error"


def test_bytes_after_the_attestation_object_are_refused(client, signed_in, phone):
    options = client.post(OPTIONS, headers=bearer(signed_in["access_token"])).json
    credential = phone.create(options, origin=ANDROID_ORIGIN)
    padded = b64url_decode(credential["response"]["attestationObject"]) + b"\x00\x00"
    credential["response"]["attestationObject"] = b64url(padded)
    response = client.post(
        AUTHENTICATORS,
        json={"credential": credential, "name": "X"},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status_code == 400 and response.json["code"] == "validation_error"
