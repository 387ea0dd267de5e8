"""Run the local FranceConnect+ stand-in: install, start, register the service, control.

No pytest here: the test fixtures (``tests/franceconnect_support.py``) and the by-hand
launcher (``python -m tests.oidc_provider.serve``) both build on it. The provider is
``provider.mjs`` in this folder, run with the machine's Node.js from the committed
``package.json`` and ``package-lock.json`` (``npm ci``, never a global install).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from joserfc.jwk import ECKey, KeySet, RSAKey

from tests import npm

FOLDER = Path(__file__).resolve().parent
CALLBACK_PATH = "/api/v1/auth/franceconnect/callback"
# The app link the app comes back to (one of the service's FRANCECONNECT_RETURN_URLS).
APP_RETURN_DEFAULT = "fr.caf.moncompte:/fc"
CLIENT_SECRET = "fc-client-secret-" + "0123456789abcdef" * 4

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

# How a registered client's tokens are signed and encrypted.
PROFILES: dict[str, dict[str, Any]] = {
    "es256": {"sign": "ES256", "encrypt": "ECDH-ES"},
    "rs256": {"sign": "RS256", "encrypt": "RSA-OAEP"},
    "hs256": {"sign": "HS256", "encrypt": "ECDH-ES"},  # not in the allow-list
    "plain": {"sign": "ES256", "encrypt": None},  # FranceConnect (not +) does not encrypt
}


# Node.js or npm missing: the stand-in cannot be installed or started.
Unavailable = npm.Unavailable


def service_keys() -> KeySet:
    """Return new decryption keys for the service: one EC (ECDH-ES), one RSA (RSA-OAEP)."""
    return KeySet(
        [
            ECKey.generate_key("P-256", {"use": "enc", "alg": "ECDH-ES", "kid": "moncompte-ec"}),
            RSAKey.generate_key(2048, {"use": "enc", "alg": "RSA-OAEP", "kid": "moncompte-rsa"}),
        ]
    )


def install_packages(timeout: float) -> None:
    """``npm ci`` from the committed lock file, unless node_modules already matches it."""
    npm.install_locked(FOLDER, timeout, needed_for="to run the local FranceConnect")


def start(port: int, workdir: Path, log) -> subprocess.Popen:
    """Start the provider on 127.0.0.1:``port`` with the stand-in's people."""
    node = shutil.which("node")
    if node is None:
        raise Unavailable("Node.js not found: install Node.js 20+ to run the local FranceConnect")
    config = workdir / "oidc-provider.json"
    issuer = f"http://127.0.0.1:{port}"
    config.write_text(json.dumps({"port": port, "issuer": issuer, "accounts": IDENTITIES}))
    return subprocess.Popen([node, "provider.mjs", str(config)], cwd=FOLDER, stdout=log, stderr=log)


def wait_until_up(issuer: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the local OpenID provider exited")
        try:
            discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5)
            if discovery.status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("the local OpenID provider did not start")


@dataclass
class LocalProvider:
    """The running stand-in for FranceConnect+, and the service's keys it encrypts to."""

    issuer: str
    keys: KeySet
    timeout: float = 60.0

    @property
    def keys_json(self) -> str:
        """The service's private JWKS, as FRANCECONNECT_ENC_KEYS holds it."""
        return json.dumps(self.keys.as_dict(private=True))

    def public_jwks(self) -> dict:
        return self.keys.as_dict(private=False)

    def _control(self, path: str, payload: dict) -> None:
        response = requests.put(f"{self.issuer}/_test/{path}", json=payload, timeout=self.timeout)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"the provider refused {path}: {response.text[:500]}")

    def behave(self, *, jwks: str = "genuine", userinfo: str = "genuine") -> None:
        """Set how the provider misbehaves: ``jwks="rotated"``; ``userinfo="forged"``,
        ``"other_subject"`` or ``"unencrypted"``. The defaults are a well-behaved provider."""
        self._control("mode", {"jwks": jwks, "userinfo": userinfo})

    def set_identity(self, login: str, claims: dict[str, str]) -> None:
        self._control(f"accounts/{login}", claims)

    def register_client(
        self,
        client_id: str,
        *,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str],
        profile: str = "es256",
    ) -> None:
        """Register a client as the service is registered at FranceConnect+."""
        settings = PROFILES[profile]
        metadata: dict[str, Any] = {
            "client_secret": CLIENT_SECRET,
            "redirect_uris": redirect_uris,
            # The provider takes web URLs only; an app link comes back to the web page.
            "post_logout_redirect_uris": [
                url for url in post_logout_redirect_uris if url.startswith("http")
            ],
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
                    "jwks": self.public_jwks(),
                }
            )
        self._control(f"clients/{client_id}", metadata)

    def service_settings(
        self,
        client_id: str,
        *,
        redirect_uri: str,
        return_urls: list[str],
        acr: str = "eidas2",
        encrypted: bool = True,
    ) -> dict[str, Any]:
        """The service's FRANCECONNECT_* settings as a client of this provider."""
        return {
            "FRANCECONNECT_ISSUER": self.issuer,
            "FRANCECONNECT_CLIENT_ID": client_id,
            "FRANCECONNECT_CLIENT_SECRET": CLIENT_SECRET,
            "FRANCECONNECT_ACR": acr,
            "FRANCECONNECT_REDIRECT_URI": redirect_uri,
            "FRANCECONNECT_ENC_KEYS": self.keys_json if encrypted else "",
            "FRANCECONNECT_RETURN_URLS": list(return_urls),
        }
