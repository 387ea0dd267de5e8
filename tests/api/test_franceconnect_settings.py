"""FranceConnect+ switched off, misconfigured, or with its provider out of reach.

None of these needs the local provider: with FRANCECONNECT_ISSUER unset nothing changes
for anyone, the settings are checked at start-up, and an unreachable provider sends the
person back with a kind error.
"""

from __future__ import annotations

import json

import pytest

from api.config import ConfigError, Settings
from tests.conftest import _free_port, bearer
from tests.franceconnect_support import APP_RETURN, CALLBACK, WEB_RETURN, service_keys

FRANCECONNECT_PATHS = [
    ("get", "/api/v1/auth/franceconnect/jwks"),
    ("get", "/api/v1/auth/franceconnect/start?return_to=x&code_challenge=y"),
    ("get", "/api/v1/auth/franceconnect/callback?code=x&state=y"),
    ("post", "/api/v1/auth/franceconnect/complete"),
]


OFF = pytest.mark.parametrize("app_settings", [{}], ids=["off"])


@OFF
def test_switched_off_every_franceconnect_route_is_not_found(client, signed_in):
    for method, path in FRANCECONNECT_PATHS:
        response = getattr(client, method)(path, json={} if method == "post" else None)
        assert response.status_code == 404, path
        assert response.json["code"] == "not_found"
    headers = bearer(signed_in["access_token"])
    for method in ("post", "delete"):
        response = getattr(client, method)("/api/v1/account/franceconnect", headers=headers)
        assert response.status_code == 404 and response.json["code"] == "not_found"


@OFF
def test_switched_off_nothing_changes_for_anyone(client, signed_in):
    headers = bearer(signed_in["access_token"])
    assert "franceconnect" not in client.get("/api/v1/account", headers=headers).json
    menu = client.get("/api/v1/account/menu", headers=headers).json["items"]
    assert not [item for item in menu if "franceconnect" in item["id"]]
    assert "FranceConnect" not in client.get("/").get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").json
    assert not [path for path in spec["paths"] if "franceconnect" in path]
    signed_out = client.post("/api/v1/auth/logout", headers=headers)
    assert signed_out.status_code == 204


def enabled(**changes: str) -> dict[str, str]:
    values = {
        "APP_ENV": "production",
        "DATABASE_URL": "postgresql+psycopg://db/moncompte",
        "SECRET_KEY": "s" * 40,
        "JWT_SECRET_KEY": "j" * 40,
        "MAIL_BACKEND": "smtp",
        "SMS_BACKEND": "http",
        "SMS_API_URL": "https://sms.example",
        "SMS_API_KEY": "k" * 32,
        "WEBAUTHN_RP_ID": "moncompte.caf.fr",
        "WEBAUTHN_ORIGINS": "https://moncompte.caf.fr",
        "FRANCECONNECT_ISSUER": "https://auth.franceconnect.gouv.fr/api/v2",
        "FRANCECONNECT_CLIENT_ID": "moncompte",
        "FRANCECONNECT_CLIENT_SECRET": "c" * 64,
        "FRANCECONNECT_REDIRECT_URI": "https://moncompte.caf.fr/api/v1/auth/franceconnect/callback",
        "FRANCECONNECT_ENC_KEYS": json.dumps(service_keys().as_dict(private=True)),
        "FRANCECONNECT_RETURN_URLS": "https://moncompte.caf.fr/,https://moncompte.caf.fr/app/fc,"
        "fr.caf.moncompte:/fc",
    }
    values.update(changes)
    return values


def test_a_sound_production_configuration_starts():
    settings = Settings.from_env(environ=enabled())
    assert settings.franceconnect_enabled and settings.FRANCECONNECT_ACR == "eidas2"
    assert settings.FRANCECONNECT_RETURN_URLS[2] == "fr.caf.moncompte:/fc"
    assert settings.franceconnect_post_logout_uri("fr.caf.moncompte:/fc") == (
        "https://moncompte.caf.fr/"
    )


def public_only() -> str:
    return json.dumps(service_keys().as_dict(private=False))


def symmetric() -> str:
    return json.dumps({"keys": [{"kty": "oct", "k": "AAAA", "kid": "s"}]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"FRANCECONNECT_ISSUER": "http://auth.franceconnect.gouv.fr/api/v2"}, "HTTPS"),
        ({"FRANCECONNECT_ISSUER": "https://fc.example/api/v2?x=1"}, "no query"),
        ({"FRANCECONNECT_REDIRECT_URI": "http://moncompte.caf.fr/cb"}, "HTTPS"),
        ({"FRANCECONNECT_REDIRECT_URI": "/api/v1/auth/franceconnect/callback"}, "absolute"),
        ({"FRANCECONNECT_CLIENT_SECRET": ""}, "CLIENT_SECRET"),
        ({"FRANCECONNECT_ACR": "eidas4"}, "FRANCECONNECT_ACR"),
        ({"FRANCECONNECT_RETURN_URLS": ""}, "FRANCECONNECT_RETURN_URLS"),
        ({"FRANCECONNECT_RETURN_URLS": "https://moncompte.caf.fr/#fc"}, "invalid URL"),
        ({"FRANCECONNECT_RETURN_URLS": "http://moncompte.caf.fr/"}, "HTTPS"),
        ({"FRANCECONNECT_RETURN_URLS": "fr.caf.moncompte:/fc"}, "POST_LOGOUT"),
        ({"FRANCECONNECT_ENC_KEYS": ""}, "FRANCECONNECT_ENC_KEYS"),
        ({"FRANCECONNECT_ENC_KEYS": "{"}, "JSON"),
        ({"FRANCECONNECT_ENC_KEYS": public_only()}, "no private part"),
        ({"FRANCECONNECT_ENC_KEYS": symmetric()}, "EC"),
        ({"FRANCECONNECT_TIMEOUT_SECONDS": "0"}, "positive"),
    ],
)
def test_unsafe_franceconnect_settings_are_refused_at_start_up(change, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ=enabled(**change))


def test_development_may_use_a_local_http_provider_without_encryption():
    settings = Settings.from_env(
        environ=enabled(
            APP_ENV="development",
            DATABASE_URL="sqlite://",
            MAIL_BACKEND="outbox",
            FRANCECONNECT_ISSUER="http://127.0.0.1:9000",
            FRANCECONNECT_REDIRECT_URI=CALLBACK,
            FRANCECONNECT_RETURN_URLS=f"{WEB_RETURN},{APP_RETURN}",
            FRANCECONNECT_ENC_KEYS="",
        )
    )
    assert settings.franceconnect_enabled


@pytest.fixture
def app_settings() -> dict:
    """A provider nobody answers at."""
    return {
        "FRANCECONNECT_ISSUER": f"http://127.0.0.1:{_free_port()}",
        "FRANCECONNECT_CLIENT_ID": "moncompte",
        "FRANCECONNECT_CLIENT_SECRET": "c" * 64,
        "FRANCECONNECT_REDIRECT_URI": CALLBACK,
        "FRANCECONNECT_RETURN_URLS": [WEB_RETURN, APP_RETURN],
        "FRANCECONNECT_TIMEOUT_SECONDS": 2,
    }


def test_an_unreachable_provider_sends_the_person_back_with_an_error(client, caplog):
    response = client.get(
        "/api/v1/auth/franceconnect/start",
        query_string={"return_to": WEB_RETURN, "code_challenge": "A" * 43},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == WEB_RETURN + "?error=franceconnect_failed"
    assert "franceconnect start failed" in caplog.text


def test_the_published_keys_are_empty_without_encryption(client):
    assert client.get("/api/v1/auth/franceconnect/jwks").json == {"keys": []}
