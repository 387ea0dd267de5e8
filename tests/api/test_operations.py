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
    # This set-up sends real mail: the node only queues it, so a worker must run.
    assert "flask --app wsgi mail deliver --loop" in result.output
    response = client.post(
        "/api/v1/auth/login",
        json={"nir": "1850575123456", "password": "Bienvenue à la Caf 2026"},
    )
    assert response.status_code == 200
    assert response.json["methods"] == ["email_otp", "sms_otp"]  # the demo has a mobile too
    assert "+33612345678" in result.output


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
        "SMS_BACKEND": "http",
        "SMS_API_URL": "https://api.sms.example",
        "SMS_API_KEY": "k" * 32,
        "WEBAUTHN_RP_ID": "moncompte.caf.fr",
        "WEBAUTHN_ORIGINS": "https://moncompte.caf.fr",
    }
    Settings.from_env(environ=base)  # a sound production configuration starts
    for change, message in [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"JWT_SECRET_KEY": "short"}, "JWT_SECRET_KEY"),
        ({"MAIL_BACKEND": "outbox"}, "MAIL_BACKEND"),
        ({"SMS_BACKEND": "outbox"}, "SMS_BACKEND"),
        ({"SMS_API_URL": "http://api.sms.example"}, "HTTPS"),
        ({"SMS_API_KEY": ""}, "SMS_API_KEY"),
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
        ("SMS_BACKEND", "pigeon"),
        ("SMS_BACKEND", "http"),  # without SMS_API_URL
        ("SMS_SENDER", "CafAllocations"),  # 14 characters
        ("SMS_SENDER", "Caf Info"),
        ("SMS_SENDER", "0612345678"),  # a number, not a name
        ("SMS_SENDER", ""),
        ("SMS_TIMEOUT_SECONDS", "0"),
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
                "one_time_codes",
                "sessions",
                "refresh_tokens",
                "outbox_mail",
                "outbox_sms",
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


def test_accounts_create_with_a_mobile_only(runner, auth):
    nir = fresh_nir()
    result = runner.invoke(
        args=[
            "accounts",
            "create",
            "--nir",
            nir,
            "--phone",
            "07 56 12 34 56",
            "--password",
            "Ma phrase de passe 77",
        ]
    )
    assert result.exit_code == 0, result.output
    login = auth.client.post(
        "/api/v1/auth/login", json={"nir": nir, "password": "Ma phrase de passe 77"}
    )
    assert login.json["methods"] == ["sms_otp"]
    assert login.json["phone_hint"] == "07 •• •• •• 56"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "numéro de mobile"),  # neither an address nor a mobile
        (["--phone", "01 42 00 00 00"], "mobile"),
        (["--email", "pas-une-adresse"], "Adresse"),
    ],
)
def test_accounts_create_needs_a_way_to_receive_codes(runner, options, message):
    result = runner.invoke(
        args=[
            "accounts",
            "create",
            "--nir",
            fresh_nir(),
            "--password",
            "Ma phrase de passe 77",
            *options,
        ]
    )
    assert result.exit_code != 0 and message in result.output


def test_accounts_import_csv_with_a_phone_column(runner, tmp_path, auth):
    email_only, phone_only, both, neither = (fresh_nir() for _ in range(4))
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(
        "nir,email,phone,password\n"
        f"{email_only},un@exemple.fr,,Ma phrase de passe 77\n"
        f"{phone_only},,06 12 34 56 78,Ma phrase de passe 77\n"
        f"{both},trois@exemple.fr,0690123456,Ma phrase de passe 77\n"
        f"{neither},,,Ma phrase de passe 77\n",
        encoding="utf-8",
    )
    result = runner.invoke(args=["accounts", "import", str(csv_file)])
    assert "3 created, 1 refused." in result.output and "line 5" in result.output
    methods = {
        nir: auth.client.post(
            "/api/v1/auth/login", json={"nir": nir, "password": "Ma phrase de passe 77"}
        ).json["methods"]
        for nir in (email_only, phone_only, both)
    }
    assert methods == {
        email_only: ["email_otp"],
        phone_only: ["sms_otp"],
        both: ["email_otp", "sms_otp"],
    }


def test_existing_accounts_keep_their_address_through_migration_0006(tmp_path, smtp, redis_prefix):
    app = create_app(
        make_settings(f"sqlite:///{tmp_path / 'before.sqlite3'}", smtp.port, redis_prefix)
    )
    with app.app_context():
        directory = app.extensions["migrate"].directory
        upgrade(directory=directory, revision="0005_outbox_sms")
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO accounts (id, nir_hash, nir_masked, email, password_hash, "
                    "webauthn_user_handle, created_at, password_changed_at, last_code_sent_at) "
                    "VALUES ('a1', x'00', '1 85 •• •• ••• 456', 'ancien@exemple.fr', 'h', x'01', "
                    "'2026-01-01 00:00:00', '2026-01-01 00:00:00', NULL)"
                )
            )
        upgrade(directory=directory)
        with db.engine.connect() as conn:
            row = conn.execute(
                text("SELECT email, email_verified_at, phone, trusted_email FROM accounts")
            ).one()
        db.engine.dispose()
    assert tuple(row) == ("ancien@exemple.fr", None, None, None)
