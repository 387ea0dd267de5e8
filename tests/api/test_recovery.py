"""« Mot de passe oublié »: a code by email or SMS, then a new password in force everywhere."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import NO_EMAIL, bearer, fresh_nir, fresh_phone

RECOVERY = "/api/v1/auth/recovery"
VERIFY = "/api/v1/auth/recovery/verify"
NEW_PASSWORD = "Un nouveau départ en 2027"
SUBJECT = "Réinitialisation de votre mot de passe"
NOTICE = "Votre mot de passe Mon Compte a été réinitialisé"


def ask(client, nir: str, channel: str = "email"):
    return client.post(RECOVERY, json={"nir": nir, "channel": channel})


def finish(client, token: str, code: str, password: str = NEW_PASSWORD):
    return client.post(VERIFY, json={"code": code, "new_password": password}, headers=bearer(token))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def emailed_code(smtp, address: str) -> str:
    body = smtp.wait_for(address, SUBJECT).get_body(preferencelist=("plain",)).get_content()
    return re.search(r"^(\d{6})\r?$", body, re.MULTILINE).group(1)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def both(make_account):
    """A holder with an address and a mobile."""
    return make_account(phone=fresh_phone())


def test_recovery_by_email_sets_the_new_password_and_ends_every_session(
    client, auth, both, smtp, sms_provider
):
    first = auth.sign_in(both)
    second = auth.sign_in(both)
    started = ask(client, both.nir)
    assert started.status_code == 202
    assert set(started.json) == {"recovery_token", "expires_in", "resend_after"}
    assert started.json["expires_in"] == 900 and started.json["resend_after"] == 60

    done = finish(client, started.json["recovery_token"], emailed_code(smtp, both.email))
    assert done.status_code == 204, done.json

    # Every session ended: access tokens and refresh tokens alike.
    for pair in (first, second):
        assert (
            client.get("/api/v1/account", headers=bearer(pair["access_token"])).status_code == 401
        )
        refresh = client.post("/api/v1/auth/refresh", headers=bearer(pair["refresh_token"]))
        assert refresh.status_code == 401
    # The old password is dead, the new one works.
    assert auth.login(both).status_code == 401
    both.password = NEW_PASSWORD
    pair = auth.sign_in(both)
    # Told on every channel: by email and by SMS.
    assert NOTICE in smtp.wait_for(both.email, NOTICE)["Subject"]
    assert any("réinitialisé" in text for text in auth.texts(both.phone))
    items = client.get("/api/v1/account/activity", headers=bearer(pair["access_token"])).json[
        "items"
    ]
    details = [item["detail"] for item in items]
    assert any("changé avec le code reçu par courriel" in d for d in details)
    assert any("« Mot de passe oublié »" in d for d in details)


def test_recovery_by_sms_works_for_a_holder_without_an_address(client, auth, make_account):
    holder = make_account(email=NO_EMAIL, phone=fresh_phone())
    started = ask(client, holder.nir, "sms")
    assert started.status_code == 202
    code = auth.last_sms_code(holder.phone)
    assert "mot de passe" in auth.texts(holder.phone)[0]
    assert finish(client, started.json["recovery_token"], code).status_code == 204
    holder.password = NEW_PASSWORD
    assert auth.login(holder).status_code == 200
    assert any("réinitialisé" in text for text in auth.texts(holder.phone))


@pytest.mark.parametrize("case", ["unknown_nir", "missing_channel"])
def test_an_unknown_nir_or_a_missing_channel_looks_the_same(
    client, account, make_account, smtp, sms_provider, argon2_inputs, case
):
    # Another NIR: without an account, or whose account has no mobile.
    nir, channel = (fresh_nir(), "email") if case == "unknown_nir" else (make_account().nir, "sms")
    argon2_inputs.clear()  # from here on, only the requests' own work
    known = ask(client, account.nir)
    other = ask(client, nir, channel)
    assert (other.status_code, set(other.json)) == (known.status_code, set(known.json))
    assert other.json["expires_in"] == known.json["expires_in"]
    assert other.json["resend_after"] == known.json["resend_after"]
    assert other.headers["Content-Type"] == known.headers["Content-Type"]
    # A wrong code answers alike, with the same attempts left; no argon2 ran in either path.
    for token in (known.json["recovery_token"], other.json["recovery_token"]):
        response = finish(client, token, "000000")
        assert response.status_code == 401
        assert response.json["code"] == "otp_invalid"
        assert response.json["attempts_remaining"] == 4
    assert argon2_inputs == []
    # Only the real holder got a code, by email; nothing went by SMS.
    assert [m["Subject"] for m in smtp.messages] == [SUBJECT]
    assert sms_provider.seen == []


def test_the_same_work_runs_whether_the_nir_exists_or_not(app, client, account):
    """A flow and a stored code in both paths: the database work is the same."""
    from api.extensions import db
    from api.models import OneTimeCode, RecoveryFlow

    ask(client, account.nir)
    ask(client, fresh_nir())
    with app.app_context():
        flows = db.session.query(RecoveryFlow).all()
        stored = db.session.query(OneTimeCode).filter(OneTimeCode.recovery_flow_id.isnot(None))
        assert len(flows) == 2
        assert stored.count() == 2
        assert {flow.account_id is None for flow in flows} == {True, False}


def test_known_and_unknown_nirs_run_the_same_statements(app, make_account, runner, clock):
    """No timing tells: the same SQL in both paths, but for the message's outbox row."""
    from flask.testing import FlaskClient
    from sqlalchemy import event

    from api.extensions import db

    client = FlaskClient(app)  # no outbox pass after each answer: only the request's work
    statements: list[str] = []

    def listen(conn, cursor, statement, *_):
        # The message's outbox row and its wake-up (NOTIFY) are the one difference.
        if "outbox" not in statement and "pg_notify" not in statement:
            statements.append(statement)

    def run(method: str, path: str, body: dict, token: str | None = None) -> list[str]:
        statements.clear()
        response = client.open(path, method=method, json=body, headers=bearer(token or ""))
        assert response.status_code in {202, 401}, response.json
        return list(statements)

    holder = make_account()
    issue = ["accounts", "recovery-code", "--nir", holder.nir, "--agent", "A1", "--reason", "x"]
    assert runner.invoke(args=issue).exit_code == 0
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", listen)
    run("POST", RECOVERY, {"nir": fresh_nir(), "channel": "email"})  # warm-up
    clock.advance(seconds=61)
    starts = {
        nir: run("POST", RECOVERY, {"nir": nir, "channel": "email"})
        for nir in (holder.nir, fresh_nir())
    }
    assert starts[holder.nir] == starts[next(n for n in starts if n != holder.nir)]
    clock.advance(seconds=61)
    known = client.post(RECOVERY, json={"nir": holder.nir, "channel": "email"}).json
    unknown = client.post(RECOVERY, json={"nir": fresh_nir(), "channel": "email"}).json
    wrong_code = {"code": "000000", "new_password": NEW_PASSWORD}
    assert run("POST", VERIFY, wrong_code, known["recovery_token"]) == run(
        "POST", VERIFY, wrong_code, unknown["recovery_token"]
    )
    counter = {"recovery_code": "AAAA-AAAA-AAAA", "new_password": NEW_PASSWORD}
    path = "/api/v1/auth/recovery/counter"
    assert run("POST", path, {"nir": holder.nir, **counter}) == run(
        "POST", path, {"nir": fresh_nir(), **counter}
    )


def test_a_code_works_once_and_a_new_request_voids_the_old_code(client, account, smtp, clock):
    first = ask(client, account.nir).json["recovery_token"]
    old_code = emailed_code(smtp, account.email)
    clock.advance(seconds=61)
    second = ask(client, account.nir).json["recovery_token"]
    # The first request's code is void once another was asked for.
    assert finish(client, first, old_code).json["code"] == "otp_expired"
    code = emailed_code(smtp, account.email)
    assert finish(client, second, code).status_code == 204
    # Spent: neither the code nor the token serves again.
    assert finish(client, second, code, "Encore un autre mot de passe 9").status_code == 401


def test_codes_are_as_strict_as_sign_in_codes(client, account, smtp, clock):
    token = ask(client, account.nir).json["recovery_token"]
    code = emailed_code(smtp, account.email)
    remaining = [finish(client, token, wrong(code)).json for _ in range(5)]
    assert [r.get("attempts_remaining") for r in remaining[:4]] == [4, 3, 2, 1]
    assert remaining[4]["code"] == "otp_locked"
    # Locked: even the right code is refused now.
    assert finish(client, token, code).json["code"] == "otp_locked"
    clock.advance(seconds=61)
    token = ask(client, account.nir).json["recovery_token"]
    code = emailed_code(smtp, account.email)
    clock.advance(seconds=901)
    assert finish(client, token, code).json["code"] in {"otp_expired", "token_expired"}


def test_a_weak_password_is_refused_with_a_reason_and_spends_no_code(client, account, smtp):
    token = ask(client, account.nir).json["recovery_token"]
    code = emailed_code(smtp, account.email)
    for weak, reason in [
        ("court", "too_short"),
        ("motdepasse", "common"),
        (f"x{account.nir}x", "contains_nir"),
    ]:
        response = finish(client, token, code, weak)
        assert (response.status_code, response.json["code"]) == (400, "weak_password")
        assert response.json["reason"] == reason
        assert response.json["detail"]  # a French sentence
    assert finish(client, token, code).status_code == 204


def test_requests_are_throttled_per_nir_unknown_ones_too(client, account, clock):
    for nir in (account.nir, fresh_nir()):
        assert ask(client, nir).status_code == 202
        again = ask(client, nir)
        assert (again.status_code, again.json["code"]) == (429, "rate_limited")
        assert 0 < int(again.headers["Retry-After"]) <= 60
        # The hourly cap: 5 codes an hour, whatever the channel.
        for _ in range(4):
            clock.advance(seconds=61)
            assert ask(client, nir, "sms").status_code == 202
        clock.advance(seconds=61)
        capped = ask(client, nir)
        assert capped.status_code == 429
        assert int(capped.headers["Retry-After"]) > 60
        clock.advance(seconds=3600)


def test_the_per_account_cap_counts_sign_in_codes_too_and_tells_nothing(
    client, auth, account, smtp, clock
):
    mfa = auth.start(account)
    for _ in range(5):
        assert auth.send_code(mfa).status_code == 202
        clock.advance(seconds=61)
    smtp.messages.clear()
    # Over the account's cap: no code goes out, yet the answer is an unknown NIR's.
    capped, unknown = ask(client, account.nir), ask(client, fresh_nir())
    assert (capped.status_code, set(capped.json)) == (202, {*unknown.json})
    assert unknown.status_code == 202
    assert "Retry-After" not in capped.headers
    assert smtp.to(account.email) == []
    # That flow can never complete, whatever code is typed.
    response = finish(client, capped.json["recovery_token"], "123456")
    assert (response.status_code, response.json["code"]) == (401, "otp_invalid")
    # Once the hour has passed, codes go out again.
    clock.advance(seconds=3600)
    token = ask(client, account.nir).json["recovery_token"]
    assert finish(client, token, emailed_code(smtp, account.email)).status_code == 204
    assert [m["Subject"] for m in smtp.to(account.email)].count(SUBJECT) == 1


def test_recovery_lifts_the_sign_in_locks(client, auth, account, smtp):
    for _ in range(5):
        auth.login(account, password="Pas le bon mot de passe")
    assert auth.login(account).status_code == 429
    token = ask(client, account.nir).json["recovery_token"]
    assert finish(client, token, emailed_code(smtp, account.email)).status_code == 204
    account.password = NEW_PASSWORD
    assert auth.login(account).status_code == 200


def test_the_notice_lists_the_biometric_devices_that_stay(client, both, smtp, app):
    from api.clock import utcnow
    from api.extensions import db
    from api.models import Authenticator

    with app.app_context():
        db.session.add(
            Authenticator(
                account_id=both.id,
                credential_id=b"credential-of-a-lost-phone",
                public_key=b"key",
                aaguid="00000000-0000-0000-0000-000000000000",
                device_type="single_device",
                attestation_format="none",
                name="Pixel 8 de Marie",
                created_at=utcnow(),
            )
        )
        db.session.commit()
    token = ask(client, both.nir).json["recovery_token"]
    assert finish(client, token, emailed_code(smtp, both.email)).status_code == 204
    text = text_of(smtp.wait_for(both.email, NOTICE))
    assert "« Pixel 8 de Marie »" in text
    assert "Retirer" in text


def test_a_recovery_token_is_good_for_nothing_else(client, signed_in, account):
    token = ask(client, account.nir).json["recovery_token"]
    assert client.get("/api/v1/account", headers=bearer(token)).status_code == 401
    assert client.post("/api/v1/auth/otp", headers=bearer(token)).status_code == 401
    # And no other token opens the recovery's last step.
    for other in (signed_in["access_token"], signed_in["refresh_token"], "rcv_made-up"):
        response = finish(client, other, "123456")
        assert (response.status_code, response.json["code"]) == (401, "token_invalid")


@pytest.mark.parametrize(
    "body",
    [{}, {"nir": "123", "channel": "email"}, {"nir": "1850575123456", "channel": "trusted_email"}],
)
def test_malformed_requests_are_one_uniform_400(client, body):
    response = client.post(RECOVERY, json=body)
    assert (response.status_code, response.json["code"]) == (400, "validation_error")


def test_text_that_is_not_unicode_is_a_400_and_spends_nothing(client, account, runner, smtp):
    """A lone surrogate (valid JSON, not Unicode) in a password or a code: 400, never a 500."""
    bad = "\\ud800" + "abcdefghijkl"  # as JSON escapes it: the parser makes a lone surrogate
    token = ask(client, account.nir).json["recovery_token"]
    code = emailed_code(smtp, account.email)
    nir = f'"nir": "{account.nir}"'
    raw = {
        VERIFY: f'{{"code": "{code}", "new_password": "{bad}"}}',
        "/api/v1/auth/recovery/counter": (
            f'{{{nir}, "recovery_code": "K7PM-Q2XD-9RTA", "new_password": "{bad}"}}'
        ),
        "/api/v1/auth/recovery/counter#code": (
            f'{{{nir}, "recovery_code": "{bad}", "new_password": "{NEW_PASSWORD}"}}'
        ),
        "/api/v1/auth/login": f'{{{nir}, "password": "{bad}"}}',
    }
    for path, body in raw.items():
        response = client.post(
            path.split("#")[0],
            data=body,
            content_type="application/json",
            headers=bearer(token) if path == VERIFY else {},
        )
        assert (response.status_code, response.json["code"]) == (400, "invalid_json"), path
    # The code was neither spent nor counted: it still works, first try.
    assert finish(client, token, code).status_code == 204


def test_recovery_ends_delegated_sessions_too(client, auth, account, smtp, mediator_auth, mediator):
    holder = auth.sign_in(account)
    helper = mediator_auth.activate(mediator)
    opened = mediator_auth.act_for(holder["access_token"], mediator, helper["access_token"])
    delegated = opened.json["access_token"]
    assert client.get("/api/v1/account", headers=bearer(delegated)).status_code == 200
    token = ask(client, account.nir).json["recovery_token"]
    assert finish(client, token, emailed_code(smtp, account.email)).status_code == 204
    assert client.get("/api/v1/account", headers=bearer(delegated)).status_code == 401


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_a_burst_of_parallel_requests_for_one_nir_sends_one_code(app, account, smtp, known):
    """10 requests at once for one NIR, on every database: one 202, nine 429."""
    nir = account.nir if known else fresh_nir()
    barrier = threading.Barrier(10)

    def request(_) -> int:
        client = app.test_client()
        barrier.wait()
        return ask(client, nir).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(request, range(10)))
    assert sorted(statuses) == [202] + [429] * 9, statuses
    if known:
        assert len(smtp.to(account.email)) == 1


@pytest.mark.parametrize("app_settings", [{"SECOND_FACTOR_MAX_FAILURES": 2}])
def test_parallel_wrong_codes_cannot_slip_past_the_per_nir_lock(app, account, smtp):
    """5 wrong codes at once, the NIR locking at 2: only 2 are compared, on every database."""
    token = ask(app.test_client(), account.nir).json["recovery_token"]
    guess = wrong(emailed_code(smtp, account.email))
    barrier = threading.Barrier(5)

    def attempt(_) -> str:
        client = app.test_client()
        barrier.wait()
        return finish(client, token, guess).json["code"]

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(attempt, range(5)))
    assert sorted(answers) == ["otp_invalid"] * 2 + ["too_many_attempts"] * 3, answers


def test_a_sign_in_begun_with_the_old_password_cannot_be_finished(client, auth, account, smtp):
    """Someone who knew the old password, halfway through a sign-in, is stopped too."""
    mfa = auth.start(account)
    assert auth.send_code(mfa).status_code == 202
    sign_in_code = smtp.last_code(account.email)
    token = ask(client, account.nir).json["recovery_token"]
    assert finish(client, token, emailed_code(smtp, account.email)).status_code == 204
    late = auth.verify(mfa, sign_in_code)
    assert late.status_code == 401, late.json
    assert "access_token" not in late.json
