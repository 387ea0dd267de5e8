"""A development or testing configuration says so loudly when it listens beyond loopback."""

from __future__ import annotations

import os
import subprocess
import time

import requests

from tests.conftest import _free_port
from tests.live_server import BIN, ROOT

WARNING = "not only on loopback"
EVERYWHERE = "0.0.0.0"  # noqa: S104 (the case under test)


def test_gunicorn_warns_when_a_testing_configuration_listens_on_all_interfaces(
    tmp_path, live_database_url
):
    port = _free_port()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": live_database_url,
        "SECRET_KEY": "live-secret-key-0123456789abcdef0123456789",
        "JWT_SECRET_KEY": "live-jwt-key-0123456789abcdef0123456789ab",
        "MAIL_BACKEND": "smtp",
        "SMTP_PORT": str(_free_port()),  # nothing listens: no mail can leave
    }
    env.pop("TEST_DATABASE_URL", None)
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                *("-c", "gunicorn.conf.py", "--workers", "1"),
                *("--bind", f"{EVERYWHERE}:{port}", "wsgi:app"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                        break
                except requests.RequestException:
                    pass  # not listening yet, or no worker booted yet
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        finally:
            process.terminate()
            process.wait(timeout=20)
    output = log_path.read_text()
    assert WARNING in output and "APP_ENV=testing" in output and EVERYWHERE in output


def test_gunicorn_on_loopback_does_not_warn(start_live_server, tmp_path):
    node = start_live_server(workers=1)
    assert requests.get(f"{node.url}/healthz", timeout=5).ok
    port = node.url.rsplit(":", 1)[1]
    output = (tmp_path / f"gunicorn-{port}.log").read_text()
    assert "Booting worker" in output and WARNING not in output
