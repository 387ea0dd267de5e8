"""Two gunicorn nodes on one database and one rate-limit store behave as one service."""

from __future__ import annotations

import pytest

from mobile_mock.client import ApiProblem, MobileApp
from mobile_mock.device import AppIdentity, Device
from mobile_mock.transport import HttpTransport

NIR = "1850575000321"
PASSWORD = "Une phrase de passe solide"
EMAIL = "deux-noeuds@exemple.fr"


@pytest.fixture
def nodes(start_live_server, smtp):
    settings = {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port)}
    node_a = start_live_server(**settings)
    node_b = start_live_server(**settings)
    node_a.create_account(NIR, EMAIL, PASSWORD)
    return node_a, node_b


class Balanced:
    """The app behind a load balancer: each call may land on either node."""

    def __init__(self, nodes, smtp) -> None:
        self.a, self.b = (HttpTransport(node.url) for node in nodes)
        self.app = MobileApp(transport=self.a, device=Device(app=AppIdentity.web()))
        self.smtp = smtp

    def signed_in_on(self, node: str) -> MobileApp:
        """Sign in on one node with the code read from the SMTP sink."""
        app = self.on(node)
        app.sign_in(NIR, PASSWORD)
        app.send_code()
        app.verify_code(self.smtp.last_code(EMAIL))
        return app

    def on(self, node: str) -> MobileApp:
        self.app.transport = self.a if node == "a" else self.b
        return self.app


def test_code_asked_on_a_verifies_on_b(nodes, smtp):
    route = Balanced(nodes, smtp)
    route.on("a").sign_in(NIR, PASSWORD)
    route.on("a").send_code()
    route.on("b").verify_code(smtp.last_code(EMAIL))
    assert route.on("a").account()["email"] == EMAIL


def test_refresh_rotated_on_b_and_replayed_on_a_is_reuse(nodes, smtp):
    route = Balanced(nodes, smtp)
    app = route.signed_in_on("a")
    spent = app.refresh_token
    route.on("b").refresh()
    route.on("b").refresh()  # the app moved on: the grace for a retried refresh is over
    route.app.device.session["refresh_token"] = spent  # an attacker's copy of the old token
    with pytest.raises(ApiProblem) as caught:
        route.on("a").refresh()
    assert caught.value.code == "token_reused"


def test_sign_out_on_a_is_seen_on_b_at_once(nodes, smtp):
    route = Balanced(nodes, smtp)
    app = route.signed_in_on("a")
    access = app.access_token
    app.sign_out()
    route.app.device.session = {"access_token": access}
    with pytest.raises(ApiProblem) as caught:
        route.on("b").account()
    assert caught.value.code == "token_invalid"


def test_failures_spread_over_both_nodes_lock_after_the_same_count(nodes, smtp):
    route = Balanced(nodes, smtp)
    outcomes = []
    for attempt in range(6):
        try:
            route.on("ab"[attempt % 2]).sign_in(NIR, "mauvais mot de passe")
        except ApiProblem as problem:
            outcomes.append(problem.code)
    assert outcomes == ["invalid_credentials"] * 5 + ["too_many_attempts"]
    with pytest.raises(ApiProblem) as caught:
        route.on("b").sign_in(NIR, PASSWORD)  # the right password, on the other node
    assert caught.value.code == "too_many_attempts"


def test_webauthn_challenges_cross_nodes(nodes, smtp):
    route = Balanced(nodes, smtp)
    app = route.signed_in_on("a")

    # Registration: options from A, credential verified by B.
    options = route.on("a")._authed("POST", "/account/authenticators/options")
    credential = app.device.authenticator.create(options, origin=app.device.origin)
    created = route.on("b")._authed(
        "POST",
        "/account/authenticators",
        json={"credential": credential, "name": "Pixel"},
        expect=201,
    )
    assert created["name"] == "Pixel"
    route.on("b").sign_out()

    # Assertion: challenge issued by A, verified by B.
    route.on("a").sign_in(NIR, PASSWORD)
    request_options = route.on("a")._call("POST", "/auth/webauthn/options", token=app.mfa_token)
    assertion = app.device.authenticator.get(request_options, origin=app.device.origin)
    pair = route.on("b")._call("POST", "/auth/webauthn/verify", token=app.mfa_token, json=assertion)
    assert pair["token_type"] == "Bearer"

    # Passkey sign-in: flow opened on A, assertion verified by B.
    started = route.on("a")._call("POST", "/auth/passkey/options", json={})
    assertion = app.device.authenticator.get(started["options"], origin=app.device.origin)
    pair = route.on("b")._call(
        "POST", "/auth/passkey/verify", token=started["passkey_token"], json=assertion
    )
    assert pair["token_type"] == "Bearer"
