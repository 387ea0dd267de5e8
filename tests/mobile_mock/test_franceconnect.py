"""mobile_mock's FranceConnect+ sign-in, in-process, against the local provider."""

from __future__ import annotations

import json

import pytest

from mobile_mock import scenario
from mobile_mock.client import ApiProblem, MobileApp
from mobile_mock.device import Device
from mobile_mock.transport import FlaskTransport


@pytest.fixture
def app_settings(fc_provider) -> dict:
    """A relying party of the local provider; codes read from the development outbox."""
    return {"MAIL_BACKEND": "outbox", **fc_provider.service_settings()}


@pytest.fixture
def new_app(app, account):
    def factory(name: str = "phone", device: Device | None = None) -> MobileApp:
        return MobileApp(
            transport=FlaskTransport(app.test_client()),
            device=device or Device(),
            email=account.email,
        )

    return factory


@pytest.mark.parametrize(
    "name",
    sorted(name for name in scenario.shipped() if "franceconnect" in scenario.requirements(name)),
)
def test_shipped_franceconnect_scenarios_pass_in_process(name, new_app, account, clock):
    runner = scenario.Runner(
        new_app,
        nir=account.nir,
        password=account.password,
        sleep=lambda seconds: clock.advance(seconds=seconds),
    )
    result = runner.run(scenario.load(name))
    assert result.ok, json.dumps(result.to_dict(), indent=2, ensure_ascii=False)
    assert len(result.steps) >= 10


def test_the_app_keeps_the_link_token_until_it_links(new_app, account, tmp_path):
    phone = new_app()
    with pytest.raises(ApiProblem) as refused:
        phone.franceconnect_sign_in("marcel")
    assert refused.value.code == "link_required" and refused.value.status == 409
    # The app may be closed meanwhile: the token is in its storage.
    phone.device.save(tmp_path / "phone.json")
    phone = new_app(device=Device.load(tmp_path / "phone.json"))
    assert phone.device.franceconnect_link_token.startswith("fcl_")

    phone.sign_in_with_code(account.nir, account.password)
    linked = phone.link_franceconnect()

    assert (linked["given_name"], linked["family_name"]) == ("Marcel", "MARTIN")
    assert phone.device.franceconnect_link_token is None
    phone.sign_out()
    phone.franceconnect_sign_in("marcel")
    assert phone.account()["franceconnect"]["linked"] is True
    assert phone.sessions()[0]["amr"] == ["fc"]


def test_refusals_reach_the_app_as_codes(new_app):
    phone = new_app()
    with pytest.raises(ApiProblem) as low:
        phone.franceconnect_sign_in("angela", acr="eidas1")
    assert low.value.code == "franceconnect_failed"
    with pytest.raises(ApiProblem) as elsewhere:
        phone.franceconnect_sign_in("angela", return_to="https://pirate.example/fc")
    assert elsewhere.value.code == "validation_error"
    with pytest.raises(ApiProblem) as nothing:
        phone.link_franceconnect()
    assert nothing.value.code == "no_link_token"
