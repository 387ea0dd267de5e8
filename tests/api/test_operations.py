"""Operator commands, configuration checks and migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from api import create_app
from api.config import ConfigError, Settings
from api.extensions import db
from tests.conftest import fresh_nir, make_settings


def test_accounts_create_then_sign_in(runner, auth, smtp):
    nir = fresh_nir()
    result = runner.invoke(
        args=[
            "accounts",
            "create",
            "--nir",
            nir,
            "--email",
            "nouvelle@exemple.fr",
            "--password",
            "Ma phrase de passe 77",
        ]
    )
    assert result.exit_code == 0, result.output
    assert nir not in result.output
    response = auth.client.post(
        "/api/v1/auth/login", json={"nir": nir, "password": "Ma phrase de passe 77"}
    )
    assert response.status_code == 200


def test_accounts_create_refuses_bad_input(runner, account):
    weak = runner.invoke(
        args=[
            "accounts",
            "create",
            "--nir",
            fresh_nir(),
            "--email",
            "a@exemple.fr",
            "--password",
            "azertyuiop",
        ]
    )
    assert weak.exit_code != 0 and "courant" in weak.output
    taken = runner.invoke(
        args=[
            "accounts",
            "create",
            "--nir",
            account.nir,
            "--email",
            "a@exemple.fr",
            "--password",
            "Ma phrase de passe 77",
        ]
    )
    assert taken.exit_code != 0 and "existe déjà" in taken.output


def test_accounts_import_csv(runner, tmp_path):
    good, bad = fresh_nir(), "123"
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(
        "nir,email,password\n"
        f"{good},un@exemple.fr,Ma phrase de passe 77\n"
        f"{bad},deux@exemple.fr,Ma phrase de passe 77\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["accounts", "import", str(csv_file)])
    assert result.exit_code == 1
    assert "1 created, 1 refused." in result.output
    assert "line 3" in result.output and good not in result.output


def test_demo_command_prepares_a_working_account(tmp_path, smtp, redis_prefix):
    # An empty database: the command migrates it itself, as on a fresh machine.
    app = create_app(
        make_settings(f"sqlite:///{tmp_path / 'demo.sqlite3'}", smtp.port, redis_prefix)
    )
    client = app.test_client()
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "1850575123456" in result.output
    response = client.post(
        "/api/v1/auth/login",
        json={"nir": "1850575123456", "password": "Bienvenue à la Caf 2026"},
    )
    assert response.status_code == 200


def test_demo_warns_loudly_when_served_beyond_loopback(tmp_path, smtp, redis_prefix, monkeypatch):
    app = create_app(
        make_settings(f"sqlite:///{tmp_path / 'demo.sqlite3'}", smtp.port, redis_prefix)
    )
    served = []
    # Record where the demo would listen instead of opening a server in the test.
    monkeypatch.setattr("api.cli.run_simple", lambda host, port, *a, **k: served.append(host))

    local = app.test_cli_runner().invoke(args=["demo"])
    assert local.exit_code == 0, local.output
    assert served == ["127.0.0.1"] and "WARNING" not in local.output

    everywhere = "0.0.0.0"  # noqa: S104 (the case under test)
    exposed = app.test_cli_runner().invoke(args=["demo", "--host", everywhere])
    assert exposed.exit_code == 0, exposed.output
    assert served[-1] == everywhere
    assert "WARNING" in exposed.stderr and "APP_ENV=testing" in exposed.stderr
    assert everywhere in exposed.stderr


def test_production_refuses_unsafe_settings():
    base = {
        "APP_ENV": "production",
        "DATABASE_URL": "postgresql+psycopg://db/moncompte",
        "SECRET_KEY": "s" * 40,
        "JWT_SECRET_KEY": "j" * 40,
        "MAIL_BACKEND": "smtp",
        "WEBAUTHN_RP_ID": "moncompte.caf.fr",
        "WEBAUTHN_ORIGINS": "https://moncompte.caf.fr",
    }
    Settings.from_env(environ=base)  # a sound production configuration starts
    for change, message in [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"JWT_SECRET_KEY": "short"}, "JWT_SECRET_KEY"),
        ({"MAIL_BACKEND": "outbox"}, "MAIL_BACKEND"),
        ({"WEBAUTHN_ORIGINS": "http://moncompte.caf.fr"}, "HTTPS"),
        ({"DATABASE_URL": "sqlite:///x.db"}, "server database"),
        ({"JWT_SECRET_KEY": "s" * 40}, "differ"),
    ]:
        with pytest.raises(ConfigError, match=message):
            Settings.from_env(environ={**base, **change})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("APP_ENV", "staging"),
        ("OTP_TTL_SECONDS", "quinze"),
        ("SMTP_STARTTLS", "peut-être"),
        ("WEBAUTHN_ORIGINS", "localhost:8000"),
        ("MAIL_BACKEND", "pigeon"),
        ("DELEGATED_SESSION_TTL_SECONDS", "7200"),  # the contract caps it at an hour
        ("JWT_AUDIENCE", "mediator"),  # holders' tokens would open the mediators' API
    ],
)
def test_invalid_settings_are_refused_at_start_up(name, value):
    environ = {
        "SECRET_KEY": "k" * 40,
        "JWT_SECRET_KEY": "j" * 40,
        "DATABASE_URL": "sqlite://",
        name: value,
    }
    with pytest.raises(ConfigError):
        Settings.from_env(environ=environ)


def test_settings_come_from_the_environment():
    settings = Settings.from_env(
        environ={
            "SECRET_KEY": "k" * 40,
            "JWT_SECRET_KEY": "j" * 40,
            "DATABASE_URL": "sqlite://",
            "OTP_TTL_SECONDS": "600",
            "WEBAUTHN_ORIGINS": "https://a.fr, android:apk-key-hash:abc",
            "SMTP_STARTTLS": "true",
        }
    )
    assert settings.OTP_TTL_SECONDS == 600
    assert settings.WEBAUTHN_ORIGINS == ["https://a.fr", "android:apk-key-hash:abc"]
    assert settings.SMTP_STARTTLS is True
    assert settings.ARGON2_MEMORY_KIB == 19456 and settings.ARGON2_TIME_COST == 2


def test_migrations_build_the_models_schema_from_empty(tmp_path, smtp, redis_prefix, postgres_url):
    if postgres_url:
        server = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS migrations_check"))
        # A second empty database on the same server, dropped below.
        url = postgres_url.rsplit("/", 1)[0] + "/" + postgres_url.rsplit("/", 1)[1] + "_mig"
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"'))
        server.dispose()
    else:
        url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    app = create_app(make_settings(url, smtp.port, redis_prefix))
    try:
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
                tables = set(inspect(conn).get_table_names())
            assert diff == [], diff
            assert {
                "accounts",
                "login_transactions",
                "email_codes",
                "sessions",
                "refresh_tokens",
                "outbox_mail",
                "security_events",
            } <= tables
            db.engine.dispose()
    finally:
        if postgres_url:
            server = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
            with server.connect() as conn:
                conn.execute(
                    text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
                )
            server.dispose()


def test_android_origin_from_a_certificate_fingerprint(runner):
    fingerprint = ":".join(["DA"] * 32)
    result = runner.invoke(args=["webauthn", "android-origin", fingerprint])
    assert result.exit_code == 0
    assert (
        result.output.strip() == "android:apk-key-hash:2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2to"
    )
    assert runner.invoke(args=["webauthn", "android-origin", "AB:CD"]).exit_code != 0
