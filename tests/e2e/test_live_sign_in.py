"""The contract over real HTTP: gunicorn with two workers, a real SMTP server."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.timeouts import HTTP_SECONDS

NIR = "2991299000042"
PASSWORD = "Une phrase de passe solide"


def create_account(live_server, email: str) -> None:
    live_server.create_account(NIR, email, PASSWORD)


def start_sign_in(api: str, smtp, email: str) -> tuple[str, str]:
    login = requests.post(
        f"{api}/auth/login", json={"nir": NIR, "password": PASSWORD}, timeout=HTTP_SECONDS
    )
    assert login.status_code == 200, login.text
    mfa = login.json()["mfa_token"]
    sent = requests.post(
        f"{api}/auth/otp", headers={"Authorization": f"Bearer {mfa}"}, timeout=HTTP_SECONDS
    )
    assert sent.status_code == 202, sent.text
    return mfa, smtp.last_code(email)


def test_whole_sign_in_over_http(live_server, smtp):
    email = "live@exemple.fr"
    create_account(live_server, email)
    api = f"{live_server.url}/api/v1"

    mfa, code = start_sign_in(api, smtp, email)
    pair = requests.post(
        f"{api}/auth/otp/verify",
        json={"code": code},
        headers={"Authorization": f"Bearer {mfa}"},
        timeout=HTTP_SECONDS,
    ).json()
    access = {"Authorization": f"Bearer {pair['access_token']}"}
    me = requests.get(f"{api}/account", headers=access, timeout=HTTP_SECONDS)
    assert me.status_code == 200 and me.json()["email"] == email

    refreshed = requests.post(
        f"{api}/auth/refresh",
        timeout=HTTP_SECONDS,
        headers={"Authorization": f"Bearer {pair['refresh_token']}"},
    )
    assert refreshed.status_code == 200
    new_access = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
    logout = requests.post(f"{api}/auth/logout", headers=new_access, timeout=HTTP_SECONDS)
    assert logout.status_code == 204
    after = requests.get(f"{api}/account", headers=new_access, timeout=HTTP_SECONDS)
    assert after.status_code == 401
    assert after.headers["Content-Type"] == "application/problem+json"
    assert after.json()["code"] == "token_invalid"


def test_twelve_concurrent_verifications_give_one_success(live_server, smtp):
    email = "course@exemple.fr"
    create_account(live_server, email)
    api = f"{live_server.url}/api/v1"
    mfa, code = start_sign_in(api, smtp, email)

    def verify(_: int) -> int:
        return requests.post(
            f"{api}/auth/otp/verify",
            json={"code": code},
            timeout=HTTP_SECONDS,
            headers={"Authorization": f"Bearer {mfa}"},
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(verify, range(12)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}
