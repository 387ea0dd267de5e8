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

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests.conftest import _free_port
from tests.timeouts import COMMAND_SECONDS, HTTP_SECONDS, STARTUP_SECONDS, STOP_SECONDS

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
CLIENT_SECRET = "fc-client-secret-" + "0123456789abcdef" * 4
# What the in-process app calls itself: the test client takes the provider's redirect.
CALLBACK_PATH = "/api/v1/auth/franceconnect/callback"
CALLBACK = "http://moncompte.test" + CALLBACK_PATH
WEB_RETURN = "http://moncompte.test/"
APP_RETURN = "fr.caf.moncompte:/fc"

# People the identity providers know: their pivot identity (identité pivot).
IDENTITIES: dict[str, dict[str, str]] = {
    "angela": {
        "given_name": "Angela Claire Louise",
        "family_name": "DUBOIS",
        "birthdate": "1962-08-24",
        "gender": "female",
        "birthplace": "75107",
        "birthcountry": "99100",
        "preferred_username": "DUMEUBLE",
    },
    "marcel": {
        "given_name": "Marcel",
        "family_name": "MARTIN",
        "birthdate": "1948-01-30",
        "gender": "male",
        "birthplace": "",
        "birthcountry": "99351",
        "preferred_username": "",
    },
}

# How each registered client's tokens are signed and encrypted.
PROFILES: dict[str, dict[str, Any]] = {
    "es256": {"sign": "ES256", "encrypt": "ECDH-ES"},
    "rs256": {"sign": "RS256", "encrypt": "RSA-OAEP"},
    "hs256": {"sign": "HS256", "encrypt": "ECDH-ES"},  # not in the allow-list
    "plain": {"sign": "ES256", "encrypt": None},  # FranceConnect (not +) does not encrypt
}


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def service_keys() -> KeySet:
    """Return new decryption keys for the service: one EC (ECDH-ES), one RSA (RSA-OAEP)."""
    return KeySet(
        [
            ECKey.generate_key("P-256", {"use": "enc", "alg": "ECDH-ES", "kid": "moncompte-ec"}),
            RSAKey.generate_key(2048, {"use": "enc", "alg": "RSA-OAEP", "kid": "moncompte-rsa"}),
        ]
    )


def _install_packages() -> None:
    """``npm ci`` from the committed lock file, unless node_modules already matches it."""
    marker = PROVIDER_DIR / "node_modules" / ".package-lock.json"
    lock = PROVIDER_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm not found: install Node.js 20+ to run the FranceConnect tests")
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=PROVIDER_DIR,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    if installed.returncode != 0:
        pytest.fail(f"npm ci failed in {PROVIDER_DIR}:\n{installed.stderr[-2000:]}")


@dataclass
class LocalProvider:
    """The running stand-in for FranceConnect+, and the service's keys it encrypts to."""

    issuer: str
    keys: KeySet
    process: subprocess.Popen

    @property
    def keys_json(self) -> str:
        """The service's private JWKS, as FRANCECONNECT_ENC_KEYS holds it."""
        return json.dumps(self.keys.as_dict(private=True))

    def public_jwks(self) -> dict:
        return self.keys.as_dict(private=False)

    def _control(self, path: str, payload: dict) -> None:
        response = requests.put(f"{self.issuer}/_test/{path}", json=payload, timeout=HTTP_SECONDS)
        assert response.status_code in (200, 204), response.text

    def behave(self, *, jwks: str = "genuine", userinfo: str = "genuine") -> None:
        """Set how the provider misbehaves: ``jwks="rotated"``; ``userinfo="forged"``,
        ``"other_subject"`` or ``"unencrypted"``. The defaults are a well-behaved provider."""
        self._control("mode", {"jwks": jwks, "userinfo": userinfo})

    def set_identity(self, login: str, claims: dict[str, str]) -> None:
        self._control(f"accounts/{login}", claims)

    def register_client(
        self,
        *,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str],
        profile: str = "es256",
        keys: dict | None = None,
        client_id: str | None = None,
    ) -> str:
        """Register a client like the service at FranceConnect+; return its client_id."""
        client_id = client_id or f"moncompte-{profile}-{uuid.uuid4().hex[:8]}"
        settings = PROFILES[profile]
        metadata: dict[str, Any] = {
            "client_secret": CLIENT_SECRET,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout_redirect_uris,
            "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": settings["sign"],
            "userinfo_signed_response_alg": settings["sign"],
        }
        if settings["encrypt"]:
            metadata.update(
                {
                    "id_token_encrypted_response_alg": settings["encrypt"],
                    "id_token_encrypted_response_enc": "A256GCM",
                    "userinfo_encrypted_response_alg": settings["encrypt"],
                    "userinfo_encrypted_response_enc": "A256GCM",
                    "jwks": keys or self.public_jwks(),
                }
            )
        self._control(f"clients/{client_id}", metadata)
        return client_id

    def service_settings(
        self,
        *,
        redirect_uri: str = CALLBACK,
        return_urls: tuple[str, ...] = (WEB_RETURN, APP_RETURN),
        profile: str = "es256",
        acr: str = "eidas2",
        encrypted: bool = True,
    ) -> dict[str, Any]:
        """Register a client for a service; return the service's FRANCECONNECT_* settings."""
        client_id = self.register_client(
            redirect_uris=[redirect_uri],
            # The provider takes web URLs only; an app link comes back to the web page.
            post_logout_redirect_uris=[url for url in return_urls if url.startswith("http")],
            profile=profile,
        )
        return {
            "FRANCECONNECT_ISSUER": self.issuer,
            "FRANCECONNECT_CLIENT_ID": client_id,
            "FRANCECONNECT_CLIENT_SECRET": CLIENT_SECRET,
            "FRANCECONNECT_ACR": acr,
            "FRANCECONNECT_REDIRECT_URI": redirect_uri,
            "FRANCECONNECT_ENC_KEYS": self.keys_json if encrypted else "",
            "FRANCECONNECT_RETURN_URLS": list(return_urls),
        }

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
            FRANCECONNECT_CLIENT_SECRET=CLIENT_SECRET,
            FRANCECONNECT_REDIRECT_URI=base + CALLBACK_PATH,
            # start_live_server fills in {port}: the JSON's own braces are doubled.
            FRANCECONNECT_ENC_KEYS=self.keys_json.replace("{", "{{").replace("}", "}}"),
            FRANCECONNECT_RETURN_URLS=f"{base}/,{APP_RETURN}",
            **overrides,
        )
        self.register_client(
            client_id=client_id,
            redirect_uris=[server.url + CALLBACK_PATH],
            post_logout_redirect_uris=[server.url + "/"],
        )
        return server


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> Iterator[LocalProvider]:
    """Start the local FranceConnect+ stand-in once for the run."""
    node = shutil.which("node")
    if node is None:
        _unavailable("Node.js not found: install Node.js 20+ to run the FranceConnect tests")
    _install_packages()
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    folder = tmp_path_factory.mktemp("oidc-provider")
    config = folder / "config.json"
    config.write_text(json.dumps({"port": port, "issuer": issuer, "accounts": IDENTITIES}))
    log = open(folder / "provider.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [node, "provider.mjs", str(config)], cwd=PROVIDER_DIR, stdout=log, stderr=log
    )
    try:
        _wait_until_up(issuer, process, folder / "provider.log")
        yield LocalProvider(issuer=issuer, keys=service_keys(), process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_until_up(issuer: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the local OpenID provider exited:\n{log.read_text()[-2000:]}")
        try:
            discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5)
            if discovery.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    pytest.fail(f"the local OpenID provider did not start:\n{log.read_text()[-2000:]}")


@pytest.fixture
def fc_provider(oidc_provider) -> Iterator[LocalProvider]:
    """The provider, well-behaved, with its people as at the start of the run."""
    oidc_provider.behave()
    for login, claims in IDENTITIES.items():
        oidc_provider.set_identity(login, claims)
    yield oidc_provider
    oidc_provider.behave()


class FranceConnectActions:
    """Drive FranceConnect+ sign-ins as the app does, against the in-process app."""

    def __init__(self, client, provider: LocalProvider) -> None:
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
