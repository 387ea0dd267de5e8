"""A live service under gunicorn on a loopback port, set up with the operator commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import TEST_DATABASE_URL, _free_port

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture
def live_server(tmp_path, smtp, postgres_url, redis_prefix) -> Iterator[LiveServer]:
    if postgres_url:
        # The run's database may hold tables made by create_all; use a schema of our own.
        pytest.skip("the live-server tests run on SQLite; PostgreSQL is covered in-process")
    port = _free_port()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'live.sqlite3'}",
        "SECRET_KEY": "live-secret-key-0123456789abcdef0123456789",
        "JWT_SECRET_KEY": "live-jwt-key-0123456789abcdef0123456789ab",
        "MAIL_BACKEND": "smtp",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "RATELIMIT_KEY_PREFIX": f"{redis_prefix}-live",
        "RATELIMIT_STORAGE_URI": os.environ.get("TEST_REDIS_URL", "memory://"),
    }
    env.pop("TEST_DATABASE_URL", None)
    server = LiveServer(url=f"http://127.0.0.1:{port}", env=env)
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
    try:
        _wait_until_up(server.url, process)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)


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


__all__ = ["TEST_DATABASE_URL", "LiveServer"]
