"""Two ``sms deliver --loop`` workers ride out a provider outage: nothing lost or doubled."""

from __future__ import annotations

import os
import subprocess
import time

from api.extensions import db
from api.infra import sms
from api.infra.outbox import SMS
from api.uow import unit_of_work
from tests.conftest import SmsProvider, _free_port
from tests.live_server import BIN, ROOT, stop, wait_for_line
from tests.timeouts import MAIL_SECONDS


def test_sms_survive_a_provider_outage_and_go_out_once_with_two_workers(app, tmp_path):
    port = _free_port()  # nothing listens there yet: the provider is down
    with app.app_context():
        database_url = db.engine.url.render_as_string(hide_password=False)
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "JWT_SECRET_KEY": app.config["JWT_SECRET_KEY"],
        "SMS_BACKEND": "http",
        "SMS_API_URL": f"http://127.0.0.1:{port}",
        "SMS_API_KEY": SmsProvider.API_KEY,
        "SMS_RETRY_BASE_SECONDS": "1",
    }
    env.pop("TEST_DATABASE_URL", None)
    workers = []
    for n in range(2):
        log_path = tmp_path / f"sms-worker-{n}.log"
        log = open(log_path, "wb")  # noqa: SIM115 (closed below)
        process = subprocess.Popen(
            [str(BIN / "flask"), *("--app", "wsgi", "sms", "deliver", "--loop")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        workers.append((process, log, log_path))
    provider = SmsProvider(port=port)
    try:
        for process, _, log_path in workers:
            wait_for_line(process, log_path, "sms worker started")
        numbers = [f"+3361200{n:04d}" for n in range(10)]
        for number in numbers:
            with app.app_context(), unit_of_work():
                sms.queue(number, f"Caf : message pour {number}")
        # The workers try at once and fail: the provider is down.
        deadline = time.monotonic() + MAIL_SECONDS
        while b"sms delivery failed" not in b"".join(p.read_bytes() for *_, p in workers):
            assert time.monotonic() < deadline, "no worker tried while the provider was down"
            time.sleep(0.1)

        provider.start()
        for number in numbers:
            provider.wait_for(number)
        time.sleep(3)  # both workers keep polling: a duplicate would show up now
        assert sorted(m["recipient"] for m in provider.seen) == sorted(
            n.lstrip("+") for n in numbers
        )
        with app.app_context():
            assert SMS.backlog() == {"pending": 0, "parked": 0}
    finally:
        for process, log, _ in workers:
            stop(process)
            log.close()
        provider.stop()
    output = b"".join(p.read_bytes() for *_, p in workers).decode()
    for number in numbers:
        assert number not in output and number.lstrip("+") not in output
