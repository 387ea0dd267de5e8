"""Live nodes keep their promises when a dependency fails, and lose nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

import pytest
import requests
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from api.extensions import db
from api.models import AuthSession, LoginTransaction, OneTimeCode, OutboxMail, RefreshToken
from tests.conftest import SmtpSink, _free_port
from tests.live_server import BIN, ROOT, stop
from tests.tcp_proxy import TcpProxy
from tests.timeouts import HTTP_SECONDS, STARTUP_SECONDS

NIR = "1850575000654"
PASSWORD = "Une phrase de passe solide"
EMAIL = "pannes@exemple.fr"
PROBLEM = "application/problem+json"


def login(url: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/auth/login", json={"nir": NIR, "password": password}, timeout=HTTP_SECONDS
    )


def send_code(url: str, mfa: str) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/auth/otp", headers={"Authorization": f"Bearer {mfa}"}, timeout=HTTP_SECONDS
    )


def verify(url: str, mfa: str, code: str) -> requests.Response:
    return requests.post(
        f"{url}/api/v1/auth/otp/verify",
        json={"code": code},
        timeout=HTTP_SECONDS,
        headers={"Authorization": f"Bearer {mfa}"},
    )


def test_mail_survives_an_smtp_outage_and_goes_out_once_with_two_workers(start_live_server):
    smtp_port = _free_port()  # nothing listens there yet: the mail server is down
    node = start_live_server(
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        MAIL_RETRY_BASE_SECONDS="1",
    )
    node.create_account(NIR, EMAIL, PASSWORD)
    mfa = login(node.url).json()["mfa_token"]
    assert send_code(node.url, mfa).status_code == 202
    time.sleep(0.5)
    ready = requests.get(f"{node.url}/readyz", timeout=HTTP_SECONDS).json()
    assert ready["mail_backlog"]["pending"] == 1

    sink = SmtpSink(port=smtp_port)
    sink.start()
    workers = [
        subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "mail", "deliver", "--loop", "--interval", "0.2"],
            cwd=ROOT,
            env=node.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        code = sink.last_code(EMAIL)
        time.sleep(3)  # both workers keep polling: a duplicate would show up now
        assert len(sink.to(EMAIL)) == 1
        assert verify(node.url, mfa, code).status_code == 200
        backlog = requests.get(f"{node.url}/readyz", timeout=HTTP_SECONDS).json()["mail_backlog"]
        assert backlog == {"pending": 0, "parked": 0}
    finally:
        for worker in workers:
            stop(worker)
        sink.stop()


class SinkThatCutsTheDatabase(SmtpSink):
    """Accepts the first message, and cuts the database before the worker can record it."""

    def __init__(self, proxy: TcpProxy) -> None:
        super().__init__()
        self.proxy = proxy

    async def handle_DATA(self, server, session, envelope):
        if not self.messages:
            self.proxy.cut()
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("app_settings", [{"MAIL_RETRY_BASE_SECONDS": 1}])
def test_mail_worker_rides_out_a_database_outage_and_never_sends_twice(
    app, auth, make_account, smtp, postgres_url, tmp_path
):
    if not postgres_url:
        pytest.skip("needs a database server to cut off (runs against PostgreSQL)")
    database = make_url(postgres_url)
    proxy = TcpProxy(database.host or "127.0.0.1", database.port or 5432)
    sink = SinkThatCutsTheDatabase(proxy)
    sink.start()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False
        ),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "JWT_SECRET_KEY": app.config["JWT_SECRET_KEY"],
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "MAIL_RETRY_BASE_SECONDS": "1",
    }
    env.pop("TEST_DATABASE_URL", None)
    log_path = tmp_path / "worker.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed below)
    worker = subprocess.Popen(
        [
            str(BIN / "flask"),
            *("--app", "wsgi", "mail", "deliver", "--loop"),
            *("--interval", "0.2", "--max-backoff", "1"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def statuses() -> list[str]:
        with app.app_context():
            return list(db.session.scalars(select(OutboxMail.status).order_by(OutboxMail.to)))

    def wait_for(condition, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not condition():
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, f"{what}\n{log_path.read_text()}"
            time.sleep(0.2)

    first, second = make_account(email="a-panne@exemple.fr"), make_account(email="b@exemple.fr")
    try:
        smtp.stop()  # the node's own attempt fails: the message waits for the worker
        mfa = auth.start(first)
        assert auth.send_code(mfa).status_code == 202
        wait_for(lambda: sink.messages, "the worker sent nothing")
        time.sleep(3)  # the database is away: several passes fail, the worker must live on
        assert worker.poll() is None, log_path.read_text()
        assert statuses() == ["sending"]

        proxy.restore()
        wait_for(lambda: statuses() == ["sent"], "the send was not recorded")
        # Back to work: a new message goes out, and the first one never went out again.
        assert auth.send_code(auth.start(second)).status_code == 202
        wait_for(lambda: len(sink.messages) == 2, "no delivery after the database came back")
        time.sleep(1)
        assert statuses() == ["sent", "sent"]
        assert len(sink.to(first.email)) == len(sink.to(second.email)) == 1
        assert auth.verify(mfa, sink.last_code(first.email)).status_code == 200
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
        sink.stop()
        proxy.close()
    output = log_path.read_text()
    assert "mail worker pass failed" in output
    for secret in (sink.last_code(first.email), first.email, second.email):
        assert secret not in output


def test_database_outage_gives_503_and_the_node_heals_itself(start_live_server, postgres_url):
    if not postgres_url:
        pytest.skip("needs a database server to cut off (runs against PostgreSQL)")
    server = make_url(postgres_url)
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432)
    database = make_url(postgres_url)
    live_database = make_url(start_live_server.database_url)
    through_proxy = database.set(host="127.0.0.1", port=proxy.port, database=live_database.database)
    node = start_live_server(DATABASE_URL=through_proxy.render_as_string(hide_password=False))
    node.create_account(NIR, EMAIL, PASSWORD)
    try:
        assert login(node.url).status_code == 200
        proxy.cut()
        ready = requests.get(f"{node.url}/readyz", timeout=HTTP_SECONDS)
        assert ready.status_code == 503 and ready.headers["Content-Type"] == PROBLEM
        assert ready.json()["code"] == "service_unavailable"
        down = login(node.url)
        assert down.status_code == 503 and down.headers["Content-Type"] == PROBLEM
        assert down.json()["detail"].startswith("Le service est momentanément indisponible")
        assert requests.get(f"{node.url}/healthz", timeout=HTTP_SECONDS).status_code == 200

        proxy.restore()  # no restart of the node: the pool's pre-ping reconnects
        deadline = time.monotonic() + STARTUP_SECONDS
        while requests.get(f"{node.url}/readyz", timeout=HTTP_SECONDS).status_code != 200:
            assert time.monotonic() < deadline, "the node did not recover"
            time.sleep(0.5)
        assert login(node.url).status_code == 200
    finally:
        proxy.close()


def test_redis_outage_keeps_sign_in_working_and_the_lockout_holding(start_live_server):
    dead_redis = f"redis://127.0.0.1:{_free_port()}/0"
    node = start_live_server(RATELIMIT_STORAGE_URI=dead_redis)
    node.create_account(NIR, EMAIL, PASSWORD)
    assert login(node.url).status_code == 200  # per-address limits fall back to memory
    statuses = [login(node.url, "mauvais mot de passe").status_code for _ in range(5)]
    assert statuses == [401] * 5
    locked = login(node.url)
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_attempts"


def test_killed_workers_leave_no_half_written_sign_in(start_live_server, smtp):
    node = start_live_server(
        workers=1, MAIL_BACKEND="outbox", OTP_RESEND_SECONDS="0", OTP_HOURLY_CAP="10000"
    )
    node.create_account(NIR, EMAIL, PASSWORD)
    stop_clients = threading.Event()
    completed = []

    def sign_in_loop() -> None:
        while not stop_clients.is_set():
            try:
                mfa = login(node.url).json()["mfa_token"]
                send_code(node.url, mfa)
                items = requests.get(
                    f"{node.url}/api/v1/dev/outbox?to={EMAIL}", timeout=HTTP_SECONDS
                ).json()["items"]
                code = next(
                    line for line in items[0]["text"].splitlines() if line.strip().isdigit()
                )
                if verify(node.url, mfa, code.strip()).status_code == 200:
                    completed.append(mfa)
            except (requests.RequestException, KeyError, ValueError, StopIteration):
                time.sleep(0.05)  # the worker died under us: the app would retry

    clients = [threading.Thread(target=sign_in_loop) for _ in range(3)]
    for client in clients:
        client.start()
    kills = 0
    try:
        # At least 12 s and 5 kills: a busy machine respawns workers slowly, so count the
        # kills rather than trust a duration alone.
        chaos_ends = time.monotonic() + 12
        give_up = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < chaos_ends or kills < 5:
            assert time.monotonic() < give_up, f"only {kills} workers killed"
            time.sleep(random.uniform(0.3, 1.2))
            for pid in node.worker_pids():
                os.kill(pid, signal.SIGKILL)
                kills += 1
        # Then leave the node alone until it has served a whole sign-in, however slowly
        # its last worker came back.
        while not completed:
            assert time.monotonic() < give_up + STARTUP_SECONDS, "no sign-in completed"
            time.sleep(0.2)
    finally:
        stop_clients.set()
        for client in clients:
            client.join(timeout=4 * HTTP_SECONDS)  # a loop ends after its current sign-in
    assert not any(client.is_alive() for client in clients)
    assert kills >= 5 and completed, (kills, len(completed))

    engine = create_engine(node.env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            done = conn.scalar(
                select(func.count())
                .select_from(LoginTransaction)
                .where(LoginTransaction.completed_at.is_not(None))
            )
            sessions = conn.scalar(select(func.count()).select_from(AuthSession))
            used_codes = conn.scalar(
                select(func.count())
                .select_from(OneTimeCode)
                .where(OneTimeCode.used_at.is_not(None))
            )
            sessions_without_token = conn.scalar(
                text(
                    "SELECT count(*) FROM sessions s WHERE NOT EXISTS "
                    "(SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id)"
                )
            )
            orphan_codes = conn.scalar(
                select(func.count())
                .select_from(OneTimeCode)
                .join(LoginTransaction, OneTimeCode.transaction_id == LoginTransaction.id)
                .where(OneTimeCode.used_at.is_not(None), LoginTransaction.completed_at.is_(None))
            )
            tokens = conn.scalar(select(func.count()).select_from(RefreshToken))
    finally:
        engine.dispose()
    # Each sign-in either happened whole (code spent, transaction done, session and refresh
    # token written) or not at all.
    assert done == sessions == used_codes == tokens >= len(completed)
    assert sessions_without_token == 0 and orphan_codes == 0
