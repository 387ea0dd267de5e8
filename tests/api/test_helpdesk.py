"""Helpdesk commands: what an agent sees (never a secret) and what they do (always recorded)."""

from __future__ import annotations

import pytest

from tests.conftest import bearer, fresh_nir, fresh_phone


@pytest.fixture
def holder(make_account):
    return make_account(phone=fresh_phone())


def show(runner, nir: str, *extra: str) -> str:
    result = runner.invoke(args=["accounts", "show", "--nir", nir, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def activity(client, pair: dict) -> list[str]:
    response = client.get("/api/v1/account/activity", headers=bearer(pair["access_token"]))
    return [item["detail"] for item in response.json["items"]]


def test_show_prints_masked_contacts_devices_locks_and_events_but_no_secret(
    app, runner, client, auth, holder, smtp
):
    from api.extensions import db
    from api.models import Account, OneTimeCode

    auth.sign_in(holder)
    for _ in range(5):
        auth.login(holder, password="Pas le bon mot de passe")
    assert auth.login(holder).status_code == 429  # locked by the wrong passwords
    # A counter code issued and a recovery code in flight: neither may be shown.
    counter = runner.invoke(
        args=["accounts", "recovery-code", "--nir", holder.nir, "--agent", "AG5", "--reason", "x"]
    ).stdout.strip()
    client.post("/api/v1/auth/recovery", json={"nir": holder.nir, "channel": "email"})
    recovery_code = smtp.last_code(holder.email)

    output = show(runner, holder.nir)

    with app.app_context():
        account = db.session.get(Account, holder.id)
        secrets = [
            holder.nir,
            holder.email,
            holder.phone,
            holder.phone.replace("+33", "0"),
            holder.password,
            account.password_hash,
            account.nir_hash.hex(),
            counter,
            counter.replace("-", ""),
            recovery_code,
        ]
        secrets += [row.code_hmac.hex() for row in db.session.query(OneTimeCode)]
    for secret in secrets:
        assert secret not in output, secret
    assert "$argon2" not in output
    # What the agent needs is there.
    assert account.nir_masked in output
    assert "email: " in output and "phone: " in output
    assert "lock sign-in (password, per NIR):" in output and "s left" in output
    assert "counter code: issued" in output and "by AG5" in output
    assert "last events:" in output
    assert "password_failed" in output
    event_lines = output.split("last events:")[1].strip().splitlines()
    assert 0 < len(event_lines) <= 20


def test_show_lists_at_most_twenty_events(runner, auth, holder):
    for _ in range(25):  # a day apart: no lock, 25 events
        auth.login(holder, password="Pas le bon mot de passe")
        auth.clock.advance(seconds=2 * 86400)
    output = show(runner, holder.nir)
    assert len(output.split("last events:")[1].strip().splitlines()) == 20


def test_show_of_an_unknown_nir_fails(runner):
    result = runner.invoke(args=["accounts", "show", "--nir", fresh_nir()])
    assert result.exit_code != 0


def test_unlock_lifts_the_locks_and_the_holder_sees_who_did_it(client, runner, auth, holder):
    for _ in range(5):
        auth.login(holder, password="Pas le bon mot de passe")
    assert auth.login(holder).status_code == 429
    assert "s left" in show(runner, holder.nir)
    result = runner.invoke(args=["accounts", "unlock", "--nir", holder.nir, "--agent", "AG123"])
    assert result.exit_code == 0, result.output
    assert "s left" not in show(runner, holder.nir)
    pair = auth.sign_in(holder)
    assert "Un agent de la Caf (identifiant AG123) a débloqué votre compte." in activity(
        client, pair
    )


def test_unlock_lifts_the_second_factor_lock(client, runner, auth, holder, app_settings):
    from api.extensions import db
    from api.infra import throttle
    from api.uow import unit_of_work

    with client.application.app_context(), unit_of_work():
        key = throttle.key_for("second-factor", holder.id)
        for _ in range(100):
            throttle.count_failure(key, throttle.second_factor_policy())
        assert throttle.retry_after(key) > 0
        db.session.flush()
    assert auth.login(holder).status_code == 429
    runner.invoke(args=["accounts", "unlock", "--nir", holder.nir, "--agent", "AG123"])
    assert auth.login(holder).status_code == 200


def test_a_consultation_with_an_agent_id_is_in_the_holders_activity(client, runner, auth, holder):
    show(runner, holder.nir, "--agent", "AG42")
    pair = auth.sign_in(holder)
    assert any("(identifiant AG42) a consulté" in detail for detail in activity(client, pair))


def test_unlock_needs_a_valid_agent_id(runner, holder):
    result = runner.invoke(args=["accounts", "unlock", "--nir", holder.nir, "--agent", ""])
    assert result.exit_code != 0
