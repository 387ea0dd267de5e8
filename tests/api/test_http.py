"""HTTP hygiene: problem+json everywhere, limits, headers, health and OpenAPI."""

from __future__ import annotations

import re

import pytest

from api import create_app
from tests.conftest import bearer, make_settings

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    assert body["status"] == status and body["code"] == code
    return body


def test_unknown_path_is_a_problem(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_a_problem(client):
    response = client.get("/api/v1/auth/login")
    assert_problem(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_body_over_the_cap_is_a_problem(client):
    response = client.post(
        "/api/v1/auth/login", data=b"{" + b" " * 70_000 + b"}", content_type="application/json"
    )
    assert_problem(response, 413, "payload_too_large")


def test_missing_body_is_a_problem(client):
    assert_problem(client.post("/api/v1/auth/login"), 415, "unsupported_media_type")


def test_non_json_body_is_a_problem(client):
    response = client.post(
        "/api/v1/auth/login",
        data="nir=1&password=2",
        content_type="application/x-www-form-urlencoded",
    )
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("body", [b"{", b"[1, 2", b"\xff\xfe", b"nul"])
def test_malformed_json_is_a_problem(client, body):
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert_problem(response, 400, "invalid_json")


@pytest.mark.parametrize("body", [b"[]", b'"texte"', b"3", b"null"])
def test_json_that_is_not_an_object_is_a_validation_error(client, body):
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["code"] in {"validation_error", "invalid_json"}


def test_details_are_french(client):
    body = client.get("/nowhere").json
    assert body["detail"] == (
        "Cet élément n'existe pas, ou plus. Actualisez la page, puis réessayez."
    )


def test_security_headers(client):
    response = client.get("/healthz")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Request-ID"]
    api = client.post("/api/v1/auth/login", json={})
    assert api.headers["Cache-Control"] == "no-store"


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {
        "status": "ready",
        "database": "ok",
        "mail_backlog": {"pending": 0, "parked": 0},
        "sms_backlog": {"pending": 0, "parked": 0},
    }


def test_readiness_fails_without_a_database(tmp_path, smtp, redis_prefix):
    settings = make_settings("postgresql+psycopg://127.0.0.1:1/none", smtp.port, redis_prefix)
    app = create_app(settings)
    response = app.test_client().get("/readyz")
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["Retry-After"]
    sign_in = app.test_client().post(
        "/api/v1/auth/login", json={"nir": "1850575123456", "password": "x"}
    )
    assert_problem(sign_in, 503, "service_unavailable")


def test_openapi_describes_every_endpoint_and_error(client, app):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path, method in [
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/otp", "post"),
        ("/api/v1/auth/otp/verify", "post"),
        ("/api/v1/auth/refresh", "post"),
        ("/api/v1/auth/logout", "post"),
        ("/api/v1/account", "get"),
        ("/api/v1/account/menu", "get"),
        ("/api/v1/account/password", "put"),
        ("/api/v1/account/sessions", "get"),
        ("/api/v1/account/sessions/{session_id}", "delete"),
        ("/api/v1/account/activity", "get"),
    ]:
        assert method in paths[path], (path, method)
    login = paths["/api/v1/auth/login"]["post"]
    assert {"200", "400", "401", "429"} <= set(login["responses"])
    assert "too_many_attempts" in login["responses"]["429"]["description"]
    assert paths["/api/v1/auth/otp/verify"]["post"]["security"] == [{"mfaToken": []}]
    assert "Problem" in spec["components"]["schemas"]


@pytest.mark.parametrize("app_settings", [{"MAIL_BACKEND": "outbox"}])
def test_dev_outbox_is_there_with_the_outbox_backend(client, auth, account):
    auth.send_code(auth.start(account))
    items = client.get(f"/api/v1/dev/outbox?to={account.email}").json["items"]
    assert items[0]["subject"] == "Votre code de connexion à Mon Compte"
    assert {"to", "subject", "text", "created_at"} == set(items[0])
    assert "/api/v1/dev/outbox" in client.get("/api/v1/openapi.json").json["paths"]


def test_dev_outbox_does_not_exist_when_mail_is_really_sent(client, auth, account, smtp):
    # Testing environment, SMTP backend: the code goes out by mail, and whoever knows the
    # address and the password must not be able to read it over HTTP.
    auth.send_code(auth.start(account))
    code = smtp.last_code(account.email)
    response = client.get(f"/api/v1/dev/outbox?to={account.email}")
    assert_problem(response, 404, "not_found")
    assert code not in response.get_data(as_text=True)
    assert "/api/v1/dev/outbox" not in client.get("/api/v1/openapi.json").json["paths"]


def test_dev_outbox_does_not_exist_in_production(tmp_path, smtp, redis_prefix):
    production = make_settings(
        f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        smtp.port,
        redis_prefix,
        MAIL_BACKEND="outbox",
    )
    production.APP_ENV = "production"  # bypass start-up checks to look at routing only
    prod_app = create_app(production)
    response = prod_app.test_client().get("/api/v1/dev/outbox?to=x@y.fr")
    assert_problem(response, 404, "not_found")


def test_per_address_limit_is_generous_but_present(app, client):
    app.extensions["settings"].RATELIMIT_PER_IP = "3 per minute"
    statuses = [
        client.post(
            "/api/v1/auth/login", json={"nir": "1850575000999", "password": "x"}
        ).status_code
        for _ in range(4)
    ]
    assert statuses[:3] == [401] * 3
    limited = client.post("/api/v1/auth/login", json={})
    assert_problem(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 1


def test_access_token_reaches_nothing_it_should_not(client, signed_in):
    # Signed in or not, there is no outbox to read when mail is really sent.
    response = client.get("/api/v1/dev/outbox", headers=bearer(signed_in["access_token"]))
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("app_settings", [{"TRUSTED_PROXIES": 1}])
def test_behind_a_proxy_limits_and_audit_see_the_real_client(app, client, auth, account):
    app.extensions["settings"].RATELIMIT_PER_IP = "2 per minute"

    def attempt(address: str) -> int:
        return client.post(
            "/api/v1/auth/login",
            json={"nir": "1850575000999", "password": "x"},
            headers={"X-Forwarded-For": address},
        ).status_code

    assert [attempt("203.0.113.7") for _ in range(3)] == [401, 401, 429]
    assert attempt("198.51.100.23") == 401  # another person at another address

    from api.extensions import db
    from api.models import SecurityEvent

    client.post(
        "/api/v1/auth/login",
        json={"nir": account.nir, "password": "faux"},
        headers={"X-Forwarded-For": "192.0.2.44"},
    )
    with app.app_context():
        event = db.session.query(SecurityEvent).filter_by(type="password_failed").one()
        assert event.ip == "192.0.2.44"


def _endpoints_reading_a_body(app) -> list[tuple[str, str, str | None]]:
    """Every (method, path, token kind) whose view reads a JSON body."""
    found = []
    for rule in app.url_map.iter_rules():
        doc = getattr(app.view_functions[rule.endpoint], "api_doc", None)
        if doc is None or not (doc["body"] or doc["raw_body"]):
            continue
        path = rule.rule.replace("<authenticator_id>", "some-id")
        path = re.sub(r"<any\((\w+)[^>]*>", r"\1", path)  # the first value of an any()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            scheme = doc["requires"].security_scheme if doc["requires"] else None
            found.append((method, path, scheme))
    return found


def test_deeply_nested_json_is_invalid_json_everywhere(
    app, client, auth, account, mediator_auth, mediator
):
    """Nesting that fits in the body cap but not in the parser's recursion: a 400, not a 500."""
    signed_in = auth.sign_in(account)
    tokens = {
        None: None,
        "mfaToken": auth.start(account),
        "accessToken": signed_in["access_token"],
        "refreshToken": signed_in["refresh_token"],
        "mediatorToken": mediator_auth.activate(mediator)["access_token"],
        "passkeyToken": client.post("/api/v1/auth/passkey/options").json["passkey_token"],
        "recoveryToken": client.post(
            "/api/v1/auth/recovery", json={"nir": account.nir, "channel": "email"}
        ).json["recovery_token"],
    }
    bodies = [
        b"[" * 30_000 + b"]" * 30_000,  # far past the interpreter's recursion limit
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"nir":' + b"[" * 900 + b"]" * 900 + b"}",  # parses, but deeper than any request
    ]
    endpoints = _endpoints_reading_a_body(app)
    assert len(endpoints) >= 6, endpoints
    for method, path, kind in endpoints:
        headers = bearer(tokens[kind]) if kind else {}
        for body in bodies:
            assert len(body) < 64 * 1024
            response = client.open(
                path, method=method, data=body, content_type="application/json", headers=headers
            )
            assert_problem(response, 400, "invalid_json")
