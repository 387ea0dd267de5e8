"""Talk to FranceConnect+: discovery, the authorization URL, the code, userinfo, sign-out.

An OpenID Connect relying party built on Authlib's OAuth 2 client (authorization code
flow, client secret in the POST body) with every token checked by :mod:`.tokens`. The
provider's metadata (``{issuer}/.well-known/openid-configuration``) and signing keys are
fetched when first needed and kept in memory: public data, so each process may keep its
own copy. A signature that does not verify makes the keys be fetched again (at most
every 30 seconds), as the provider may have rotated them; it is then refused if it still
does not verify. No call follows a redirect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.common.urls import add_params_to_uri
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc import discovery, rpinitiated
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..config import Settings
from . import tokens
from .keys import decryption_keys, public_jwks

log = logging.getLogger(__name__)

# The pivot identity (identité pivot): who the person is, as the State knows them.
PIVOT_CLAIMS = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")
# Only what the service needs: the pivot identity, to recognise the person.
SCOPE = " ".join(("openid", *PIVOT_CLAIMS))
METADATA_MAX_AGE = timedelta(hours=1)
KEYS_MAX_AGE = timedelta(minutes=10)
KEYS_MIN_REFRESH = timedelta(seconds=30)
MAX_RESPONSE_BYTES = 256 * 1024


class ProviderError(Exception):
    """The provider could not be reached, refused, or sent something that failed a check.

    The message says what, for the logs; it never holds a token or a personal claim.
    """


@dataclass(frozen=True)
class Identity:
    """The person FranceConnect+ vouched for, every check passed."""

    sub: str
    acr: str
    # The signed id_token (decrypted), the id_token_hint of the provider's sign-out.
    id_token: str
    given_name: str
    family_name: str
    pivot: dict[str, str]


@dataclass
class _Cached:
    value: Any
    fetched_at: datetime


class RelyingParty:
    """The service as a FranceConnect+ client (one per app)."""

    def __init__(self, config: Settings, clock: Callable[[], datetime]) -> None:
        self.issuer = config.FRANCECONNECT_ISSUER
        self.client_id = config.FRANCECONNECT_CLIENT_ID
        self._client_secret = config.FRANCECONNECT_CLIENT_SECRET
        self.redirect_uri = config.FRANCECONNECT_REDIRECT_URI
        self.minimum_acr = config.FRANCECONNECT_ACR
        self._timeout = config.FRANCECONNECT_TIMEOUT_SECONDS
        self._decryption_keys = (
            decryption_keys(config.FRANCECONNECT_ENC_KEYS)
            if config.FRANCECONNECT_ENC_KEYS
            else None
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: _Cached | None = None
        self._signing_keys: _Cached | None = None

    # --- what the service publishes -------------------------------------------------------

    def public_jwks(self) -> dict[str, Any]:
        """Return the public part of the service's decryption keys (empty without them)."""
        return public_jwks(self._decryption_keys) if self._decryption_keys else {"keys": []}

    # --- the sign-in ----------------------------------------------------------------------

    def authorization_url(self, *, state: str, nonce: str) -> str:
        """Return where to send the person: the provider's authorization endpoint."""
        url, _ = self._oauth().create_authorization_url(
            self.metadata()["authorization_endpoint"],
            state=state,
            nonce=nonce,
            acr_values=self.minimum_acr,
            # A fresh authentication at the identity provider, never a remembered one.
            prompt="login",
        )
        return url

    def identify(self, code: str, *, nonce_matches: Callable[[str], bool]) -> Identity:
        """Exchange ``code``, check the id_token and the userinfo answer, return the person."""
        metadata = self.metadata()
        answer = self._exchange(metadata["token_endpoint"], code)
        expected = tokens.Expected(self.issuer, self.client_id, self.minimum_acr, self._clock())
        signed_id_token = self._open(answer["id_token"], "id_token")
        id_claims = self._verify(signed_id_token, "id_token")
        try:
            tokens.check_id_token(id_claims, expected, nonce_matches)
        except tokens.Rejected as exc:
            raise ProviderError(f"id_token refused: {exc}") from None
        info = self._verify(self._open(self._userinfo(metadata, answer), "userinfo"), "userinfo")
        try:
            tokens.check_userinfo(info, expected, subject=id_claims["sub"])
        except tokens.Rejected as exc:
            raise ProviderError(f"userinfo refused: {exc}") from None
        return Identity(
            sub=id_claims["sub"],
            acr=id_claims["acr"],
            id_token=signed_id_token,
            given_name=_text_claim(info, "given_name"),
            family_name=_text_claim(info, "family_name"),
            pivot={name: str(info.get(name, "")) for name in PIVOT_CLAIMS},
        )

    def end_session_url(
        self, *, id_token: str, post_logout_redirect_uri: str, state: str
    ) -> str | None:
        """Return the provider's sign-out URL for a session, or None if it has none."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        return add_params_to_uri(
            endpoint,
            [
                ("id_token_hint", id_token),
                ("state", state),
                ("post_logout_redirect_uri", post_logout_redirect_uri),
            ],
        )

    # --- metadata and keys ----------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """Return the provider's discovery document, fetched at most hourly."""
        now = self._clock()
        cached = self._metadata
        if cached is not None and now - cached.fetched_at < METADATA_MAX_AGE:
            return cached.value
        try:
            document = self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
            _check_metadata(document, self.issuer)
        except ProviderError:
            if cached is None:
                raise
            log.warning("franceconnect metadata refresh failed: keeping the last copy")
            return cached.value
        self._metadata = _Cached(document, now)
        return document

    def _keys(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            now = self._clock()
            cached = self._signing_keys
            stale = cached is None or now - cached.fetched_at >= KEYS_MAX_AGE
            may_refresh = cached is None or now - cached.fetched_at >= KEYS_MIN_REFRESH
            if stale or (refresh and may_refresh):
                document = self._get_json(self.metadata()["jwks_uri"])
                try:
                    keys = KeySet.import_key_set(_signing_members(document))
                except (JoseError, ValueError, TypeError, KeyError) as exc:
                    raise ProviderError(f"unreadable JWKS ({type(exc).__name__})") from None
                self._signing_keys = cached = _Cached(keys, now)
            return cached.value

    # --- steps ----------------------------------------------------------------------------

    def _oauth(self) -> OAuth2Session:
        session = OAuth2Session(
            self.client_id,
            self._client_secret,
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
            redirect_uri=self.redirect_uri,
            scope=SCOPE,
            default_timeout=self._timeout,
        )
        session.headers["User-Agent"] = "moncompte-caf/1.0"
        return session

    def _exchange(self, token_endpoint: str, code: str) -> dict[str, Any]:
        try:
            with self._oauth() as session:
                answer = session.fetch_token(
                    token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    allow_redirects=False,
                )
        except (AuthlibBaseError, requests.RequestException, ValueError) as exc:
            raise ProviderError(f"token request failed ({type(exc).__name__})") from None
        if str(answer.get("token_type", "")).lower() != "bearer":
            raise ProviderError("token answer without a bearer access token")
        if not isinstance(answer.get("access_token"), str) or not answer.get("id_token"):
            raise ProviderError("token answer without access_token or id_token")
        return dict(answer)

    def _userinfo(self, metadata: dict[str, Any], answer: dict[str, Any]) -> str:
        try:
            with self._oauth() as session:
                session.token = {"access_token": answer["access_token"], "token_type": "Bearer"}
                response = session.get(
                    metadata["userinfo_endpoint"],
                    headers={"Accept": "application/jwt"},
                    allow_redirects=False,
                )
        except (AuthlibBaseError, requests.RequestException) as exc:
            raise ProviderError(f"userinfo request failed ({type(exc).__name__})") from None
        if response.status_code != 200 or len(response.content) > MAX_RESPONSE_BYTES:
            raise ProviderError(f"userinfo answered {response.status_code}")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/jwt":
            # An unsigned userinfo proves nothing: it could come from anyone in the middle.
            raise ProviderError("userinfo is not a signed JWT")
        return response.text.strip()

    def _open(self, raw: str, what: str) -> str:
        try:
            return tokens.open_token(raw, self._decryption_keys)
        except tokens.Rejected as exc:
            raise ProviderError(f"{what} refused: {exc}") from None

    def _verify(self, signed: str, what: str) -> dict[str, Any]:
        try:
            return tokens.verify_signature(signed, self._keys())
        except tokens.UnknownSigningKey:
            log.info("franceconnect signature unknown: fetching the provider's keys again")
        except tokens.Rejected as exc:
            raise ProviderError(f"{what} refused: {exc}") from None
        try:
            return tokens.verify_signature(signed, self._keys(refresh=True))
        except tokens.Rejected as exc:
            raise ProviderError(f"{what} refused: {exc}") from None

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            with self._oauth() as session:
                response = session.get(url, withhold_token=True, allow_redirects=False)
            if response.status_code != 200 or len(response.content) > MAX_RESPONSE_BYTES:
                raise ProviderError(f"{url} answered {response.status_code}")
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderError(f"{url} unreachable or unreadable ({type(exc).__name__})") from None
        if not isinstance(document, dict):
            raise ProviderError(f"{url} is not a JSON object")
        return document


def _check_metadata(document: dict[str, Any], issuer: str) -> None:
    """OpenID Connect Discovery §4.3: the document must be the configured issuer's."""
    if document.get("issuer") != issuer:
        raise ProviderError("discovery document of another issuer")
    try:
        discovery.OpenIDProviderMetadata(document).validate(
            metadata_classes=[rpinitiated.OpenIDProviderMetadata]
        )
    except (ValueError, AuthlibBaseError) as exc:
        raise ProviderError(f"invalid discovery document: {exc}") from None
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        if not isinstance(document.get(name), str):
            raise ProviderError(f"discovery document without {name}")


def _signing_members(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Keep the keys the provider signs with: EC and RSA keys not meant for encryption."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ProviderError("JWKS without keys")
    usable = [
        key
        for key in keys
        if isinstance(key, dict)
        and key.get("kty") in {"EC", "RSA"}
        and key.get("use", "sig") == "sig"
    ]
    if not usable:
        raise ProviderError("JWKS without a signing key")
    return {"keys": usable}


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or len(value) > 256:
        raise ProviderError(f"userinfo without {name}")
    return value


def relying_party() -> RelyingParty:
    """Return the running app's relying party, built on first use and kept with the app."""
    from flask import current_app

    from ..clock import utcnow
    from ..config import settings

    extensions = current_app.extensions
    if "franceconnect" not in extensions:
        extensions.setdefault("franceconnect", RelyingParty(settings(), utcnow))
    return extensions["franceconnect"]
