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
from tests.conftest import ANDROID_ORIGIN


@pytest.fixture
def app_settings() -> dict:
    """The simulated person reads codes from the development outbox."""
    return {"MAIL_BACKEND": "outbox"}


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


@pytest.mark.parametrize("name", sorted(scenario.shipped()))
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
    assert started["methods"] == ["email_otp"]
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


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        ("uv_failed", "webauthn_failed"),
        ("user_absent", "webauthn_failed"),
        ("cloned", "webauthn_failed"),
        ("tampered_signature", "webauthn_failed"),
        ("wrong_app_signature", "webauthn_failed"),
        ("replay", "webauthn_failed"),
        ("synced", "webauthn_failed"),  # BE appeared on a single-device credential
        ("counter_zero", "webauthn_failed"),  # the counter fell back to 0 after use
        ("framed", "webauthn_failed"),
    ],
)
def test_each_fault_is_refused_at_sign_in(enrolled_app, account, fault, outcome):
    enrolled_app.sign_in_with_biometrics(account.nir, account.password)  # counter now 1
    enrolled_app.sign_out()
    with pytest.raises(ApiProblem) as caught:
        enrolled_app.sign_in_with_biometrics(account.nir, account.password, faults=[fault])
    assert caught.value.code == outcome


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
    aidant.sign_in(mediator.email, mediator.password, totp_uri=mediator.totp_uri)
    aidant.sign_out()
    # The same device file tomorrow remembers which code it used last.
    aidant.device.save(tmp_path / "aidant.json")
    again = new_mediator_app(device=Device.load(tmp_path / "aidant.json"))
    again.sleep = aidant.sleep
    again.sign_in(mediator.email, mediator.password)  # no replayed code: it waited
    assert len(waits) == 1 and 0 < waits[0] <= 30.1
    assert oct((tmp_path / "aidant.json").stat().st_mode & 0o777) == "0o600"
