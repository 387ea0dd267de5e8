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
