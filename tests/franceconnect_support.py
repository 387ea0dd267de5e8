"""A local OpenID provider configured like FranceConnect+ v2, started by the tests.

A pytest plugin (see ``pytest_plugins`` in ``tests/conftest.py``). The provider is panva's
oidc-provider (``tests/oidc_provider``), run with the machine's Node.js from the committed
``package.json`` and lock file: ``npm ci`` runs there once when its ``node_modules`` is
missing or older than the lock file. Outside CI, the tests that need it are skipped, with
a message, when Node.js or npm is absent; in CI (``CI`` set) they fail.

One provider serves the whole run. Each test gets it back well-behaved (genuine keys and
userinfo), and registers the clients it needs: a client per redirect URI, signed and
encrypted like FranceConnect+ (ES256 + ECDH-ES, or RS256 + RSA-OAEP).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import _free_port
from tests.oidc_provider import local
from tests.oidc_provider.local import APP_RETURN_DEFAULT as APP_RETURN
from tests.oidc_provider.local import CALLBACK_PATH, IDENTITIES, service_keys
from tests.timeouts import COMMAND_SECONDS, HTTP_SECONDS, STARTUP_SECONDS, STOP_SECONDS

# What the in-process app calls itself: the test client takes the provider's redirect.
CALLBACK = "http://moncompte.test" + CALLBACK_PATH
WEB_RETURN = "http://moncompte.test/"

__all__ = ["APP_RETURN", "CALLBACK", "IDENTITIES", "WEB_RETURN", "service_keys"]


class StandIn(local.LocalProvider):
    """The local provider, with what the tests need to configure services around it."""

    def service_settings(  # type: ignore[override]
        self,
        *,
        redirect_uri: str = CALLBACK,
        return_urls: tuple[str, ...] = (WEB_RETURN, APP_RETURN),
        profile: str = "es256",
        acr: str = "eidas2",
        encrypted: bool = True,
    ) -> dict[str, Any]:
        """Register a new client for an in-process service; return its settings."""
        client_id = f"moncompte-{profile}-{uuid.uuid4().hex[:8]}"
        self.register_client(
            client_id,
            redirect_uris=[redirect_uri],
            post_logout_redirect_uris=list(return_urls),
            profile=profile,
        )
        return super().service_settings(
            client_id,
            redirect_uri=redirect_uri,
            return_urls=list(return_urls),
            acr=acr,
            encrypted=encrypted,
        )

    def serve(self, start_live_server, *, host: str = "127.0.0.1", **overrides: str):
        """Start a live node that is a client of this provider; return it.

        Its web page (``<url>/``) and the app link are its return URLs; the client is
        registered once the node's port, hence its redirect URI, is known.
        """
        client_id = f"moncompte-live-{uuid.uuid4().hex[:8]}"
        base = f"http://{host}:{{port}}"
        server = start_live_server(
            host=host,
            FRANCECONNECT_ISSUER=self.issuer,
            FRANCECONNECT_CLIENT_ID=client_id,
            FRANCECONNECT_CLIENT_SECRET=local.CLIENT_SECRET,
            FRANCECONNECT_REDIRECT_URI=base + CALLBACK_PATH,
            # start_live_server fills in {port}: the JSON's own braces are doubled.
            FRANCECONNECT_ENC_KEYS=self.keys_json.replace("{", "{{").replace("}", "}}"),
            FRANCECONNECT_RETURN_URLS=f"{base}/,{APP_RETURN}",
            **overrides,
        )
        self.register_client(
            client_id,
            redirect_uris=[server.url + CALLBACK_PATH],
            post_logout_redirect_uris=[server.url + "/"],
        )
        return server


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> Iterator[StandIn]:
    """Start the local FranceConnect+ stand-in once for the run."""
    workdir = tmp_path_factory.mktemp("oidc-provider")
    log_path = workdir / "provider.log"
    try:
        local.install_packages(timeout=COMMAND_SECONDS)
    except local.Unavailable as exc:
        _unavailable(str(exc))
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        try:
            process = local.start(port, workdir, log)
        except local.Unavailable as exc:
            _unavailable(str(exc))
        try:
            try:
                local.wait_until_up(issuer, process, timeout=STARTUP_SECONDS)
            except RuntimeError as exc:
                pytest.fail(f"{exc}:\n{log_path.read_text()[-2000:]}")
            yield StandIn(issuer=issuer, keys=service_keys(), timeout=HTTP_SECONDS)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def fc_provider(oidc_provider) -> Iterator[StandIn]:
    """The provider, well-behaved, with its people as at the start of the run."""
    oidc_provider.behave()
    for login, claims in IDENTITIES.items():
        oidc_provider.set_identity(login, claims)
    yield oidc_provider
    oidc_provider.behave()


class FranceConnectActions:
    """Drive FranceConnect+ sign-ins as the app does, against the in-process app."""

    def __init__(self, client, provider: StandIn) -> None:
        from mobile_mock.franceconnect import ProviderBrowser
        from mobile_mock.transport import FlaskTransport

        self.client = client
        self.provider = provider
        self.browser = ProviderBrowser(FlaskTransport(client))

    def start(self, return_to: str = APP_RETURN, verifier: str | None = None) -> tuple[str, str]:
        """Press « S'identifier avec FranceConnect »; return the verifier and the provider URL."""
        from mobile_mock.franceconnect import challenge_of, new_verifier

        verifier = verifier or new_verifier()
        return verifier, self.browser.start(return_to=return_to, challenge=challenge_of(verifier))

    def to_callback(self, provider_url: str, identity: str = "angela", acr: str = "eidas2") -> str:
        """Sign in at the provider; return its redirect to the service, not yet followed."""
        return self.browser.sign_in(
            provider_url, identity=identity, acr=acr, return_to=CALLBACK
        ).url

    def callback(self, url: str):
        """Follow the provider's redirect to the service's callback."""
        parts = url.split("/api/v1/", 1)
        return self.client.get("/api/v1/" + parts[1])

    def run(self, identity: str = "angela", acr: str = "eidas2", return_to: str = APP_RETURN):
        """The whole browser part; return what came back to the app, and the verifier."""
        verifier, provider_url = self.start(return_to)
        returned = self.browser.sign_in(
            provider_url, identity=identity, acr=acr, return_to=return_to
        )
        return returned, verifier

    def complete(self, handoff: str, verifier: str, **extra: Any):
        return self.client.post(
            "/api/v1/auth/franceconnect/complete",
            json={"handoff": handoff, "code_verifier": verifier, **extra},
        )

    def sign_in(self, identity: str = "angela", acr: str = "eidas2"):
        """The whole sign-in; return the answer to ``complete``."""
        returned, verifier = self.run(identity, acr)
        assert returned.handoff, returned
        return self.complete(returned.handoff, verifier)
