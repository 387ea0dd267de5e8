"""Codes by email or SMS: the channels a sign-in offers, and one set of rules for all."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import jwt as pyjwt
import pytest

from tests.conftest import NO_EMAIL, bearer, fresh_phone


def amr_of(pair: dict) -> list[str]:
    return pyjwt.decode(pair["access_token"], options={"verify_signature": False})["amr"]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def phone_only(make_account):
    return make_account(email=NO_EMAIL, phone=fresh_phone())


@pytest.fixture
def both(make_account):
    return make_account(phone=fresh_phone())


def test_phone_only_account_signs_in_by_sms(auth, phone_only, client, smtp):
    login = auth.login(phone_only)
    assert login.status_code == 200
    assert login.json["methods"] == ["sms_otp"]
    assert login.json["phone_hint"] == f"06 •• •• •• {phone_only.phone[-2:]}"
    assert "email_hint" not in login.json and "trusted_email_hint" not in login.json

    mfa = login.json["mfa_token"]
    sent = auth.send_code(mfa)  # no body: the only channel there is
    assert sent.status_code == 202
    assert sent.json == {
        "channel": "sms",
        "expires_in": 900,
        "resend_after": 60,
        "destination_hint": login.json["phone_hint"],
    }
    [text] = auth.texts(phone_only.phone)
    code = auth.last_sms_code(phone_only.phone)
    assert text.startswith(code) and "valable 15 minutes" in text
    assert "Aucun conseiller Caf" in text and len(text) <= 160

    verified = auth.verify(mfa, code)
    assert verified.status_code == 200
    assert amr_of(verified.json) == ["pwd", "sms"]
    headers = bearer(verified.json["access_token"])
    me = client.get("/api/v1/account", headers=headers).json
    assert me["email"] is None and me["phone"] == phone_only.phone
    activity = client.get("/api/v1/account/activity", headers=headers).json["items"]
    assert activity[0]["detail"] == "Connexion à votre compte avec le code reçu par SMS."
    assert activity[1]["detail"] == (
        f"Un code de connexion a été envoyé par SMS à votre mobile ({login.json['phone_hint']})."
    )
    # The code typed proves the number: it is now verified.
    contacts = client.get("/api/v1/account/contacts", headers=headers).json
    assert contacts["phone"]["verified_at"] is not None
    assert contacts["email"] is None
    assert smtp.messages == []


def test_email_and_phone_account_chooses_its_channel(auth, both, smtp):
    login = auth.login(both)
    assert login.json["methods"] == ["email_otp", "sms_otp"]
    assert {"email_hint", "phone_hint"} <= set(login.json)
    mfa = login.json["mfa_token"]

    by_email = auth.send_code(mfa)  # default: email
    assert by_email.json["channel"] == "email"
    assert by_email.json["email_hint"] == by_email.json["destination_hint"]
    assert auth.texts(both.phone) == []
    assert auth.verify(mfa, smtp.last_code(both.email)).status_code == 200

    mfa = auth.start(both)
    by_sms = auth.send_code(mfa, "sms")
    assert by_sms.status_code == 202 and by_sms.json["channel"] == "sms"
    assert "email_hint" not in by_sms.json
    pair = auth.verify(mfa, auth.last_sms_code(both.phone)).json
    assert amr_of(pair) == ["pwd", "sms"]


def test_a_resend_on_another_channel_voids_the_earlier_code(auth, both, smtp, clock):
    mfa = auth.start(both)
    auth.send_code(mfa, "email")
    emailed = smtp.last_code(both.email)
    clock.advance(seconds=30)
    early = auth.send_code(mfa, "sms")  # the cooldown holds across channels
    assert early.status_code == 429 and 25 <= int(early.headers["Retry-After"]) <= 30
    clock.advance(seconds=30)
    assert auth.send_code(mfa, "sms").status_code == 202
    texted = auth.last_sms_code(both.phone)
    if emailed != texted:
        refused = auth.verify(mfa, emailed)
        assert refused.status_code == 401 and refused.json["code"] == "otp_invalid"
    assert amr_of(auth.verify(mfa, texted).json) == ["pwd", "sms"]


@pytest.mark.parametrize("channel", ["sms", "trusted_email"])
def test_a_channel_the_account_lacks_is_unavailable(auth, account, channel, smtp):
    mfa = auth.start(account)
    response = auth.send_code(mfa, channel)
    assert response.status_code == 409 and response.json["code"] == "channel_unavailable"
    assert smtp.messages == []
    assert auth.send_code(mfa).status_code == 202  # nothing was counted


@pytest.mark.parametrize("body", [{"channel": "pigeon"}, {"channel": "SMS"}, {"canal": "sms"}, []])
def test_malformed_channel_choices_are_validation_errors(auth, account, body):
    response = auth.client.post("/api/v1/auth/otp", json=body, headers=bearer(auth.start(account)))
    assert response.status_code == 400 and response.json["code"] == "validation_error"


def test_a_code_sent_late_lives_its_whole_validity(auth, phone_only, clock):
    """Asked at minute 12 of the sign-in, the code still works at minute 26."""
    mfa = auth.start(phone_only)
    clock.advance(minutes=12)
    assert auth.send_code(mfa).status_code == 202
    clock.advance(minutes=14)
    response = auth.verify(mfa, auth.last_sms_code(phone_only.phone))
    assert response.status_code == 200, response.json


def test_the_extension_ends_with_the_code(auth, phone_only, clock):
    mfa = auth.start(phone_only)
    clock.advance(minutes=12)
    auth.send_code(mfa)
    clock.advance(minutes=15, seconds=1)
    response = auth.verify(mfa, auth.last_sms_code(phone_only.phone))
    assert response.status_code == 401 and response.json["code"] == "token_expired"


def test_the_cooldown_belongs_to_one_sign_in(auth, both, smtp):
    """Closed the app, opened the computer: the new sign-in gets its code at once."""
    first = auth.start(both)
    assert auth.send_code(first).status_code == 202
    first_code = smtp.last_code(both.email)
    second = auth.start(both)
    sent = auth.send_code(second, "sms")
    assert sent.status_code == 202, sent.json
    # Each code works in its own sign-in only.
    assert auth.verify(second, first_code).json["code"] in {"otp_invalid"}
    assert auth.verify(first, first_code).status_code == 200


def test_the_hourly_cap_counts_every_channel(auth, both, clock):
    statuses = []
    for index in range(6):
        mfa = auth.start(both)  # a new sign-in each time: no cooldown between them
        statuses.append(auth.send_code(mfa, ["email", "sms"][index % 2]).status_code)
    assert statuses == [202] * 5 + [429]
    clock.advance(hours=1)
    assert auth.send_code(auth.start(both), "sms").status_code == 202


def test_wrong_codes_by_sms_lock_like_emailed_ones(auth, phone_only):
    mfa = auth.start(phone_only)
    auth.send_code(mfa)
    code = auth.last_sms_code(phone_only.phone)
    answers = [auth.verify(mfa, wrong(code)).json for _ in range(5)]
    assert [a.get("attempts_remaining") for a in answers[:4]] == [4, 3, 2, 1]
    assert answers[4]["code"] == "otp_locked"
    assert auth.verify(mfa, code).json["code"] == "otp_locked"
    # The phone-only holder is told by SMS that someone has their password.
    assert any("Tentative de connexion" in text for text in auth.texts(phone_only.phone))


def test_parallel_sends_across_sign_ins_never_pass_the_hourly_cap(app, auth, both):
    tokens = [auth.start(both) for _ in range(12)]

    def send(index: int) -> int:
        channel = ["email", "sms"][index % 2]
        return (
            app.test_client()
            .post("/api/v1/auth/otp", json={"channel": channel}, headers=bearer(tokens[index]))
            .status_code
        )

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(send, range(12)))
    assert sorted(statuses) == [202] * 5 + [429] * 7, statuses


def test_parallel_sends_in_one_sign_in_give_one_code(app, auth, both):
    mfa = auth.start(both)

    def send(index: int) -> int:
        channel = ["email", "sms"][index % 2]
        return (
            app.test_client()
            .post("/api/v1/auth/otp", json={"channel": channel}, headers=bearer(mfa))
            .status_code
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(send, range(10)))
    assert sorted(statuses) == [202] + [429] * 9, statuses


def test_parallel_guesses_of_a_texted_code_get_five_comparisons(app, auth, phone_only):
    mfa = auth.start(phone_only)
    auth.send_code(mfa)
    code = auth.last_sms_code(phone_only.phone)

    def guess(_: int) -> str:
        response = app.test_client().post(
            "/api/v1/auth/otp/verify", json={"code": wrong(code)}, headers=bearer(mfa)
        )
        return response.json["code"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        outcomes = list(pool.map(guess, range(12)))
    assert outcomes.count("otp_invalid") == 4 and outcomes.count("otp_locked") == 8, outcomes
