"""No NIR, password, code or token in any log line, error or JWT."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api.extensions import db
from tests.conftest import MediatorHandle, bearer


def test_nothing_sensitive_is_logged(auth, account, client, smtp, caplog, capfd, clock):
    caplog.set_level(logging.DEBUG)
    auth.login(account, password="mauvais mot de passe")
    client.post("/api/v1/auth/login", json={"nir": account.nir, "password": ["pas", "texte"]})
    client.post("/api/v1/auth/login", json={"nir": account.nir[:-1] + "X", "password": "p"})
    mfa = auth.start(account)
    auth.send_code(mfa)
    code = smtp.last_code(account.email)
    auth.verify(mfa, f"{(int(code) + 1) % 1_000_000:06d}")
    pair = auth.verify(mfa, code).json
    client.get("/api/v1/account", headers=bearer(pair["access_token"]))
    rotated = client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"])).json
    client.put(
        "/api/v1/account/password",
        json={"current_password": account.password, "new_password": "Nouveau secret de test 9"},
        headers=bearer(rotated["access_token"]),
    )
    client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"]))

    # Every record but those of the test's own SMTP server, which logs what it receives.
    records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "".join(r.getMessage() + str(vars(r)) for r in records)
    out, err = capfd.readouterr()
    logged += out + err
    assert "mail queued" in logged and "/api/v1/auth/login" in logged  # we did capture logs
    secrets = [
        account.nir,
        account.nir[:-1] + "X",
        account.password,
        "mauvais mot de passe",
        "Nouveau secret de test 9",
        code,
        mfa,
        pair["access_token"],
        pair["refresh_token"],
        rotated["refresh_token"],
        account.email,
    ]
    for secret in secrets:
        assert secret not in logged, f"a secret reached the logs: {secret[:4]}…"


def test_errors_never_echo_the_input(client, account):
    response = client.post(
        "/api/v1/auth/login", json={"nir": account.nir + "9", "password": "Mon secret"}
    )
    text = response.get_data(as_text=True)
    assert account.nir not in text and "Mon secret" not in text


def test_database_errors_carry_no_parameter_values(app, client, caplog, capfd):
    """A failed statement's text reaches logs and tracebacks: never the values bound to it."""
    caplog.set_level(logging.DEBUG)
    secret = "1850575123456 Mon secret"
    # NOT NULL columns left out: an IntegrityError on SQLite and PostgreSQL alike.
    failing = text("INSERT INTO accounts (id) VALUES (:value)")

    @app.post("/test-only/failing-statement")
    def failing_statement():
        db.session.execute(failing, {"value": secret})
        return ""

    response = client.post("/test-only/failing-statement")
    assert response.status_code == 500 and response.json["code"] == "internal_error"
    with app.app_context(), pytest.raises(IntegrityError) as caught:
        db.session.execute(failing, {"value": secret})
    logged = caplog.text + "".join(str(vars(record)) for record in caplog.records)
    logged += "".join(capfd.readouterr())
    assert "unhandled error" in logged and "IntegrityError" in logged  # we did capture it
    assert "INSERT INTO accounts" in logged  # the statement, with its placeholder
    # Not even through the server's own message (PostgreSQL's "Failing row contains …").
    assert secret not in logged
    # The exception itself renders no parameters (the driver's message is its own).
    assert repr(secret) not in str(caught.value)
    assert "parameters hidden" in str(caught.value)


def test_nothing_of_a_mediator_is_logged(
    auth, account, client, runner, clock, caplog, capfd, mediator_auth
):
    caplog.set_level(logging.DEBUG)
    created = runner.invoke(
        args=[
            "mediators",
            "create",
            "--email",
            "camille@france-services.example",
            "--name",
            "Camille Martin",
            "--organisation",
            "France Services de Montreuil",
            "--json",
        ]
    )
    capfd.readouterr()  # the command's own output is for the operator, not a log
    enrolment = json.loads(created.stdout)
    helper = MediatorHandle(
        "",
        "camille@france-services.example",
        enrolment["password"],
        enrolment["totp_uri"],
        enrolment["mediator_code"],
    )
    wrong_code = mediator_auth.code(helper, steps=3)
    mediator_auth.login(helper, totp=wrong_code)
    code = mediator_auth.code(helper)
    pair = mediator_auth.login(helper, totp=code).json
    client.put(
        "/api/v1/mediator/password",
        json={"current_password": helper.password, "new_password": "Secret d'aidant 2026"},
        headers=bearer(pair["access_token"]),
    )
    holder = auth.sign_in(account)
    mandate = client.post(
        "/api/v1/account/mandates",
        json={"mediator_code": helper.code, "scopes": ["consult"], "duration_days": 1},
        headers=bearer(holder["access_token"]),
    ).json
    delegated = client.post(
        f"/api/v1/mediator/mandates/{mandate['id']}/session",
        headers=bearer(pair["access_token"]),
    ).json
    client.get("/api/v1/account", headers=bearer(delegated["access_token"]))
    client.put(
        "/api/v1/account/password",
        json={"current_password": account.password, "new_password": "Pris par un aidant 1"},
        headers=bearer(delegated["access_token"]),
    )
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"])).json

    records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "".join(r.getMessage() + str(vars(r)) for r in records)
    out, err = capfd.readouterr()
    logged += out + err
    assert "/api/v1/mediator/login" in logged  # we did capture logs
    secrets = [
        enrolment["password"],
        "Secret d'aidant 2026",
        helper.totp.secret,
        code,
        wrong_code,
        pair["access_token"],
        pair["refresh_token"],
        refreshed["refresh_token"],
        delegated["access_token"],
        "camille@france-services.example",
        account.nir,
        account.password,
    ]
    for secret in secrets:
        assert secret not in logged, f"a secret reached the logs: {secret[:4]}…"


def test_nothing_of_a_recovery_is_logged(account, client, runner, smtp, caplog, capfd):
    """« Mot de passe oublié » and the counter code leave no NIR, code, token or password."""
    from tests.api.test_recovery import emailed_code, wrong

    caplog.set_level(logging.DEBUG)
    recovery_token = client.post(
        "/api/v1/auth/recovery", json={"nir": account.nir, "channel": "email"}
    ).json["recovery_token"]
    code = emailed_code(smtp, account.email)
    verify = "/api/v1/auth/recovery/verify"
    client.post(
        verify, json={"code": wrong(code), "new_password": "x"}, headers=bearer(recovery_token)
    )
    done = client.post(
        verify,
        json={"code": code, "new_password": "Retrouvé grâce au courriel 7"},
        headers=bearer(recovery_token),
    )
    assert done.status_code == 204
    issued = runner.invoke(
        args=[
            "accounts",
            "recovery-code",
            "--nir",
            account.nir,
            "--agent",
            "AG123",
            "--reason",
            "identité vérifiée",
        ]
    )
    counter_code = issued.stdout.split()[0]
    redeemed = client.post(
        "/api/v1/auth/recovery/counter",
        json={
            "nir": account.nir,
            "recovery_code": counter_code,
            "new_password": "Remis au guichet de Lyon 8",
            "email": "nouvelle.adresse@exemple.fr",
        },
    )
    assert redeemed.status_code == 204

    records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    logged = "".join(r.getMessage() + str(vars(r)) for r in records)
    out, err = capfd.readouterr()
    logged += out + err
    assert "/api/v1/auth/recovery/counter" in logged  # we did capture logs
    for secret in (
        account.nir,
        code,
        recovery_token,
        "Retrouvé grâce au courriel 7",
        counter_code,
        counter_code.replace("-", ""),
        "Remis au guichet de Lyon 8",
        "nouvelle.adresse@exemple.fr",
        account.email,
    ):
        assert secret not in logged, f"a secret reached the logs: {secret[:4]}…"
