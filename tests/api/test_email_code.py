"""« Envoyer le code » and its verification."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.conftest import bearer


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_code_mail_is_french_and_warns_about_advisers(auth, account, smtp):
    auth.send_code(auth.start(account))
    [message] = smtp.to(account.email)
    assert message["Subject"] == "Votre code de connexion à Mon Compte"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    code = smtp.last_code(account.email)
    assert code in text and code in html
    assert "valable 15 minutes" in text
    assert "En aucun cas, un conseiller de la Caf ne vous demandera ce code" in text
    assert 'lang="fr"' in html


def test_wrong_code_counts_down_then_locks(auth, account, smtp):
    mfa = auth.start(account)
    auth.send_code(mfa)
    code = smtp.last_code(account.email)
    remaining = []
    for _ in range(4):
        response = auth.verify(mfa, wrong(code))
        assert response.status_code == 401 and response.json["code"] == "otp_invalid"
        remaining.append(response.json["attempts_remaining"])
    assert remaining == [4, 3, 2, 1]
    fifth = auth.verify(mfa, wrong(code))
    assert fifth.status_code == 401 and fifth.json["code"] == "otp_locked"
    # Even the right code is refused now: a new one must be asked for.
    assert auth.verify(mfa, code).json["code"] == "otp_locked"
    subjects = [m["Subject"] for m in smtp.to(account.email)]
    assert "Tentative de connexion à votre compte" in subjects


def test_locked_code_is_replaced_by_a_new_one(auth, account, smtp, clock):
    mfa = auth.start(account)
    auth.send_code(mfa)
    code = smtp.last_code(account.email)
    for _ in range(5):
        auth.verify(mfa, wrong(code))
    clock.advance(seconds=61)
    assert auth.send_code(mfa).status_code == 202
    assert auth.verify(mfa, smtp.last_code(account.email)).status_code == 200


def test_expired_code(auth, account, smtp, clock):
    mfa = auth.start(account)
    auth.send_code(mfa)
    clock.advance(minutes=14, seconds=59)
    code = smtp.last_code(account.email)
    # The login transaction itself lasts 15 minutes too: move the code's clock only.
    clock.advance(seconds=2)
    response = auth.verify(mfa, code)
    assert response.status_code == 401
    assert response.json["code"] in {"otp_expired", "token_expired"}


def test_code_expires_after_its_ttl(auth, account, smtp, clock, app):
    app.extensions["settings"].OTP_TTL_SECONDS = 120
    mfa = auth.start(account)
    auth.send_code(mfa)
    clock.advance(seconds=121)
    response = auth.verify(mfa, smtp.last_code(account.email))
    assert response.status_code == 401 and response.json["code"] == "otp_expired"


def test_code_works_once_and_kills_the_mfa_token(auth, account, smtp):
    mfa = auth.start(account)
    auth.send_code(mfa)
    code = smtp.last_code(account.email)
    assert auth.verify(mfa, code).status_code == 200
    again = auth.verify(mfa, code)
    assert again.status_code == 401 and again.json["code"] == "token_invalid"
    assert auth.send_code(mfa).json["code"] == "token_invalid"


def test_resend_voids_the_previous_code(auth, account, smtp, clock):
    mfa = auth.start(account)
    auth.send_code(mfa)
    first = smtp.last_code(account.email)
    clock.advance(seconds=61)
    auth.send_code(mfa)
    second = smtp.last_code(account.email)
    if first != second:
        assert auth.verify(mfa, first).json["code"] == "otp_invalid"
    assert auth.verify(mfa, second).status_code == 200


def test_resend_does_not_reset_the_failure_count(auth, account, smtp, clock):
    """Wrong codes add up over resends; past the limit the sign-in starts over."""
    mfa = auth.start(account)
    statuses = []
    for _ in range(3):
        clock.advance(seconds=61)
        assert auth.send_code(mfa).status_code == 202
        code = smtp.last_code(account.email)
        for _ in range(4):
            statuses.append(auth.verify(mfa, wrong(code)).status_code)
    # 10 wrong codes in all end the transaction, whatever the resends.
    assert statuses[:10] == [401] * 10
    response = auth.verify(mfa, smtp.last_code(account.email))
    assert response.status_code == 401 and response.json["code"] == "token_expired"


def test_resend_cooldown(auth, account, clock):
    mfa = auth.start(account)
    assert auth.send_code(mfa).status_code == 202
    clock.advance(seconds=30)
    early = auth.send_code(mfa)
    assert early.status_code == 429
    assert early.json["code"] == "rate_limited"
    assert early.headers["Retry-After"] == "30"
    clock.advance(seconds=30)
    assert auth.send_code(mfa).status_code == 202


def test_hourly_cap_per_account_across_sign_ins(auth, account, clock):
    statuses = []
    for _ in range(6):
        mfa = auth.start(account)  # a new sign-in each time: the cap is per account
        statuses.append(auth.send_code(mfa).status_code)
        clock.advance(seconds=61)
    assert statuses == [202] * 5 + [429]
    clock.advance(hours=1)
    assert auth.send_code(auth.start(account)).status_code == 202


def test_verify_without_a_code_asks_for_one(auth, account):
    response = auth.verify(auth.start(account), "123456")
    assert response.status_code == 401 and response.json["code"] == "otp_expired"


def test_code_of_another_sign_in_is_useless(auth, account, smtp, clock):
    first = auth.start(account)
    auth.send_code(first)
    code = smtp.last_code(account.email)
    second = auth.start(account)
    response = auth.verify(second, code)
    assert response.status_code == 401
    assert response.json["code"] == "otp_expired"  # no code was asked in this sign-in


def test_malformed_codes_are_validation_errors(auth, account):
    mfa = auth.start(account)
    for code in ["12345", "1234567", "12a456", "", 123456, None]:
        response = auth.client.post(
            "/api/v1/auth/otp/verify", json={"code": code}, headers=bearer(mfa)
        )
        assert response.status_code == 400, code
        assert response.json["code"] == "validation_error"


def test_code_with_a_line_break_is_refused_before_counting_an_attempt(auth, account, smtp):
    """A regex ``$`` also matches before a final newline: "123456\n" must not pass as 6 digits."""
    mfa = auth.start(account)
    auth.send_code(mfa)
    code = smtp.last_code(account.email)
    for variant in [code + "\n", wrong(code) + "\n", "\n" + code, code + "\r\n", code + " "]:
        response = auth.verify(mfa, variant)
        assert response.status_code == 400, repr(variant)
        assert response.json["code"] == "validation_error"
    # No attempt was counted: the first wrong code still leaves four more.
    response = auth.verify(mfa, wrong(code))
    assert response.status_code == 401 and response.json["attempts_remaining"] == 4
    assert auth.verify(mfa, code).status_code == 200


def test_concurrent_verifications_of_one_code_give_exactly_one_success(app, auth, account, smtp):
    mfa = auth.start(account)
    auth.send_code(mfa)
    code = smtp.last_code(account.email)

    def attempt(_: int) -> int:
        client = app.test_client()
        return client.post(
            "/api/v1/auth/otp/verify", json={"code": code}, headers=bearer(mfa)
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(attempt, range(12)))
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 401}
