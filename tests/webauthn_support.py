"""WebAuthn test support: a software "phone", enrolment and biometric sign-in helpers.

A pytest plugin (see ``pytest_plugins`` in ``tests/conftest.py``) for the ``phone`` and
``enrolled`` fixtures; the helpers are imported by the tests that use them.
"""

from __future__ import annotations

import pytest

from api.extensions import db
from api.models import Authenticator
from mobile_mock.authenticator import SoftwareAuthenticator
from tests.conftest import ANDROID_ORIGIN, bearer

OPTIONS = "/api/v1/account/authenticators/options"
AUTHENTICATORS = "/api/v1/account/authenticators"
BIO_OPTIONS = "/api/v1/auth/webauthn/options"
BIO_VERIFY = "/api/v1/auth/webauthn/verify"
PASSKEY_OPTIONS = "/api/v1/auth/passkey/options"
PASSKEY_VERIFY = "/api/v1/auth/passkey/verify"


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


def passkey_options(client, device_token: str | None = None) -> dict:
    """Begin a passkey sign-in; return ``{"passkey_token", "expires_in", "options"}``."""
    body = {"device_token": device_token} if device_token else None
    response = client.post(PASSKEY_OPTIONS, json=body)
    assert response.status_code == 200, response.json
    return response.json


def passkey_verify(client, passkey_token: str, assertion):
    return client.post(PASSKEY_VERIFY, json=assertion, headers=bearer(passkey_token))


def stored(app, authenticator_id: str) -> Authenticator:
    with app.app_context():
        row = db.session.get(Authenticator, authenticator_id)
        db.session.expunge_all()
        return row
