"""Schemathesis: every documented operation, fed generated input, never answers 5xx and
always answers as its OpenAPI description says.

Each operation gets a fresh app and account; the security scheme an operation declares
(mfaToken, accessToken, refreshToken, passkeyToken, mediatorToken, recoveryToken) gets a
real token of that kind, so the fuzzer reaches past authentication. Hypothesis drives schemathesis'
strategies directly, one bounded run per operation.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api import create_app
from tests.conftest import AuthActions, MediatorActions, make_settings

# Bodies that prove something (a signature, the current password): well formed by the
# schema and still refused with a 400 when they prove nothing.
PROOF_BODIES = {
    "POST /api/v1/account/authenticators",
    "POST /api/v1/auth/webauthn/verify",
    "POST /api/v1/auth/passkey/verify",
    "PUT /api/v1/account/password",
    "PUT /api/v1/mediator/password",
    # A recovery code and a new password: well formed, and refused when the code is wrong.
    "POST /api/v1/auth/recovery/verify",
    "POST /api/v1/auth/recovery/counter",
    # An address or a number by the schema, but the kind in the path says which one.
    "PUT /api/v1/account/contacts/{kind}",
}


def _operations() -> list[str]:
    """List "METHOD /path" of every documented operation (the app is never served)."""
    app = create_app(make_settings("sqlite://", 25, "spec-only"))
    spec = app.test_client().get("/api/v1/openapi.json").json
    return [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture
def app_settings() -> dict:
    """Keep text messages in the outbox, as the app the operations are listed from does.

    The development SMS outbox (``GET /api/v1/dev/sms``) is then described and fuzzed too.
    """
    return {"SMS_BACKEND": "outbox"}


@pytest.fixture
def tokens(client, smtp, clock, account, mediator) -> dict[str, str]:
    auth = AuthActions(client, smtp, clock)
    pair = auth.sign_in(account)
    return {
        "accessToken": pair["access_token"],
        "refreshToken": pair["refresh_token"],
        "mfaToken": auth.start(account),
        "mediatorToken": MediatorActions(client, clock).activate(mediator)["access_token"],
        "passkeyToken": client.post("/api/v1/auth/passkey/options").json["passkey_token"],
        "recoveryToken": client.post(
            "/api/v1/auth/recovery", json={"nir": account.nir, "channel": "email"}
        ).json["recovery_token"],
    }


@pytest.mark.parametrize("label", _operations())
def test_no_server_errors_and_answers_match_the_description(app, tokens, label):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    security = operation.definition.raw.get("security") or []
    headers: dict[str, str] = {}
    for requirement in security:
        for scheme in requirement:
            headers["Authorization"] = f"Bearer {tokens[scheme]}"

    # "Valid by the schema but refused" is the right answer for a proof that proves
    # nothing, so only that one check is dropped there.
    excluded = [positive_data_acceptance] if label in PROOF_BODIES else []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def fuzz(case):
        case.headers = {**(case.headers or {}), **headers}
        case.call_and_validate(excluded_checks=excluded)

    fuzz()
