"""mobile_mock against the app in-process (Flask test client)."""

from __future__ import annotations

import json

import pytest

from mobile_mock import scenario
from mobile_mock.authenticator import AuthenticatorError
from mobile_mock.client import ApiProblem, MobileApp
from mobile_mock.device import AppIdentity, Device
from mobile_mock.mediator import MediatorApp
from mobile_mock.transport import FlaskTransport
from tests.conftest import ANDROID_ORIGIN, NO_EMAIL, fresh_phone


@pytest.fixture
def app_settings() -> dict:
    """The simulated person reads codes from the development outboxes (mail and SMS)."""
    return {"MAIL_BACKEND": "outbox", "SMS_BACKEND": "outbox"}


@pytest.fixture
def account(make_account):
    """A holder with an address and a mobile, like the demo account."""
    return make_account(phone=fresh_phone())


@pytest.fixture
def android() -> AppIdentity:
    identity = AppIdentity(platform="android", origin=ANDROID_ORIGIN, package="fr.caf.test")
    return identity


@pytest.fixture
def new_app(app, account, android):
    def factory(name: str = "phone", device: Device | None = None) -> MobileApp:
        return MobileApp(
            transport=FlaskTransport(app.test_client()),
            device=device or Device(app=android),
            email=account.email,
            phone=account.phone,
        )

    return factory


@pytest.fixture
def enrolled_app(new_app, account):
    phone = new_app()
    phone.sign_in_with_code(account.nir, account.password)
    phone.enable_biometrics("Pixel 8")
    phone.sign_out()
    return phone


@pytest.fixture
def new_mediator_app(app, clock):
    """A mediator's device whose authenticator app reads the service's (movable) clock."""

    def factory(name: str = "aidant", device: Device | None = None) -> MediatorApp:
        return MediatorApp(
            transport=FlaskTransport(app.test_client()),
            device=device or Device(),
            clock=lambda: clock.now().timestamp(),
            sleep=lambda seconds: clock.advance(seconds=seconds),
        )

    return factory


@pytest.mark.parametrize(
    "name", sorted(name for name in scenario.shipped() if not scenario.requirements(name))
)
def test_shipped_scenarios_pass_in_process(
    name, new_app, new_mediator_app, account, mediator, clock
):
    runner = scenario.Runner(
        new_app,
        nir=account.nir,
        password=account.password,
        sleep=lambda seconds: clock.advance(seconds=seconds),
        mediator=scenario.MediatorLogin(mediator.email, mediator.password, mediator.totp_uri),
        make_mediator_app=new_mediator_app,
    )
    result = runner.run(scenario.load(name))
    assert result.ok, json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
    assert len(result.steps) >= 5


def test_code_sign_in_and_account_pages(new_app, account):
    phone = new_app()
    started = phone.sign_in(account.nir, account.password)
    assert started["methods"] == ["email_otp", "sms_otp"]
    assert phone.send_code()["expires_in"] == 900
    phone.verify_code(phone.fetch_code())
    assert phone.account()["email"] == account.email
    assert "biometrics_enable" in [item["id"] for item in phone.menu()]
    assert phone.sessions()[0]["current"] is True
    assert phone.activity()[0]["type"] == "sign_in"


def test_problems_carry_the_contract_code(new_app, account):
    phone = new_app()
    with pytest.raises(ApiProblem) as caught:
        phone.sign_in(account.nir, "pas le bon mot de passe")
    assert caught.value.code == "invalid_credentials" and caught.value.status == 401
    assert caught.value.detail.startswith("Le numéro de sécurité sociale")


def test_expired_access_token_is_refreshed_once(new_app, account, app):
    phone = new_app()
    phone.sign_in_with_code(account.nir, account.password)
    first_refresh = phone.refresh_token
    # Tokens issued from now on are expired.
    app.extensions["settings"].ACCESS_TOKEN_TTL_SECONDS = -60
    phone.refresh()
    app.extensions["settings"].ACCESS_TOKEN_TTL_SECONDS = 900
    assert phone.account()["email"] == account.email  # refreshed behind the scenes
    assert phone.refresh_token != first_refresh


SIGN_IN_FAULTS = [
    ("uv_failed", "webauthn_failed"),
    ("user_absent", "webauthn_failed"),
    ("cloned", "webauthn_failed"),
    ("tampered_signature", "webauthn_failed"),
    ("wrong_app_signature", "webauthn_failed"),
    ("replay", "webauthn_failed"),
    ("synced", "webauthn_failed"),  # BE appeared on a single-device credential
    ("counter_zero", "webauthn_failed"),  # the counter fell back to 0 after use
    ("framed", "webauthn_failed"),
]


@pytest.mark.parametrize(("fault", "outcome"), SIGN_IN_FAULTS)
def test_each_fault_is_refused_at_sign_in(enrolled_app, account, fault, outcome):
    enrolled_app.sign_in_with_biometrics(account.nir, account.password)  # counter now 1
    enrolled_app.sign_out()
    with pytest.raises(ApiProblem) as caught:
        enrolled_app.sign_in_with_biometrics(account.nir, account.password, faults=[fault])
    assert caught.value.code == outcome


@pytest.mark.parametrize(("fault", "outcome"), SIGN_IN_FAULTS)
def test_each_fault_is_refused_at_passkey_sign_in(enrolled_app, fault, outcome):
    enrolled_app.sign_in_with_passkey()  # counter now 1
    enrolled_app.sign_out()
    with pytest.raises(ApiProblem) as caught:
        enrolled_app.sign_in_with_passkey(faults=[fault])
    assert caught.value.code == outcome


def test_passkey_sign_in_needs_nothing_but_the_phone(enrolled_app, new_app, account):
    device_token = enrolled_app.device.device_token
    enrolled_app.sign_in_with_passkey()
    assert enrolled_app.account()["authenticators"][0]["discoverable"] is True
    assert enrolled_app.device.device_token == device_token  # the same known device
    assert enrolled_app.activity()[0]["detail"] == (
        "Connexion avec la biométrie seule, sans mot de passe."
    )
    with pytest.raises(AuthenticatorError):  # a phone without a passkey has nothing to offer
        new_app("stranger").sign_in_with_passkey()


def test_a_clone_is_refused_even_after_refused_attempts(enrolled_app, new_app, account, clock):
    """Refused assertions move the phone's counter on, never the server's."""
    enrolled_app.sign_in_with_biometrics(account.nir, account.password)  # server: 1
    enrolled_app.sign_out()
    for _ in range(3):  # the phone now counts 4
        with pytest.raises(ApiProblem):
            enrolled_app.sign_in_with_biometrics(
                account.nir, account.password, faults=["uv_failed"]
            )
    with pytest.raises(ApiProblem) as caught:
        enrolled_app.sign_in_with_biometrics(account.nir, account.password, faults=["cloned"])
    assert caught.value.code == "webauthn_failed"
    credential = enrolled_app.device.authenticator.credentials[0]
    assert (credential.sign_count, credential.accepted_sign_count) == (4, 1)
    clock.advance(seconds=61)  # the code cooldown of the enrolment's sign-in
    tablet = new_app("tablet")
    tablet.sign_in_with_code(account.nir, account.password)
    assert [device["blocked"] for device in tablet.authenticators()] == [True]


@pytest.mark.parametrize("fault", ["uv_failed", "user_absent", "wrong_app_signature", "framed"])
def test_each_fault_is_refused_at_enrolment(new_app, account, fault):
    phone = new_app()
    phone.sign_in_with_code(account.nir, account.password)
    with pytest.raises(ApiProblem) as caught:
        phone.enable_biometrics("Pixel 8", faults=[fault])
    assert caught.value.code == "webauthn_failed" and caught.value.status == 400


def test_legitimate_variants_are_accepted(new_app, account, clock):
    synced = new_app()
    synced.sign_in_with_code(account.nir, account.password)
    device = synced.enable_biometrics("Passkey synchronisée", faults=["synced"])
    assert device["device_type"] == "multi_device" and device["backed_up"] is True
    synced.sign_out()
    for _ in range(2):  # a synced passkey whose counter stays 0
        synced.sign_in_with_biometrics(
            account.nir, account.password, faults=["synced", "counter_zero"]
        )
        synced.sign_out()


def test_unknown_fault_is_a_usage_error(enrolled_app, account):
    with pytest.raises(ValueError, match="unknown fault"):
        enrolled_app.sign_in_with_biometrics(account.nir, account.password, faults=["laser"])


def test_device_file_round_trips(enrolled_app, new_app, account, tmp_path):
    path = tmp_path / "phone.json"
    enrolled_app.device.save(path)
    saved = json.loads(path.read_text())
    assert saved["app"]["origin"] == ANDROID_ORIGIN
    assert len(saved["authenticator"]["credentials"]) == 1
    assert account.nir not in path.read_text() and account.password not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    # Tomorrow, on the same phone: the loaded device signs in.
    phone = new_app(device=Device.load(path))
    assert phone.device.to_dict() == enrolled_app.device.to_dict()
    assert phone.device.device_token.startswith("dt_")  # kept for the next login
    phone.sign_in_with_biometrics(account.nir, account.password)
    assert phone.account()["authenticators"][0]["name"] == "Pixel 8"


def test_a_phone_without_biometrics_cannot_fake_them(new_app, enrolled_app, account):
    stranger = new_app()
    with pytest.raises(AuthenticatorError):
        stranger.sign_in_with_biometrics(account.nir, account.password)


def test_scenario_with_a_wrong_expectation_fails_and_says_why(new_app, account, clock):
    spec = {
        "name": "faux",
        "steps": [
            {"do": "sign_in_with_code"},
            {"do": "bio_sign_in", "expect": "ok"},  # wrong: nothing is enrolled
            {"do": "sign_out"},
        ],
    }
    result = scenario.Runner(
        new_app,
        nir=account.nir,
        password=account.password,
        sleep=lambda s: clock.advance(seconds=s),
    ).run(spec)
    assert not result.ok
    last = result.steps[-1]
    assert (last.index, last.outcome, last.expected) == (2, "no_authenticator", ["ok"])
    assert len(result.steps) == 2  # the run stopped there


def test_malformed_scenarios_are_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": "none"}')
    with pytest.raises(scenario.ScenarioError):
        scenario.load(bad)
    with pytest.raises(scenario.ScenarioError):
        scenario.load("no-such-scenario")


def test_a_mediator_acts_under_a_mandate_then_is_refused(
    new_app, new_mediator_app, account, mediator, clock
):
    holder = new_app()
    holder.sign_in_with_code(account.nir, account.password)
    aidant = new_mediator_app()
    signed_in = aidant.sign_in(mediator.email, mediator.password, totp_uri=mediator.totp_uri)
    assert signed_in["password_change_required"] is True
    with pytest.raises(ApiProblem) as caught:
        aidant.mandates()
    assert caught.value.code == "password_change_required"
    aidant.change_password(mediator.password, "Un mot de passe d'aidant 7")

    mandate = holder.grant_mandate(aidant.profile()["mediator_code"], ["consult"], 31)
    assert [m["id"] for m in aidant.mandates()] == [mandate["id"]]
    assert aidant.open_mandate(mandate["id"])["expires_in"] == 3600
    assert aidant.holder_account()["email"] == account.email
    assert aidant.holder_activity()[0]["type"] == "delegated_session_opened"
    with pytest.raises(ApiProblem) as caught:
        aidant.change_holder_password()
    assert caught.value.code == "delegation_forbidden"

    holder.revoke_mandate(mandate["id"])
    with pytest.raises(ApiProblem) as caught:
        aidant.holder_account()
    assert caught.value.code == "token_invalid"
    assert [m["in_force"] for m in holder.mandates()] == [False]


def test_the_mediators_app_waits_for_a_new_code_rather_than_reuse_one(
    new_mediator_app, mediator, clock, tmp_path
):
    waits: list[float] = []
    aidant = new_mediator_app()
    aidant.sleep = lambda seconds: (waits.append(seconds), clock.advance(seconds=seconds))
    # Start just after a 30 s step begins, so that both sign-ins fall in the same step
    # (otherwise real time crossing a boundary between them would spare the wait).
    clock.advance(seconds=30 - clock.now().timestamp() % 30 + 0.5)
    aidant.sign_in(mediator.email, mediator.password, totp_uri=mediator.totp_uri)
    aidant.sign_out()
    # The same device file tomorrow remembers which code it used last.
    aidant.device.save(tmp_path / "aidant.json")
    again = new_mediator_app(device=Device.load(tmp_path / "aidant.json"))
    again.sleep = aidant.sleep
    again.sign_in(mediator.email, mediator.password)  # no replayed code: it waited
    assert len(waits) == 1 and 0 < waits[0] <= 30.1
    assert oct((tmp_path / "aidant.json").stat().st_mode & 0o777) == "0o600"


def test_a_phone_only_holder_signs_in_by_sms(app, make_account, android):
    holder = make_account(email=NO_EMAIL, phone=fresh_phone())
    phone = MobileApp(
        transport=FlaskTransport(app.test_client()),
        device=Device(app=android),
        phone="0" + holder.phone[3:],  # as the person writes it: read as +33…
    )
    phone.sign_in_with_code(holder.nir, holder.password)
    assert phone.code_channel == "sms" and phone.methods == ["sms_otp"]
    assert phone.hints == {"phone_hint": f"06 •• •• •• {holder.phone[-2:]}"}
    assert phone.account()["phone"] == holder.phone
    assert phone.sessions()[0]["amr"] == ["pwd", "sms"]


def test_an_email_and_phone_holder_chooses_the_channel(new_app, account):
    phone = new_app()
    phone.sign_in_with_code(account.nir, account.password, channel="sms")
    assert phone.sessions()[0]["amr"] == ["pwd", "sms"]
    phone.sign_out()
    phone.sign_in_with_code(account.nir, account.password)  # default: email
    assert phone.code_channel == "email"


def test_contacts_are_added_verified_and_removed(new_app, account, clock):
    phone = new_app()
    phone.sign_in_with_code(account.nir, account.password)
    phone.trusted_email = "fille@exemple.fr"
    sent = phone.add_contact("trusted_email", "fille@exemple.fr", "Ma fille")
    assert sent["destination_hint"] == "f•••@e•••.fr"
    assert phone.contacts()["trusted_email"] is None  # nothing changes before the code
    in_force = phone.verify_contact(
        "trusted_email", phone.fetch_contact_code("trusted_email", "fille@exemple.fr")
    )
    assert in_force["name"] == "Ma fille"
    phone.sign_out()

    phone.sign_in(account.nir, account.password)
    assert phone.methods == ["email_otp", "sms_otp", "trusted_email_otp"]
    phone.send_code("trusted_email")
    phone.verify_code(phone.fetch_code())
    assert [e["type"] for e in phone.activity()][:2] == ["sign_in", "code_sent"]

    phone.remove_contact("trusted_email")
    phone.remove_contact("email")
    with pytest.raises(ApiProblem) as caught:
        phone.remove_contact("phone")
    assert caught.value.code == "last_channel"
    clock.advance(seconds=61)
    phone.change_contact("email", account.email)
    assert phone.contacts()["email"]["value"] == account.email


def test_the_sms_sink_speaks_the_provider_api():
    import requests

    from mobile_mock.sms import SEND_PATH, SmsSink

    with SmsSink("127.0.0.1", 0, api_key="cle-de-test") as sink:
        send = sink.url + SEND_PATH
        body = {
            "sender": "Caf",
            "recipient": "33612345678",
            "content": "042917 est votre code de connexion",
            "type": "transactional",
            "tag": "sign-in",
        }
        accepted = requests.post(send, json=body, headers={"api-key": "cle-de-test"}, timeout=10)
        assert accepted.status_code == 201 and accepted.json() == {"messageId": 1}
        assert requests.post(send, json=body, timeout=10).status_code == 401
        unsound = {**body, "recipient": "+33612345678"}
        headers = {"api-key": "cle-de-test"}
        assert requests.post(send, json=unsound, headers=headers, timeout=10).status_code == 400
        assert sink.latest("+33612345678").code == "042917"
        assert sink.latest("06 12 34 56 78").code == "042917"
        assert sink.latest("+33700000000") is None


def _counter_code(runner, nir: str) -> str:
    printed = runner.invoke(
        args=[
            "accounts",
            "recovery-code",
            "--nir",
            nir,
            "--agent",
            "AG123",
            "--reason",
            "téléphone et boîte mail perdus",
        ]
    )
    assert printed.exit_code == 0, printed.output
    return printed.stdout.strip()


def test_the_lost_phone_and_mailbox_scenario_with_a_counter_code(
    runner, new_app, account, clock, auth
):
    assert scenario.requirements("telephone-et-boite-mail-perdus") == ["counter_code"]
    result = scenario.Runner(
        new_app,
        nir=account.nir,
        password=account.password,
        sleep=lambda seconds: clock.advance(seconds=seconds),
        counter_code=_counter_code(runner, account.nir),
    ).run(scenario.load("telephone-et-boite-mail-perdus"))
    assert result.ok, json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
    # Put back as it started: the same password and address work again.
    phone = new_app()
    phone.sign_in_with_code(account.nir, account.password, channel="email")
    assert phone.contacts()["email"]["value"] == account.email
    assert phone.authenticators() == []


def test_the_scenario_says_when_it_lacks_the_counter_code(new_app, account, clock):
    result = scenario.Runner(new_app, nir=account.nir, password=account.password)
    with pytest.raises(scenario.ScenarioError, match="counter-code"):
        result.run(scenario.load("telephone-et-boite-mail-perdus"))


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_forgot_password_by_email_or_sms_ends_every_session(new_app, account, channel):
    signed_in = new_app()
    signed_in.sign_in_with_code(account.nir, account.password)
    phone = new_app()
    phone.forgot_password(account.nir, channel)
    phone.reset_password(phone.fetch_recovery_code(), "Une phrase toute neuve 31")
    with pytest.raises(ApiProblem) as refused:
        signed_in.account()
    assert refused.value.code == "token_invalid"
    phone.sign_in_with_code(account.nir, "Une phrase toute neuve 31")
    assert any(item["type"] == "password_recovered" for item in phone.activity())


def test_disconnect_all_and_not_me(new_app, account):
    phone, tablet = new_app(), new_app()
    phone.sign_in_with_code(account.nir, account.password)
    tablet.sign_in_with_code(account.nir, account.password)
    phone.disconnect_all()
    with pytest.raises(ApiProblem):
        tablet.account()
    tablet.sign_in_with_code(account.nir, account.password)
    phone.not_me(phone.activity()[0]["id"])
    with pytest.raises(ApiProblem):
        tablet.account()
    assert phone.activity()[0]["type"] == "not_me_reported"
