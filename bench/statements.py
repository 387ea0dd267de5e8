"""Database work per request: SQL statements, commits and rollbacks, counted in-process.

    python bench/statements.py [--database-url sqlite|postgresql+psycopg://…] [--rounds 3]
                               [--json] [--trace]

Builds the app in-process (APP_ENV=testing, outbox mail backend: no SMTP server needed) on a
temporary SQLite file, or on a database of its own created on the PostgreSQL server named by
``--database-url`` (and dropped at the end). It creates one account, signs it in once with the
emailed code and enrols a software authenticator (setup, not counted), then drives each
request through the Flask test client as the app does, and counts, on the engine, for that
request only:

- SQL statements (``before_cursor_execute``), by kind: SELECT, INSERT, UPDATE, DELETE, other;
  transaction control (SQLite's ``BEGIN IMMEDIATE``) is not a statement, so both databases
  count the same;
- COMMITs and ROLLBACKs (engine ``commit`` and ``rollback`` events), including the rollback of
  a read-only transaction when the request's session is closed;
- in the JSON output also: transactions begun, connection checkouts and pre-pings (PostgreSQL
  pings each checked-out connection, a round trip not seen by the cursor events).

Counts, not timings: the result does not depend on the machine's load. Each round is driven
``--rounds`` times and the counts must agree, or the script says so. It measures whichever
``api`` package is importable, so an older commit can be measured from a worktree:

    git worktree add /tmp/before c3dab50
    cd /tmp/before && PYTHONPATH=/tmp/before python /path/to/bench/statements.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, event, select, text
from sqlalchemy.engine import make_url

import api
from api import create_app
from api.config import Settings
from api.extensions import db
from api.models import OutboxMail
from api.services import accounts
from mobile_mock.authenticator import SoftwareAuthenticator

NIR = "1850575000042"
EMAIL = "allocataire@statements.example"
PASSWORD = "Une phrase de passe solide"
ORIGIN = "http://localhost:8000"
PREFIX = "/api/v1"
KINDS = ("select", "insert", "update", "delete", "other")
_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "END"}
_TOKENS = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"[^\"]*\"|[()]|[A-Za-z_]+", re.S)


def kind_of(statement: str) -> str:
    """Return select/insert/update/delete/other, or "control" for transaction control.

    A ``WITH`` query is classed by its main statement (the first verb outside parentheses).
    """
    depth, first = 0, None
    for token in _TOKENS.findall(statement):
        if token.startswith(("--", "/*", "'", '"')):
            continue
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            word = token.upper()
            if first is None:
                first = word
                if word in _CONTROL:
                    return "control"
                if word != "WITH":
                    break
            elif word in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
                return word.lower()
    if first in {"SELECT", "INSERT", "UPDATE", "DELETE"}:
        return first.lower()
    return "other"


# --- counting -----------------------------------------------------------------------------


@dataclass
class Counts:
    select: int = 0
    insert: int = 0
    update: int = 0
    delete: int = 0
    other: int = 0
    commits: int = 0
    rollbacks: int = 0
    begins: int = 0
    savepoints: int = 0
    checkouts: int = 0
    pings: int = 0
    sql: list[str] = field(default_factory=list)

    @property
    def statements(self) -> int:
        return sum(getattr(self, kind) for kind in KINDS)

    def numbers(self) -> dict[str, int]:
        values = {k: v for k, v in asdict(self).items() if k != "sql"}
        values["statements"] = self.statements
        return values

    def __add__(self, other: Counts) -> Counts:
        total = Counts(sql=self.sql + other.sql)
        for name, value in self.numbers().items():
            if name != "statements":
                setattr(total, name, value + getattr(other, name))
        return total


class Meter:
    """Engine and pool listeners that count only inside :meth:`measure`."""

    def __init__(self, engine) -> None:
        self.current: Counts | None = None
        event.listen(engine, "before_cursor_execute", self._execute)
        event.listen(engine, "begin", self._bump("begins"))
        event.listen(engine, "commit", self._bump("commits"))
        event.listen(engine, "rollback", self._bump("rollbacks"))
        event.listen(engine, "savepoint", self._bump("savepoints"))
        event.listen(engine.pool, "checkout", self._bump("checkouts"))
        if getattr(engine.pool, "_pre_ping", False):
            dialect, ping = engine.dialect, engine.dialect.do_ping

            def counted_ping(dbapi_connection):
                self._bump("pings")()
                return ping(dbapi_connection)

            dialect.do_ping = counted_ping

    def _bump(self, name: str):
        def listener(*_args, **_kwargs) -> None:
            if self.current is not None:
                setattr(self.current, name, getattr(self.current, name) + 1)

        return listener

    def _execute(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.current is None:
            return
        kind = kind_of(statement)
        if kind != "control":
            setattr(self.current, kind, getattr(self.current, kind) + 1)
        self.current.sql.append(" ".join(statement.split()))

    @contextlib.contextmanager
    def measure(self) -> Iterator[Counts]:
        self.current = counts = Counts()
        try:
            yield counts
        finally:
            self.current = None


# --- the app ------------------------------------------------------------------------------


@contextlib.contextmanager
def database(url: str) -> Iterator[str]:
    """Yield a fresh database URL: a temporary SQLite file, or a new PostgreSQL database."""
    if url == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-statements-") as folder:
            yield f"sqlite:///{folder}/statements.sqlite3"
        return
    server = make_url(url)
    name = f"moncompte_statements_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def build_app(database_url: str):
    values = {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "statements-secret-key-0123456789abcdef0123",
        "JWT_SECRET_KEY": "statements-jwt-key-0123456789abcdef012345",
        "MAIL_BACKEND": "outbox",
        "WEBAUTHN_RP_ID": "localhost",
        "WEBAUTHN_ORIGINS": [ORIGIN],
        "OTP_RESEND_SECONDS": 0,
        "OTP_HOURLY_CAP": 1_000_000,
        "RATELIMIT_PER_IP": "1000000 per minute",
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    known = {name for name in values if hasattr(Settings, name)}
    settings = Settings.from_env(environ={}, **{k: v for k, v in values.items() if k in known})
    app = create_app(settings)
    with app.app_context():
        db.create_all()
        accounts.create_account(NIR, EMAIL, PASSWORD)
        db.session.commit()  # the caller's unit of work (older code committed by itself)
        engine = db.engine
        db.session.remove()
    return app, engine


class Phone:
    """The app on one phone, driving the API through the Flask test client."""

    def __init__(self, app, meter: Meter) -> None:
        self.app = app
        self.client = app.test_client()
        self.meter = meter
        self.authenticator = SoftwareAuthenticator()
        self.device_token: str | None = None
        self.access_token = ""
        self.refresh_token = ""
        self.measured: dict[str, Counts] = {}

    def call(self, method, path, *, token=None, body=None, expect=200, label=None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with self.meter.measure() if label else contextlib.nullcontext() as counts:
            response = self.client.open(PREFIX + path, method=method, json=body, headers=headers)
            # As a WSGI server does once the response is sent: work deferred until then
            # (mail delivery after the response) is part of the request.
            response.close()
        if response.status_code != expect:
            raise SystemExit(
                f"{method} {path}: expected {expect}, got {response.status_code}: "
                f"{response.get_data(as_text=True)[:500]}"
            )
        if label:
            self.measured[label] = counts
        return response.get_json(silent=True) or {}

    def login(self, label=None, *, with_device_token=True) -> dict:
        body = {"nir": NIR, "password": PASSWORD}
        if with_device_token and self.device_token:
            body["device_token"] = self.device_token
        return self.call("POST", "/auth/login", body=body, label=label)

    def keep(self, pair: dict) -> None:
        self.access_token = pair["access_token"]
        self.refresh_token = pair["refresh_token"]
        # Known devices exist on recent versions only: keep the token when one is issued.
        self.device_token = pair.get("device_token") or self.device_token

    def last_code(self) -> str:
        with self.app.app_context():
            texts = db.session.scalars(
                select(OutboxMail.text)
                .where(OutboxMail.to == EMAIL, OutboxMail.subject.contains("code"))
                .order_by(OutboxMail.created_at.desc())
                .limit(1)
            ).all()
            db.session.remove()
        return re.search(r"^(\d{6})\r?$", texts[0], re.MULTILINE).group(1)

    def sign_in_with_code(self, measured: bool = True) -> None:
        def label(name: str) -> str | None:
            return name if measured else None

        mfa = self.login(label("POST /auth/login"))["mfa_token"]
        self.call("POST", "/auth/otp", token=mfa, expect=202, label=label("POST /auth/otp"))
        code = self.last_code()
        self.keep(
            self.call(
                "POST",
                "/auth/otp/verify",
                token=mfa,
                body={"code": code},
                label=label("POST /auth/otp/verify"),
            )
        )

    def enrol(self) -> None:
        options = self.call("POST", "/account/authenticators/options", token=self.access_token)
        credential = self.authenticator.create(options, origin=ORIGIN)
        self.call(
            "POST",
            "/account/authenticators",
            token=self.access_token,
            body={"credential": credential, "name": "Téléphone"},
            expect=201,
        )

    def sign_in_with_biometrics(self, measured: bool = True) -> None:
        def label(name: str) -> str | None:
            return name if measured else None

        login = self.login(label("POST /auth/login (before biometrics)"))
        assert "webauthn" in login["methods"], login
        mfa = login["mfa_token"]
        options = self.call(
            "POST", "/auth/webauthn/options", token=mfa, label=label("POST /auth/webauthn/options")
        )
        assertion = self.authenticator.get(options, origin=ORIGIN)
        self.keep(
            self.call(
                "POST",
                "/auth/webauthn/verify",
                token=mfa,
                body=assertion,
                label=label("POST /auth/webauthn/verify"),
            )
        )


ROWS = [
    ("POST /auth/login", "POST /auth/login (password step)"),
    ("POST /auth/otp", "POST /auth/otp (send code)"),
    ("POST /auth/otp/verify", "POST /auth/otp/verify (code sign-in)"),
    ("POST /auth/webauthn/options", "POST /auth/webauthn/options"),
    ("POST /auth/webauthn/verify", "POST /auth/webauthn/verify (biometric sign-in)"),
    ("POST /auth/refresh", "POST /auth/refresh"),
    ("GET /account", "GET /account"),
]
EXTRA_ROWS = [
    ("POST /auth/login (no device token)", "POST /auth/login without a device token"),
    ("GET /account (idle > 60 s)", "GET /account, session idle for over 60 s"),
]
TOTALS = [
    (
        "sign-in by emailed code (3 requests)",
        ["POST /auth/login", "POST /auth/otp", "POST /auth/otp/verify"],
    ),
    (
        "biometric sign-in (3 requests)",
        [
            "POST /auth/login (before biometrics)",
            "POST /auth/webauthn/options",
            "POST /auth/webauthn/verify",
        ],
    ),
]


def one_round(phone: Phone) -> dict[str, Counts]:
    """Drive every measured request once, in the order the app would."""
    phone.measured = {}
    phone.sign_in_with_code()
    phone.sign_in_with_biometrics()
    phone.keep(
        phone.call("POST", "/auth/refresh", token=phone.refresh_token, label="POST /auth/refresh")
    )
    phone.call("GET", "/account", token=phone.access_token, label="GET /account")
    phone.login("POST /auth/login (no device token)", with_device_token=False)
    # last_seen_at is written at most once a minute: show the request that writes it.
    phone.app.extensions["clock"].advance(seconds=61)
    phone.call("GET", "/account", token=phone.access_token, label="GET /account (idle > 60 s)")
    return phone.measured


# --- report -------------------------------------------------------------------------------


def code_version() -> str:
    """Name the code measured: the commit of the importable ``api`` package."""
    root = Path(api.__file__).resolve().parents[1]

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "api") else ""
    return f"api from {root} at {commit}{dirty}"


def cell(counts: Counts) -> str:
    split = " / ".join(str(getattr(counts, kind)) for kind in KINDS)
    return f"{counts.statements} ({split})"


def render(results: dict[str, Counts], args, version: str, stable: bool) -> str:
    db_name = "SQLite" if args.database_url == "sqlite" else "PostgreSQL"
    lines = [
        f"Database work per request, {db_name}, {version.replace('api', '`api`', 1)}.",
        "",
        "| request | statements (SELECT / INSERT / UPDATE / DELETE / other) "
        "| commits | rollbacks |",
        "| --- | --- | ---: | ---: |",
    ]
    for key, name in ROWS:
        c = results[key]
        lines.append(f"| {name} | {cell(c)} | {c.commits} | {c.rollbacks} |")
    for name, keys in TOTALS:
        c = sum((results[k] for k in keys[1:]), results[keys[0]])
        lines.append(f"| **{name}** | **{cell(c)}** | **{c.commits}** | **{c.rollbacks}** |")
    for key, name in EXTRA_ROWS:
        c = results[key]
        lines.append(f"| {name} | {cell(c)} | {c.commits} | {c.rollbacks} |")
    lines += ["", f"Same counts in each of {args.rounds} rounds: {'yes' if stable else '**no**'}."]
    if any(c.pings for c in results.values()):
        if all(c.pings == c.commits + c.rollbacks for c in results.values()):
            lines[-1] += (
                " Each transaction (commit or rollback) also checked a connection out of the"
                " pool, and PostgreSQL pinged it first (pool_pre_ping): one more round trip."
            )
        else:
            pings = ", ".join(f"{key} {c.pings}" for key, c in results.items())
            lines[-1] += f" Pre-pings (pool_pre_ping): {pings}."
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        "--database",
        default="sqlite",
        help="sqlite (default), or a PostgreSQL server URL: a database is created and dropped",
    )
    parser.add_argument("--rounds", type=int, default=3, help="repeat and check the counts agree")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--trace", action="store_true", help="also print each request's SQL")
    args = parser.parse_args()

    with database(args.database_url) as url:
        app, engine = build_app(url)
        meter = Meter(engine)
        phone = Phone(app, meter)
        # Setup, not counted: a first sign-in (throttle rows, known device), biometrics
        # enrolled, and one biometric sign-in, so that every request below is steady state.
        phone.sign_in_with_code(measured=False)
        phone.enrol()
        phone.sign_in_with_biometrics(measured=False)
        rounds = [one_round(phone) for _ in range(max(1, args.rounds))]
        with app.app_context():
            db.session.remove()
        engine.dispose()

    results = rounds[-1]
    stable = all(
        {k: c.numbers() for k, c in r.items()} == {k: c.numbers() for k, c in results.items()}
        for r in rounds
    )
    version = code_version()
    if args.json:
        payload = {
            "code": version,
            "database": "sqlite" if args.database_url == "sqlite" else "postgresql",
            "stable": stable,
            "requests": {
                k: {**c.numbers(), **({"sql": c.sql} if args.trace else {})}
                for k, c in results.items()
            },
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        print(render(results, args, version, stable))
        if args.trace:
            for key, counts in results.items():
                print(f"\n#### {key}\n")
                print("\n".join(f"    {sql[:200]}" for sql in counts.sql))
    if not stable:
        sys.exit(1)


if __name__ == "__main__":
    main()
