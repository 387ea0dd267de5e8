"""Live services under gunicorn on loopback ports, set up with the operator commands.

A pytest plugin (see ``pytest_plugins`` in ``tests/conftest.py``): the e2e, mobile_mock
and browser tests all start servers with :func:`start_live_server`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "flask"), "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def create_account(self, nir: str, email: str, password: str) -> None:
        created = self.flask(
            "accounts", "create", "--nir", nir, "--email", email, "--password", password
        )
        assert created.returncode == 0, created.stderr


@pytest.fixture
def start_live_server(tmp_path, postgres_url, redis_prefix) -> Iterator[Callable[..., LiveServer]]:
    """Start gunicorn (two workers) on a fresh SQLite database; stop it after the test."""
    if postgres_url:
        pytest.skip("the live-server tests run on SQLite; PostgreSQL is covered in-process")
    processes: list[subprocess.Popen] = []

    def start(host: str = "127.0.0.1", **overrides: str) -> LiveServer:
        """Start a server; ``{port}`` in an override stands for the port it listens on."""
        port = _free_port()
        overrides = {name: value.format(port=port) for name, value in overrides.items()}
        env = {
            **os.environ,
            "APP_ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp_path / f'live-{port}.sqlite3'}",
            "SECRET_KEY": "live-secret-key-0123456789abcdef0123456789",
            "JWT_SECRET_KEY": "live-jwt-key-0123456789abcdef0123456789ab",
            "MAIL_BACKEND": "outbox",
            "RATELIMIT_KEY_PREFIX": f"{redis_prefix}-live-{port}",
            "RATELIMIT_STORAGE_URI": os.environ.get("TEST_REDIS_URL", "memory://"),
            **overrides,
        }
        env.pop("TEST_DATABASE_URL", None)
        server = LiveServer(url=f"http://{host}:{port}", env=env)
        migrated = server.flask("db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        processes.append(process)
        _wait_until_up(server.url, process)
        return server

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def live_server(start_live_server, smtp) -> LiveServer:
    """A live service that sends real mail to the test's SMTP sink."""
    return start_live_server(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port))


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode())
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError("the live server did not start")
