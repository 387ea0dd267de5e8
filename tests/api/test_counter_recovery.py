"""Recovery with a code an agent handed over at a counter: password, mailbox and phone lost."""

from __future__ import annotations

import re

import pytest

from tests.conftest import bearer, fresh_nir, fresh_phone

COUNTER = "/api/v1/auth/recovery/counter"
NEW_PASSWORD = "Repartir du bon pied 2027"
CODE_FORMAT = re.compile(r"^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")


def issue(runner, nir: str, *extra: str, agent: str = "AG123") -> str:
    result = runner.invoke(
        args=[
            "accounts",
            "recovery-code",
            "--nir",
            nir,
            "--agent",
            agent,
            "--reason",
            "téléphone et boîte mail perdus",
            *extra,
        ]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def redeem(client, nir: str, code: str, password: str = NEW_PASSWORD, **contacts):
    body = {"nir": nir, "recovery_code": code, "new_password": password, **contacts}
    return client.post(COUNTER, json=body)


@pytest.fixture
def holder(make_account):
    return make_account(phone=fresh_phone())


def test_the_printed_code_is_grouped_from_an_unambiguous_alphabet(runner, holder):
    codes = {issue(runner, holder.nir) for _ in range(5)}
    assert len(codes) == 5
    for code in codes:
        assert CODE_FORMAT.match(code), code
        assert not set(code) & set("01OIL")


def test_the_code_is_stored_hashed_and_recorded_with_the_agent(app, runner, holder):
    from api.extensions import db
    from api.models import CounterCode, SecurityEvent

    code = issue(runner, holder.nir, "--valid-hours", "24", agent="AG777")
    with app.app_context():
        row = db.session.query(CounterCode).one()
        assert row.agent_id == "AG777"
        assert code.encode() not in row.code_hmac
        assert code.replace("-", "").encode() not in row.code_hmac
        assert (row.expires_at - row.created_at).total_seconds() == 24 * 3600
        event = db.session.query(SecurityEvent).filter_by(type="counter_code_issued").one()
        assert event.data["agent"] == "AG777"


def test_counter_recovery_sets_password_and_contacts_and_tells_every_old_one(
    client, runner, auth, holder, smtp, sms_provider
):
    old_email, old_phone = holder.email, holder.phone
    session = auth.sign_in(holder)
    new_email, new_phone = "nouvelle-adresse@exemple.fr", fresh_phone()
    code = issue(runner, holder.nir)
    # Typed as people type it: lower case, spaces instead of dashes.
    typed = code.replace("-", " ").lower()
    response = redeem(client, holder.nir, typed, email=new_email, phone=new_phone)
    assert response.status_code == 204, response.json

    assert client.get("/api/v1/account", headers=bearer(session["access_token"])).status_code == 401
    # Every previous address and number is told; the new ones too.
    for address in (old_email, new_email):
        smtp.wait_for(address, "réinitialisé")
    smtp.wait_for(old_email, "coordonnées")
    for number in (old_phone, new_phone):
        sms_provider.wait_for(number)
        assert any("réinitialisé" in m["content"] for m in sms_provider.to(number))

    holder.password, holder.email, holder.phone = NEW_PASSWORD, new_email, new_phone
    pair = auth.sign_in(holder)
    contacts = client.get("/api/v1/account/contacts", headers=bearer(pair["access_token"])).json
    assert contacts["email"]["value"] == new_email and contacts["email"]["verified_at"]
    assert contacts["phone"]["value"] == new_phone and contacts["phone"]["verified_at"]
    details = [
        item["detail"]
        for item in client.get(
            "/api/v1/account/activity", headers=bearer(pair["access_token"])
        ).json["items"]
    ]
    assert any("(identifiant AG123)" in detail and "a servi" in detail for detail in details)
    assert any("vous a remis un code de récupération" in detail for detail in details)


def test_kinds_not_given_are_kept(client, runner, auth, holder):
    code = issue(runner, holder.nir)
    assert redeem(client, holder.nir, code).status_code == 204
    holder.password = NEW_PASSWORD
    pair = auth.sign_in(holder)
    contacts = client.get("/api/v1/account/contacts", headers=bearer(pair["access_token"])).json
    assert (contacts["email"]["value"], contacts["phone"]["value"]) == (holder.email, holder.phone)


def test_a_code_works_once_and_a_new_one_voids_the_previous(client, runner, holder):
    first = issue(runner, holder.nir)
    second = issue(runner, holder.nir)
    refused = redeem(client, holder.nir, first)
    assert (refused.status_code, refused.json["code"]) == (401, "invalid_recovery_code")
    assert redeem(client, holder.nir, second).status_code == 204
    again = redeem(client, holder.nir, second, "Une toute autre phrase 5")
    assert (again.status_code, again.json["code"]) == (401, "invalid_recovery_code")


def test_a_code_expires(client, runner, holder, clock):
    code = issue(runner, holder.nir, "--valid-hours", "1")
    clock.advance(seconds=3601)
    assert redeem(client, holder.nir, code).json["code"] == "invalid_recovery_code"


def test_a_code_serves_only_its_own_nir(client, runner, holder, make_account):
    other = make_account()
    code = issue(runner, holder.nir)
    assert redeem(client, other.nir, code).json["code"] == "invalid_recovery_code"
    assert redeem(client, holder.nir, code).status_code == 204


def test_a_wrong_code_and_an_unknown_nir_look_the_same(
    client, runner, holder, argon2_inputs, app_settings
):
    issue(runner, holder.nir)
    argon2_inputs.clear()
    wrong = redeem(client, holder.nir, "AAAA-BBBB-CCCC")
    unknown = redeem(client, fresh_nir(), "AAAA-BBBB-CCCC")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["code"] == "invalid_recovery_code"
    # The same argon2 work in both paths: the new password is hashed either way.
    assert argon2_inputs == [NEW_PASSWORD, NEW_PASSWORD]


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_five_wrong_codes_lock_counter_recovery_for_the_nir(client, runner, holder, known):
    nir = holder.nir if known else fresh_nir()
    code = issue(runner, holder.nir)
    for _ in range(5):
        assert redeem(client, nir, "AAAA-BBBB-CCCC").status_code == 401
    locked = redeem(client, nir, code)
    assert (locked.status_code, locked.json["code"]) == (429, "too_many_attempts")
    assert int(locked.headers["Retry-After"]) > 0


def test_the_right_code_after_the_lock_waits_for_the_agent_to_unlock(client, runner, holder):
    code = issue(runner, holder.nir)
    for _ in range(5):
        redeem(client, holder.nir, "AAAA-BBBB-CCCC")
    assert redeem(client, holder.nir, code).status_code == 429
    result = runner.invoke(args=["accounts", "unlock", "--nir", holder.nir, "--agent", "AG9"])
    assert result.exit_code == 0, result.output
    assert redeem(client, holder.nir, code).status_code == 204


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"email": "pas-une-adresse"}, "validation_error"),
        ({"phone": "0123456789"}, "validation_error"),
        ({"new_password": "court"}, "weak_password"),
    ],
)
def test_bad_contacts_or_a_weak_password_are_refused_first(client, runner, holder, extra, code):
    issued = issue(runner, holder.nir)
    body = {"nir": holder.nir, "recovery_code": issued, "new_password": NEW_PASSWORD, **extra}
    response = client.post(COUNTER, json=body)
    assert (response.status_code, response.json["code"]) == (400, code)
    # The code was not spent.
    assert redeem(client, holder.nir, issued).status_code == 204


def test_the_command_refuses_an_unknown_nir_or_a_bad_agent_id(runner, holder):
    unknown = runner.invoke(
        args=["accounts", "recovery-code", "--nir", fresh_nir(), "--agent", "AG1", "--reason", "x"]
    )
    assert unknown.exit_code != 0
    bad_agent = runner.invoke(
        args=["accounts", "recovery-code", "--nir", holder.nir, "--agent", "A G", "--reason", "x"]
    )
    assert bad_agent.exit_code != 0
