"""Device management, app association files and the OpenAPI for biometrics.

The "phone" is a software authenticator presenting the Android app's origin; signatures are
real, nothing cryptographic is mocked.
"""

from __future__ import annotations

from tests.conftest import ANDROID_ORIGIN, bearer
from tests.webauthn_support import (
    AUTHENTICATORS,
    bio_options,
    bio_verify,
    enrol,
)


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


def test_well_known_documents(app, client):
    assert client.get("/.well-known/assetlinks.json").json == []
    settings = app.extensions["settings"]
    settings.ANDROID_APP_PACKAGE = "fr.cnaf.moncompte"
    settings.ANDROID_CERT_FINGERPRINTS = ["AB:CD:EF"]
    settings.APPLE_APP_IDS = ["ABCDE12345.fr.cnaf.moncompte"]
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


def test_removing_a_lost_phone_signs_it_out_and_tells_the_holder(
    auth, account, client, phone, enrolled, signed_in, smtp
):
    mfa, options = bio_options(auth, account)
    on_the_phone = bio_verify(client, mfa, phone.get(options, origin=ANDROID_ORIGIN)).json
    at_home = bearer(signed_in["access_token"])

    assert client.delete(f"{AUTHENTICATORS}/{enrolled['id']}", headers=at_home).status_code == 204
    # The lost phone's session is over: its refresh token and access token are dead.
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(on_the_phone["refresh_token"]))
    assert refreshed.status_code == 401
    account_view = client.get("/api/v1/account", headers=bearer(on_the_phone["access_token"]))
    assert account_view.status_code == 401
    # The session that removed it (opened with the emailed code) goes on.
    assert client.get("/api/v1/account", headers=at_home).status_code == 200
    assert "Un appareil a été retiré de votre compte" in [
        m["Subject"] for m in smtp.to(account.email)
    ]
