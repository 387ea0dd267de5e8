"""The web node sends nothing itself; a waiting worker delivers a code within a second.

On PostgreSQL the worker is woken by the NOTIFY its request committed: it runs here with
a poll interval far longer than the bound, so only the notification can explain a quick
delivery. On SQLite it polls every half second. The bound is generous for busy machines;
the measured delay is printed, not benchmarked.
"""

from __future__ import annotations

import json
import time

import requests

from tests.timeouts import HTTP_SECONDS

NIR = "2991299000077"
PASSWORD = "Une phrase de passe solide"
EMAIL = "reveil@exemple.fr"
BOUND_SECONDS = 3.0
NEVER_POLLS = "60"  # seconds: longer than the whole test


def test_a_waiting_worker_delivers_the_code_within_a_second(start_live_server, smtp, postgres_url):
    delivery_args = ("--interval", NEVER_POLLS) if postgres_url else ()
    node = start_live_server(
        delivery_args=delivery_args,
        MAIL_BACKEND="smtp",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        OTP_RESEND_SECONDS="0",  # two codes in a row for one account
    )
    node.create_account(NIR, EMAIL, PASSWORD)
    api = f"{node.url}/api/v1"
    started = json.loads(
        next(
            line
            for line in node.worker_logs["mail"].read_text().splitlines()
            if "mail worker started" in line
        )
    )
    assert started["wakeup"] == ("notify" if postgres_url else "poll")

    delays = []
    for _ in range(2):  # twice: the worker goes back to waiting after a delivery
        mfa = requests.post(
            f"{api}/auth/login", json={"nir": NIR, "password": PASSWORD}, timeout=HTTP_SECONDS
        ).json()["mfa_token"]
        already = len(smtp.to(EMAIL))
        asked = time.monotonic()
        sent = requests.post(
            f"{api}/auth/otp", headers={"Authorization": f"Bearer {mfa}"}, timeout=HTTP_SECONDS
        )
        assert sent.status_code == 202, sent.text
        while len(smtp.to(EMAIL)) == already:
            assert time.monotonic() - asked < BOUND_SECONDS, "the code did not come in time"
            time.sleep(0.01)
        delays.append(time.monotonic() - asked)
        code = smtp.last_code(EMAIL, wait=0)
        verified = requests.post(
            f"{api}/auth/otp/verify",
            json={"code": code},
            headers={"Authorization": f"Bearer {mfa}"},
            timeout=HTTP_SECONDS,
        )
        assert verified.status_code == 200, verified.text
    print(f"code delivered {', '.join(f'{d:.3f}' for d in delays)} s after it was asked for")
