"""Enrolment from « Gérer mon compte »: the WebAuthn registration ceremony.

The "phone" is a software authenticator presenting the Android app's origin; signatures are
real, nothing cryptographic is mocked.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from api.extensions import db
from api.models import Authenticator, WebAuthnChallenge
from mobile_mock.authenticator import SoftwareAuthenticator, b64url, b64url_decode
from tests.conftest import ANDROID_ORIGIN, bearer
from tests.webauthn_support import (
    AUTHENTICATORS,
    OPTIONS,
    enrol,
)


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
    # Whether the platform made a discoverable credential (a passkey) must come back.
    assert options["extensions"] == {"credProps": True}
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


@pytest.mark.parametrize(
    ("kwargs", "discoverable"),
    [
        ({}, True),  # residentKey "preferred": a phone makes a passkey, credProps says so
        ({"discoverable": False}, False),  # an authenticator without room for one
        ({"report_cred_props": False}, None),  # a client that does not say
    ],
)
def test_enrolment_records_whether_the_device_signs_in_alone(
    client, signed_in, phone, kwargs, discoverable
):
    response = enrol(client, signed_in["access_token"], phone, **kwargs)
    assert response.status_code == 201, response.json
    assert response.json["discoverable"] is discoverable
    listed = client.get(AUTHENTICATORS, headers=bearer(signed_in["access_token"])).json["items"]
    assert listed[0]["discoverable"] is discoverable


@pytest.mark.parametrize("cred_props", [{"rk": "yes"}, {"rk": 1}, "rk", [True]])
def test_malformed_cred_props_are_a_400(client, signed_in, phone, cred_props):
    access = bearer(signed_in["access_token"])
    options = client.post(OPTIONS, headers=access).json
    credential = phone.create(options, origin=ANDROID_ORIGIN)
    credential["clientExtensionResults"] = {"credProps": cred_props}
    response = client.post(
        AUTHENTICATORS, json={"credential": credential, "name": "Pixel"}, headers=access
    )
    assert response.status_code == 400 and response.json["code"] == "validation_error"


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


def test_sign_in_grown_stale_during_the_ceremony_must_sign_in_again(
    client, signed_in, phone, clock, app
):
    """Freshness holds when the credential is posted, not only when options were asked."""
    access = bearer(signed_in["access_token"])
    clock.advance(seconds=200)
    options = client.post(OPTIONS, headers=access)
    assert options.status_code == 200  # signed in 200 s ago: fresh enough
    credential = phone.create(options.json, origin=ANDROID_ORIGIN)
    clock.advance(seconds=101)  # the sign-in is now 301 s old; the challenge is still open
    response = client.post(
        AUTHENTICATORS, json={"credential": credential, "name": "Pixel 8"}, headers=access
    )
    assert response.status_code == 401
    assert response.json["code"] == "reauthentication_required"
    with app.app_context():
        assert db.session.scalars(select(Authenticator)).all() == []
    spec = client.get("/api/v1/openapi.json").json
    assert "reauthentication_required" in str(spec["paths"][AUTHENTICATORS]["post"]["responses"])


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
        # We never run in a frame of another site (WebAuthn L3 §7.1 step 10).
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


@pytest.mark.parametrize("suffix", ["!", "\n"])  # a regex "$" also matches before a final "\n"
@pytest.mark.parametrize("field", ["clientDataJSON", "attestationObject"])
def test_characters_outside_base64url_are_refused_at_enrolment(
    client, signed_in, phone, app, field, suffix
):
    options = client.post(OPTIONS, headers=bearer(signed_in["access_token"])).json
    credential = phone.create(options, origin=ANDROID_ORIGIN)
    credential["response"][field] += suffix  # a lenient decoder would drop it and accept
    response = client.post(
        AUTHENTICATORS,
        json={"credential": credential, "name": "X"},
        headers=bearer(signed_in["access_token"]),
    )
    assert response.status_code == 400 and response.json["code"] == "validation_error"
    with app.app_context():
        assert db.session.scalars(select(Authenticator)).all() == []
