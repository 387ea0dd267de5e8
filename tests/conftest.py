"""Fixtures: an app per test, a real SMTP sink and SMS provider, a movable clock, accounts.

The suite runs on SQLite by default. Set ``TEST_DATABASE_URL`` to a PostgreSQL server
URL (e.g. ``postgresql+psycopg://127.0.0.1:5432/postgres``) and ``TEST_REDIS_URL`` to a
Redis URL to run it there: the run creates its own database and drops it at the end,
and deletes its own Redis keys.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pyotp
import pytest
from aiosmtpd.controller import Controller
from flask.testing import FlaskClient
from pytest_httpserver import HTTPServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from werkzeug import Request, Response

from api import create_app
from api.config import Settings
from api.extensions import db
from api.services import accounts, mediators
from api.uow import unit_of_work
from tests.timeouts import MAIL_SECONDS, SMTP_READY_SECONDS

pytest_plugins = ["tests.live_server", "tests.webauthn_support", "tests.franceconnect_support"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
RUN_ID = uuid.uuid4().hex[:10]
DEFAULT_PASSWORD = "Une phrase de passe solide"


# --- database and redis for the whole run ---------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """Create a database of our own on the PostgreSQL server, and drop it at the end."""
    if not TEST_DATABASE_URL:
        yield None
        return
    server = make_url(TEST_DATABASE_URL)
    name = f"moncompte_test_{RUN_ID}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    prefix = f"moncompte-test-{RUN_ID}"
    yield prefix
    if TEST_REDIS_URL:
        import redis

        client = redis.Redis.from_url(TEST_REDIS_URL)
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


# --- SMTP sink ----------------------------------------------------------------------------


class SmtpSink:
    """A real SMTP server on loopback that keeps what it receives."""

    def __init__(self, port: int | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.port = port or _free_port()
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, ready_timeout=SMTP_READY_SECONDS
        )
        self._lock = threading.Lock()
        self._running = False

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        """Stop listening, as a mail server outage would; harmless when already stopped."""
        if self._running:
            self._controller.stop()
            self._running = False

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, subject: str, wait: float = MAIL_SECONDS) -> EmailMessage:
        """Return the newest message to ``address`` whose subject holds ``subject``.

        A live node's worker sends mail once the request has committed, and on a busy
        machine that can take a while: poll until it comes.
        """
        deadline = time.monotonic() + wait
        while True:
            for message in reversed(self.to(address)):
                if subject in message["Subject"]:
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no message about {subject!r} was mailed to {address}")
            time.sleep(0.05)

    def last_code(self, address: str, wait: float = MAIL_SECONDS) -> str:
        """Read the code from the newest sign-in message sent to ``address``."""
        message = self.wait_for(address, "code", wait)
        body = message.get_body(preferencelist=("plain",)).get_content()
        return re.search(r"^(\d{6})\r?$", body, re.MULTILINE).group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


# --- SMS provider ---------------------------------------------------------------------


class SmsProvider:
    """A real HTTP server on loopback that speaks the provider API and keeps what it accepts.

    The API is Brevo's transactional SMS shape (``POST /v3/transactionalSMS/send`` with an
    ``api-key`` header; ``201 {"messageId"}``). ``answer_next()`` makes it answer the next
    requests otherwise (a 503, a 400), ``delay`` makes it slow, ``seen`` lists every request
    it was sent (accepted or not) with the database connections the app had out then.
    """

    API_KEY = "test-sms-api-key-0123456789"
    PATH = "/v3/transactionalSMS/send"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.server = HTTPServer(host="127.0.0.1", port=self.port, threaded=True)
        self.server.expect_request(self.PATH, method="POST").respond_with_handler(self._handle)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.messages: list[dict] = []  # accepted request bodies, in order
            self.seen: list[dict] = []  # every request body
            self.answers: list[tuple[int, dict]] = []
            self.delay = 0.0
            self.on_request = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer_next(self, *answers: tuple[int, dict]) -> None:
        """Answer the next requests with these (status, body) instead of accepting them."""
        with self._lock:
            self.answers.extend(answers)

    def _handle(self, request: Request) -> Response:
        if self.on_request is not None:
            self.on_request(request)
        if request.headers.get("api-key") != self.API_KEY:
            return _json_response(401, {"code": "unauthorized", "message": "Key not found"})
        body = request.get_json()
        time.sleep(self.delay)
        with self._lock:
            self.seen.append(body)
            if self.answers:
                return _json_response(*self.answers.pop(0))
            self.messages.append(body)
            message_id = len(self.messages) + 1000
        return _json_response(201, {"messageId": message_id})

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        """Stop listening, as a provider outage would; harmless when already stopped."""
        if self.server.is_running():
            self.server.stop()

    def to(self, number: str) -> list[dict]:
        recipient = number.lstrip("+")
        with self._lock:
            return [m for m in self.messages if m["recipient"] == recipient]

    def wait_for(self, number: str, wait: float = MAIL_SECONDS) -> dict:
        """Return the newest message accepted for ``number`` (E.164), polling until it comes."""
        deadline = time.monotonic() + wait
        while True:
            received = self.to(number)
            if received:
                return received[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no text message was sent to {number}")
            time.sleep(0.05)

    def last_code(self, number: str, wait: float = MAIL_SECONDS) -> str:
        """Read the 6-digit code of the newest message accepted for ``number``."""
        return re.search(r"\b(\d{6})\b", self.wait_for(number, wait)["content"]).group(1)


def _json_response(status: int, body: dict) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


@pytest.fixture(scope="session")
def _sms_provider_server() -> Iterator[SmsProvider]:
    provider = SmsProvider()
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
def sms_provider(_sms_provider_server) -> SmsProvider:
    """The SMS provider the test's app sends to (one server for the run, reset per test)."""
    _sms_provider_server.reset()
    return _sms_provider_server


# --- the app --------------------------------------------------------------------------


def make_settings(
    database_url: str, smtp_port: int, redis_prefix: str, sms_url: str = "", **overrides
) -> Settings:
    values = {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
        "JWT_SECRET_KEY": "test-jwt-key-0123456789abcdef0123456789abc",
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_TIMEOUT_SECONDS": 30,
        # Real text messages to a local provider when the test has one, else the outbox.
        "SMS_BACKEND": "http" if sms_url else "outbox",
        "SMS_API_URL": sms_url,
        "SMS_API_KEY": SmsProvider.API_KEY,
        "SMS_TIMEOUT_SECONDS": 30,
        "WEBAUTHN_RP_ID": "localhost",
        "WEBAUTHN_ORIGINS": ["http://localhost:8000", ANDROID_ORIGIN],
        "RATELIMIT_STORAGE_URI": TEST_REDIS_URL or "memory://",
        # A prefix per app: tests never share rate-limit counters.
        "RATELIMIT_KEY_PREFIX": f"{redis_prefix}-{uuid.uuid4().hex[:8]}",
        "LOG_LEVEL": "DEBUG",
    }
    values.update(overrides)
    return Settings.from_env(environ={}, **values)


ANDROID_ORIGIN = "android:apk-key-hash:2m8PxxrpSV6mP4Btc0FrmW_JlO8xgJKRgqLEYnOhKO8"


class ServerLikeClient(FlaskClient):
    """A test client that closes each response, as a WSGI server does once it is sent.

    It also stands in for the delivery workers: in a deployment, a message queued by a
    request wakes a ``mail deliver`` / ``sms deliver`` worker as the request commits
    (NOTIFY on PostgreSQL, a short poll on SQLite), and the worker runs one delivery pass.
    Here that pass runs in-process right after each response, in a fresh app context, for
    every outbox whose backend really sends; so a test reads the code from the SMTP sink or
    the SMS provider as soon as its request returns, with the worker's own code and
    failure handling (a failed pass is logged, the message waits for the next one).
    """

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        response.close()
        self._run_workers()
        return response

    def _run_workers(self) -> None:
        from api.infra.outbox import OUTBOXES
        from api.infra.outbox.worker import deliver_pass

        with self.application.app_context():
            for outbox in OUTBOXES.values():
                if outbox.transport.active():
                    deliver_pass(outbox)


@pytest.fixture
def app_settings() -> dict:
    """Per-test overrides of the app's settings; a test may add to it before using ``app``."""
    return {}


@pytest.fixture
def app(tmp_path, smtp, sms_provider, postgres_url, redis_prefix, app_settings):
    database_url = postgres_url or f"sqlite:///{tmp_path / 'test.sqlite3'}"
    settings = make_settings(
        database_url, smtp.port, redis_prefix, sms_provider.url, **app_settings
    )
    app = create_app(settings)
    app.test_client_class = ServerLikeClient
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        if postgres_url:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def clock(app):
    return app.extensions["clock"]


@pytest.fixture
def argon2_inputs(monkeypatch) -> list[str]:
    """Every password text argon2id is run on during the test (hashes and verifications)."""
    from api.infra import passwords

    seen: list[str] = []
    run = passwords._run_hashing

    def spy(function, *args):
        seen.extend(a for a in args if isinstance(a, str) and not a.startswith("$argon2"))
        return run(function, *args)

    monkeypatch.setattr(passwords, "_run_hashing", spy)
    return seen


# --- accounts and sign-in helpers -----------------------------------------------------

_nir_numbers = itertools.count(1)


def fresh_nir() -> str:
    """Return a valid NIR no other test uses."""
    return f"1850575{next(_nir_numbers):06d}"


class AccountHandle:
    def __init__(
        self, id: str, nir: str, email: str | None, password: str, phone: str | None = None
    ) -> None:
        self.id, self.nir, self.email, self.password = id, nir, email, password
        self.phone = phone


_phone_numbers = itertools.count(10_000_000)


def fresh_phone() -> str:
    """Return a metropolitan mobile number (E.164) no other test uses."""
    return f"+336{next(_phone_numbers):08d}"


NO_EMAIL = ""  # make_account(email=NO_EMAIL): an account without an address


@pytest.fixture
def make_account(app):
    def factory(
        nir: str | None = None,
        email: str | None = None,
        password: str = DEFAULT_PASSWORD,
        phone: str | None = None,
    ) -> AccountHandle:
        nir = nir or fresh_nir()
        if email is None:
            email = f"allocataire-{uuid.uuid4().hex[:8]}@exemple.fr"
        with app.app_context(), unit_of_work():
            account = accounts.create_account(nir, email or None, password, phone=phone)
            return AccountHandle(account.id, nir, account.email, password, account.phone)

    return factory


@pytest.fixture
def account(make_account) -> AccountHandle:
    return make_account()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sample_path(rule: str) -> str:
    """Fill a URL rule's variables: a fixed choice (``<any(email, phone):kind>``) takes its
    first value, anything else a made-up id, so that the request reaches the view."""
    path = re.sub(r"<any\(([a-z_]+)[^>]*>", r"\1", rule)
    return re.sub(r"<[^>]+>", "some-id", path)


class AuthActions:
    """Drive the sign-in as the app does, step by step or all at once."""

    def __init__(self, client, smtp: SmtpSink, clock, sms: SmsProvider | None = None) -> None:
        self.client = client
        self.smtp = smtp
        self.clock = clock
        self.sms = sms

    def login(
        self, account: AccountHandle, password: str | None = None, device_token: str | None = None
    ):
        body = {"nir": account.nir, "password": password or account.password}
        if device_token is not None:
            body["device_token"] = device_token
        return self.client.post("/api/v1/auth/login", json=body)

    def start(self, account: AccountHandle) -> str:
        response = self.login(account)
        assert response.status_code == 200, response.json
        return response.json["mfa_token"]

    def send_code(self, mfa_token: str, channel: str | None = None):
        body = {"json": {"channel": channel}} if channel else {}
        return self.client.post("/api/v1/auth/otp", headers=bearer(mfa_token), **body)

    def verify(self, mfa_token: str, code: str):
        return self.client.post(
            "/api/v1/auth/otp/verify", json={"code": code}, headers=bearer(mfa_token)
        )

    def texts(self, phone: str) -> list[str]:
        """Every SMS the provider accepted for ``phone``, newest first."""
        return [message["content"] for message in reversed(self.sms.to(phone))]

    def last_sms_code(self, phone: str) -> str:
        """Read the code from the newest SMS that holds one, sent to ``phone``."""
        self.sms.wait_for(phone)
        for content in self.texts(phone):
            match = re.search(r"\b(\d{6})\b", content)
            if match:
                return match.group(1)
        raise AssertionError(f"no code was texted to {phone}")

    def sign_in(self, account: AccountHandle) -> dict:
        """Complete a sign-in with the emailed code (texted, if no address); return the pair."""
        mfa_token = self.start(account)
        sent = self.send_code(mfa_token)
        if sent.status_code == 429:  # a code was sent moments ago: wait out the cooldown
            self.clock.advance(seconds=int(sent.headers["Retry-After"]))
            sent = self.send_code(mfa_token)
        assert sent.status_code == 202, sent.json
        code = (
            self.smtp.last_code(account.email)
            if sent.json["channel"] == "email"
            else self.last_sms_code(account.phone)
        )
        response = self.verify(mfa_token, code)
        assert response.status_code == 200, response.json
        return response.json


@pytest.fixture
def auth(client, smtp, clock, sms_provider) -> AuthActions:
    return AuthActions(client, smtp, clock, sms_provider)


@pytest.fixture
def signed_in(auth, account) -> dict:
    """A token pair for ``account`` after a complete sign-in."""
    return auth.sign_in(account)


# --- mediators --------------------------------------------------------------------------

MEDIATOR_PASSWORD = "Accompagner sans mot de passe 7"
MEDIATOR_LOGIN = "/api/v1/mediator/login"


class MediatorHandle:
    """What the operator command handed to a mediator, and the password they now use."""

    def __init__(self, id: str, email: str, password: str, totp_uri: str, code: str) -> None:
        self.id, self.email, self.password = id, email, password
        self.totp_uri, self.code = totp_uri, code
        self.totp = pyotp.parse_uri(totp_uri)
        self.last_step: int | None = None  # the last time step this test had accepted


@pytest.fixture
def make_mediator(app):
    def factory(
        email: str | None = None,
        name: str = "Camille Martin",
        organisation: str = "France Services de Montreuil",
    ) -> MediatorHandle:
        email = email or f"aidant-{uuid.uuid4().hex[:8]}@france-services.example"
        with app.app_context(), unit_of_work():
            enrolment = mediators.create_mediator(email, name, organisation)
            return MediatorHandle(
                enrolment.mediator.id,
                email,
                enrolment.password,
                enrolment.totp_uri,
                enrolment.mediator_code,
            )

    return factory


@pytest.fixture
def mediator(make_mediator) -> MediatorHandle:
    return make_mediator()


class MediatorActions:
    """Drive a mediator's sign-in as their app does: password and the code of the moment."""

    def __init__(self, client, clock) -> None:
        self.client = client
        self.clock = clock

    def step(self, mediator: MediatorHandle) -> int:
        return mediator.totp.timecode(self.clock.now())

    def code(self, mediator: MediatorHandle, *, steps: int = 0) -> str:
        """The code the mediator's app shows now, or ``steps`` periods away."""
        return mediator.totp.generate_otp(self.step(mediator) + steps)

    def login(self, mediator: MediatorHandle, password: str | None = None, totp: str | None = None):
        body = {
            "email": mediator.email,
            "password": password or mediator.password,
            "totp": totp or self.code(mediator),
        }
        return self.client.post(MEDIATOR_LOGIN, json=body)

    def sign_in(self, mediator: MediatorHandle) -> dict:
        """Sign in, waiting (on the test clock) for a new code if this one was used."""
        if mediator.last_step is not None and self.step(mediator) <= mediator.last_step:
            self.clock.advance(seconds=30)
        response = self.login(mediator)
        assert response.status_code == 200, response.json
        mediator.last_step = self.step(mediator)
        return response.json

    def activate(self, mediator: MediatorHandle) -> dict:
        """First sign-in: replace the operator's password; return the (kept) session's tokens."""
        pair = self.sign_in(mediator)
        new_password = MEDIATOR_PASSWORD
        response = self.client.put(
            "/api/v1/mediator/password",
            json={"current_password": mediator.password, "new_password": new_password},
            headers=bearer(pair["access_token"]),
        )
        assert response.status_code == 204, response.json
        mediator.password = new_password
        return pair

    def act_for(self, holder_access: str, mediator: MediatorHandle, mediator_access: str):
        """Have the holder give a 31-day « consult » mandate and the mediator open a session
        under it; return the response of ``POST /mediator/mandates/{id}/session``."""
        mandate = self.client.post(
            "/api/v1/account/mandates",
            json={"mediator_code": mediator.code, "scopes": ["consult"], "duration_days": 31},
            headers=bearer(holder_access),
        )
        assert mandate.status_code == 201, mandate.json
        return self.client.post(
            f"/api/v1/mediator/mandates/{mandate.json['id']}/session",
            headers=bearer(mediator_access),
        )


@pytest.fixture
def mediator_auth(client, clock) -> MediatorActions:
    return MediatorActions(client, clock)
