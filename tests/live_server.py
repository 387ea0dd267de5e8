"""Live services under gunicorn on loopback ports, with their delivery workers.

A pytest plugin (see ``pytest_plugins`` in ``tests/conftest.py``): the e2e, mobile_mock
and browser tests all start nodes with the ``start_live_server`` fixture. All nodes of a
test share one database (a SQLite file, or a new PostgreSQL database when the suite runs
against PostgreSQL) and one rate-limit namespace, as nodes behind a load balancer do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import _free_port
from tests.timeouts import COMMAND_SECONDS, STARTUP_SECONDS, STOP_SECONDS

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    process: subprocess.Popen | None = None
    worker_logs: dict[str, Path] = field(default_factory=dict)  # outbox name -> its log

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            check=False,
        )

    def create_account(
        self, nir: str, email: str | None, password: str, phone: str | None = None
    ) -> None:
        contacts = (["--email", email] if email else []) + (["--phone", phone] if phone else [])
        created = self.flask("accounts", "create", "--nir", nir, *contacts, "--password", password)
        assert created.returncode == 0, created.stderr

    def texts(self, phone: str) -> list[str]:
        """The SMS written for ``phone``, newest first (the development SMS outbox)."""
        response = requests.get(f"{self.url}/api/v1/dev/sms", params={"to": phone}, timeout=30)
        assert response.status_code == 200, response.text
        return [item["text"] for item in response.json()["items"]]

    def last_sms_code(self, phone: str, wait: float = 60) -> str:
        """The code of the newest SMS holding one, written for ``phone``.

        Waits for it: the page's click may still be on its way when the test asks.
        """
        deadline = time.monotonic() + wait
        while True:
            for content in self.texts(phone):
                match = re.search(r"\b(\d{6})\b", content)
                if match:
                    return match.group(1)
            if time.monotonic() > deadline:
                raise AssertionError(f"no code was texted to {phone}")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """Return the pids of the gunicorn workers (children of the master)."""
        master = self.process.pid
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(entry.name))
        return pids


@pytest.fixture
def live_database_url(tmp_path, postgres_url) -> Iterator[str]:
    """A database for this test's live nodes."""
    if not postgres_url:
        yield f"sqlite:///{tmp_path / 'live.sqlite3'}"
        return
    name = f"moncompte_live_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def start_live_server(
    live_database_url, redis_prefix, tmp_path
) -> Iterator[Callable[..., LiveServer]]:
    """Start gunicorn nodes; stop them after the test."""
    processes: list[tuple[subprocess.Popen, object]] = []
    limits_prefix = f"{redis_prefix}-live-{uuid.uuid4().hex[:8]}"

    def start(
        host: str = "127.0.0.1",
        workers: int = 2,
        delivery_args: tuple[str, ...] = (),
        **overrides: str,
    ) -> LiveServer:
        """Start a node; ``{port}`` in an override stands for the port it listens on.

        As in production, the node itself sends nothing: with ``MAIL_BACKEND=smtp`` a
        ``mail deliver --loop`` worker runs alongside (with ``SMS_BACKEND=http`` an
        ``sms deliver --loop`` one), with ``delivery_args`` added to its command line;
        they start before the node answers and stop with it.
        """
        port = _free_port()
        overrides = {name: value.format(port=port) for name, value in overrides.items()}
        env = {
            **os.environ,
            "APP_ENV": "testing",
            "DATABASE_URL": live_database_url,
            "SECRET_KEY": "live-secret-key-0123456789abcdef0123456789",
            "JWT_SECRET_KEY": "live-jwt-key-0123456789abcdef0123456789ab",
            "MAIL_BACKEND": "outbox",
            "RATELIMIT_KEY_PREFIX": limits_prefix,
            "RATELIMIT_STORAGE_URI": os.environ.get("TEST_REDIS_URL", "memory://"),
            **overrides,
        }
        env.pop("TEST_DATABASE_URL", None)
        server = LiveServer(url=f"http://{host}:{port}", env=env)
        migrated = server.flask("db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        # Logs go to a file: a pipe nobody reads would fill up and stall the master.
        log = open(tmp_path / f"gunicorn-{port}.log", "wb")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                # A worker still importing the app on a busy machine is not stuck.
                "--timeout",
                str(int(STARTUP_SECONDS)),
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append((process, log))
        server.process = process
        delivery = []
        for outbox, setting, sends in (
            ("mail", "MAIL_BACKEND", "smtp"),
            ("sms", "SMS_BACKEND", "http"),
        ):
            if env.get(setting) == sends:
                worker_log_path = tmp_path / f"{outbox}-worker-{port}.log"
                worker_log = open(worker_log_path, "wb")  # noqa: SIM115 (closed below)
                worker = subprocess.Popen(
                    [
                        str(BIN / "flask"),
                        *("--app", "wsgi", outbox, "deliver", "--loop", *delivery_args),
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=worker_log,
                    stderr=subprocess.STDOUT,
                )
                processes.append((worker, worker_log))
                delivery.append((worker, worker_log_path, f"{outbox} worker started"))
                server.worker_logs[outbox] = worker_log_path
        wait_until_up(server.url, process, tmp_path / f"gunicorn-{port}.log")
        for worker, worker_log_path, started in delivery:
            wait_for_line(worker, worker_log_path, started)
        return server

    start.database_url = live_database_url  # type: ignore[attr-defined]
    yield start
    for process, log in processes:
        stop(process)
        log.close()


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process`` and wait for it; kill it if it will not go."""
    process.terminate()
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_SECONDS)


@pytest.fixture
def live_server(start_live_server, smtp) -> LiveServer:
    """A live node that sends real mail to the test's SMTP sink."""
    return start_live_server(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port))


def wait_until_up(
    url: str,
    process: subprocess.Popen,
    log: Path,
    *,
    deadline: float = STARTUP_SECONDS,
    attempt_seconds: float = 10.0,
) -> None:
    """Poll ``/healthz`` until it answers 200; fail only if the node exits or time is up.

    gunicorn listens before its workers have imported the app, so early attempts may be
    refused, reset, left unanswered or answered with an error: every such transient
    failure is retried until ``deadline`` seconds have passed.
    """
    end = time.monotonic() + deadline
    last = "no answer yet"
    while True:
        if process.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-4000:])
        remaining = end - time.monotonic()
        if remaining <= 0:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"the live server did not answer /healthz within {deadline:.0f} s "
                f"(last: {last})\n{tail}"
            )
        try:
            response = requests.get(f"{url}/healthz", timeout=min(attempt_seconds, remaining))
            if response.status_code == 200:
                return
            last = f"status {response.status_code}"
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)


def wait_for_line(process: subprocess.Popen, log: Path, line: str) -> None:
    """Wait until ``process`` writes ``line`` to ``log``; fail if it exits or time is up."""
    end = time.monotonic() + STARTUP_SECONDS
    while line not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > end:
            raise RuntimeError(f"no {line!r} in {log.name}:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)
