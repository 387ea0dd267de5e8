"""Schemathesis over the FranceConnect+ operations, with FranceConnect switched on.

The provider is out of reach (nothing listens at the issuer): every answer the service
gives without it — a redirect with an error, a refused state, hand-off or link token —
must still be one its OpenAPI description names, and never a 5xx.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api import create_app
from tests.conftest import AuthActions, _free_port, make_settings
from tests.franceconnect_support import APP_RETURN, CALLBACK, WEB_RETURN, service_keys

# Well formed by the schema and still refused with a 400 when they prove nothing: a
# return_to off the allow-list, a state or a link token that was never issued.
PROOF_INPUTS = {
    "GET /api/v1/auth/franceconnect/start",
    "GET /api/v1/auth/franceconnect/callback",
    "POST /api/v1/account/franceconnect",
}

FRANCECONNECT = {
    "FRANCECONNECT_ISSUER": f"http://127.0.0.1:{_free_port()}",
    "FRANCECONNECT_CLIENT_ID": "moncompte",
    "FRANCECONNECT_CLIENT_SECRET": "c" * 64,
    "FRANCECONNECT_REDIRECT_URI": CALLBACK,
    "FRANCECONNECT_RETURN_URLS": [WEB_RETURN, APP_RETURN],
    "FRANCECONNECT_ENC_KEYS": json.dumps(service_keys().as_dict(private=True)),
    "FRANCECONNECT_TIMEOUT_SECONDS": 2,
}


def _operations() -> list[str]:
    app = create_app(make_settings("sqlite://", 25, "spec-only", **FRANCECONNECT))
    spec = app.test_client().get("/api/v1/openapi.json").json
    return [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if "franceconnect" in path
    ]


@pytest.fixture
def app_settings() -> dict:
    return dict(FRANCECONNECT)


@pytest.fixture
def access_token(client, smtp, clock, account) -> str:
    return AuthActions(client, smtp, clock).sign_in(account)["access_token"]


@pytest.mark.parametrize("label", _operations())
def test_franceconnect_operations_answer_as_described(app, access_token, label):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    headers = {}
    if operation.definition.raw.get("security"):
        headers["Authorization"] = f"Bearer {access_token}"

    excluded = [positive_data_acceptance] if label in PROOF_INPUTS else []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def fuzz(case):
        case.headers = {**(case.headers or {}), **headers}
        case.call_and_validate(excluded_checks=excluded)

    fuzz()
