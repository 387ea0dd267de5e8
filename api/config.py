"""Settings read from the environment and validated once, at start-up.

Every knob the contract names is an environment variable. Development and testing
get working defaults; production refuses to start with anything unsafe.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "testing", "production")
# Where development conveniences (generated secrets, the dev outbox) may exist.
DEVELOPMENT_ENVIRONMENTS = ("development", "testing")

# Marker for secrets that were generated for development; production rejects them.
_DEV_SECRET_PREFIX = "dev-only-"  # noqa: S105 (a marker, not a secret)


# An alphanumeric SMS sender: what every operator displays in place of a number.
_SMS_SENDER = re.compile(r"[A-Za-z0-9]{1,11}")

# The only signing algorithm of access tokens, and the only one accepted.
JWT_ALGORITHM = "HS256"
# The audience of mediators' own access tokens: refused wherever a holder's is expected.
MEDIATOR_AUDIENCE = "mediator"
# The contract caps a delegated token at one hour.
MAX_DELEGATED_SESSION_SECONDS = 3600

# FranceConnect's levels of assurance (eIDAS), weakest first.
FRANCECONNECT_ACR_LEVELS = ("eidas1", "eidas2", "eidas3")


class ConfigError(RuntimeError):
    """The environment describes a configuration the service must not run with."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass
class Settings:
    """Typed view of the service configuration."""

    APP_ENV: str = "development"
    DATABASE_URL: str = ""
    SECRET_KEY: str = ""
    JWT_SECRET_KEY: str = ""
    JWT_ISSUER: str = "mon-compte"
    JWT_AUDIENCE: str = "mon-compte-app"
    ACCESS_TOKEN_TTL_SECONDS: int = 900
    REFRESH_TOKEN_TTL_SECONDS: int = 30 * 24 * 3600
    # A session ends this long after its sign-in, however often it is refreshed.
    SESSION_MAX_AGE_SECONDS: int = 90 * 24 * 3600
    # A refresh token presented again this soon after its rotation (an app retrying after a
    # lost response) gets the same successor instead of ending the session.
    REFRESH_REUSE_GRACE_SECONDS: int = 10
    LOGIN_TTL_SECONDS: int = 900
    OTP_TTL_SECONDS: int = 900
    OTP_MAX_ATTEMPTS: int = 5
    OTP_MAX_FAILURES_PER_LOGIN: int = 10
    OTP_RESEND_SECONDS: int = 60
    OTP_HOURLY_CAP: int = 5
    LOGIN_MAX_FAILURES: int = 5
    LOGIN_LOCK_BASE_SECONDS: int = 60
    LOGIN_LOCK_MAX_SECONDS: int = 3600
    # NIST SP 800-63B-4 §3.2.2: at most 100 consecutive wrong second factors per account.
    SECOND_FACTOR_MAX_FAILURES: int = 100
    SECOND_FACTOR_LOCK_SECONDS: int = 24 * 3600
    REAUTH_MAX_AGE_SECONDS: int = 300
    # A mediator's own session ends this long after their sign-in (a working day).
    MEDIATOR_SESSION_MAX_AGE_SECONDS: int = 12 * 3600
    # A delegated session (a mediator acting under a mandate): never more than an hour.
    DELEGATED_SESSION_TTL_SECONDS: int = 3600
    WEBAUTHN_RP_ID: str = "localhost"
    WEBAUTHN_RP_NAME: str = "Caf - Mon Compte"
    WEBAUTHN_ORIGINS: list[str] = field(default_factory=lambda: ["http://localhost:8000"])
    WEBAUTHN_CHALLENGE_TTL_SECONDS: int = 300
    WEBAUTHN_ATTESTATION: str = "none"
    # An enrolled phone signs in with one assertion alone (a discoverable credential, UV
    # required), without NIR or password: POST /auth/passkey/*. Off: those routes are 404.
    PASSKEY_SIGN_IN: bool = True
    ANDROID_APP_PACKAGE: str = ""
    ANDROID_CERT_FINGERPRINTS: list[str] = field(default_factory=list)
    APPLE_APP_IDS: list[str] = field(default_factory=list)
    MAIL_BACKEND: str = "outbox"
    MAIL_FROM: str = "Caf - Mon Compte <ne-pas-repondre@caf.example>"
    SMTP_HOST: str = "localhost"
    SMTP_PORT: int = 25
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_STARTTLS: bool = False
    SMTP_TIMEOUT_SECONDS: int = 10
    MAIL_MAX_ATTEMPTS: int = 8
    MAIL_RETRY_BASE_SECONDS: int = 30
    MAIL_KEEP_DAYS: int = 30
    SMS_BACKEND: str = "outbox"
    SMS_API_URL: str = ""
    SMS_API_KEY: str = ""
    SMS_TIMEOUT_SECONDS: int = 10
    SMS_SENDER: str = "Caf"
    SMS_MAX_ATTEMPTS: int = 8
    SMS_RETRY_BASE_SECONDS: int = 30
    ACTIVITY_RETENTION_DAYS: int = 365
    RATELIMIT_STORAGE_URI: str = "memory://"
    RATELIMIT_KEY_PREFIX: str = "moncompte"
    RATELIMIT_PER_IP: str = "600 per minute"
    MAX_CONTENT_LENGTH: int = 64 * 1024
    TRUSTED_PROXIES: int = 0
    ARGON2_MEMORY_KIB: int = 19456
    ARGON2_TIME_COST: int = 2
    ARGON2_PARALLELISM: int = 1
    ARGON2_MAX_CONCURRENCY: int = 1
    LOG_LEVEL: str = "INFO"
    # FranceConnect+ relying party: off while FRANCECONNECT_ISSUER is empty.
    FRANCECONNECT_ISSUER: str = ""
    FRANCECONNECT_CLIENT_ID: str = ""
    FRANCECONNECT_CLIENT_SECRET: str = ""
    FRANCECONNECT_ACR: str = "eidas2"
    FRANCECONNECT_REDIRECT_URI: str = ""
    # Private JWKS (a JSON string) that id_tokens and userinfo are encrypted to.
    FRANCECONNECT_ENC_KEYS: str = ""
    FRANCECONNECT_RETURN_URLS: list[str] = field(default_factory=list)
    # Where the provider's sign-out sends back someone who started from an app link
    # (default: the first web page of FRANCECONNECT_RETURN_URLS).
    FRANCECONNECT_POST_LOGOUT_REDIRECT_URI: str = ""
    FRANCECONNECT_TIMEOUT_SECONDS: int = 10

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``environ`` (default: ``os.environ``), then apply ``overrides``."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.name)
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings._fill_defaults()
        settings.validate()
        return settings

    def _fill_defaults(self) -> None:
        if not self.DATABASE_URL:
            instance = Path.cwd() / "instance"
            instance.mkdir(exist_ok=True)
            self.DATABASE_URL = f"sqlite:///{instance / 'moncompte.sqlite3'}"
        if self.APP_ENV != "production":
            # Development secrets persist under instance/ so that restarts and several
            # workers agree on them: NIR lookups and JWTs depend on these keys.
            if not self.SECRET_KEY:
                self.SECRET_KEY = _dev_secret("secret_key")
            if not self.JWT_SECRET_KEY:
                self.JWT_SECRET_KEY = _dev_secret("jwt_secret_key")

    def validate(self) -> None:
        """Refuse configurations that are inconsistent or unsafe for the environment."""
        if self.APP_ENV not in ENVIRONMENTS:
            raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}")
        if self.MAIL_BACKEND not in {"smtp", "outbox"}:
            raise ConfigError("MAIL_BACKEND must be 'smtp' or 'outbox'")
        if self.MAIL_BACKEND == "outbox" and self.APP_ENV not in DEVELOPMENT_ENVIRONMENTS:
            # The outbox keeps codes readable over HTTP: development and testing only.
            raise ConfigError(f"{self.APP_ENV} sends real mail: set MAIL_BACKEND=smtp")
        self._validate_sms()
        if self.WEBAUTHN_ATTESTATION not in {"none", "indirect", "direct"}:
            raise ConfigError("WEBAUTHN_ATTESTATION must be none, indirect or direct")
        if not self.WEBAUTHN_ORIGINS:
            raise ConfigError("WEBAUTHN_ORIGINS must name at least one origin")
        for origin in self.WEBAUTHN_ORIGINS:
            if origin.startswith("android:apk-key-hash:"):
                continue
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path:
                raise ConfigError(f"WEBAUTHN_ORIGINS holds an invalid origin: {origin!r}")
        positive = (
            "OTP_TTL_SECONDS",
            "LOGIN_TTL_SECONDS",
            "OTP_MAX_ATTEMPTS",
            "OTP_HOURLY_CAP",
            "LOGIN_MAX_FAILURES",
            "SECOND_FACTOR_MAX_FAILURES",
            "SESSION_MAX_AGE_SECONDS",
            "MEDIATOR_SESSION_MAX_AGE_SECONDS",
            "DELEGATED_SESSION_TTL_SECONDS",
            "MAIL_MAX_ATTEMPTS",
            "MAIL_RETRY_BASE_SECONDS",
            "SMS_TIMEOUT_SECONDS",
            "SMS_MAX_ATTEMPTS",
            "SMS_RETRY_BASE_SECONDS",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.franceconnect_enabled:
            self._validate_franceconnect()
        if self.DELEGATED_SESSION_TTL_SECONDS > MAX_DELEGATED_SESSION_SECONDS:
            raise ConfigError("DELEGATED_SESSION_TTL_SECONDS must be at most 3600 (one hour)")
        if self.JWT_AUDIENCE == MEDIATOR_AUDIENCE:
            raise ConfigError(f"JWT_AUDIENCE must not be {MEDIATOR_AUDIENCE!r}: mediators use it")
        if self.APP_ENV != "production":
            return
        for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
            value = getattr(self, name)
            if not value or value.startswith(_DEV_SECRET_PREFIX) or len(value) < 32:
                raise ConfigError(f"{name} must be set to a random value of 32+ characters")
        if self.SECRET_KEY == self.JWT_SECRET_KEY:
            raise ConfigError("SECRET_KEY and JWT_SECRET_KEY must differ")
        for origin in self.WEBAUTHN_ORIGINS:
            if origin.startswith("http://"):
                raise ConfigError(f"production origins must use HTTPS: {origin!r}")
        if self.DATABASE_URL.startswith("sqlite"):
            raise ConfigError("production needs a server database (DATABASE_URL)")

    def _validate_franceconnect(self) -> None:
        from .franceconnect.keys import InvalidKeys, decryption_keys

        production = self.is_production
        _check_url("FRANCECONNECT_ISSUER", self.FRANCECONNECT_ISSUER, https=production, query=False)
        _check_url("FRANCECONNECT_REDIRECT_URI", self.FRANCECONNECT_REDIRECT_URI, https=production)
        if not self.FRANCECONNECT_CLIENT_ID or not self.FRANCECONNECT_CLIENT_SECRET:
            raise ConfigError("FranceConnect needs FRANCECONNECT_CLIENT_ID and _CLIENT_SECRET")
        if self.FRANCECONNECT_ACR not in FRANCECONNECT_ACR_LEVELS:
            raise ConfigError(
                f"FRANCECONNECT_ACR must be one of {', '.join(FRANCECONNECT_ACR_LEVELS)}"
            )
        if not self.FRANCECONNECT_RETURN_URLS:
            raise ConfigError("FRANCECONNECT_RETURN_URLS must name the web page and the app link")
        for url in self.FRANCECONNECT_RETURN_URLS:
            _check_return_url(url, production=production)
        if self.FRANCECONNECT_POST_LOGOUT_REDIRECT_URI:
            _check_url(
                "FRANCECONNECT_POST_LOGOUT_REDIRECT_URI",
                self.FRANCECONNECT_POST_LOGOUT_REDIRECT_URI,
                https=production,
            )
        elif not any(_is_web(url) for url in self.FRANCECONNECT_RETURN_URLS):
            raise ConfigError(
                "FRANCECONNECT_POST_LOGOUT_REDIRECT_URI must be set: no web page in "
                "FRANCECONNECT_RETURN_URLS to come back to after the provider's sign-out"
            )
        if self.FRANCECONNECT_TIMEOUT_SECONDS <= 0:
            raise ConfigError("FRANCECONNECT_TIMEOUT_SECONDS must be positive")
        if self.FRANCECONNECT_ENC_KEYS:
            try:
                decryption_keys(self.FRANCECONNECT_ENC_KEYS)
            except InvalidKeys as exc:
                raise ConfigError(f"FRANCECONNECT_ENC_KEYS: {exc}") from None
        elif production:
            # FranceConnect+ encrypts id_tokens and userinfo to the service's key.
            raise ConfigError("FRANCECONNECT_ENC_KEYS must hold the service's decryption keys")

    def franceconnect_post_logout_uri(self, return_to: str) -> str:
        """Where the provider's sign-out sends back someone who came from ``return_to``.

        The provider registers web URLs only: a web page comes back to itself, an app link
        to FRANCECONNECT_POST_LOGOUT_REDIRECT_URI (or the first web page).
        """
        if _is_web(return_to):
            return return_to
        if self.FRANCECONNECT_POST_LOGOUT_REDIRECT_URI:
            return self.FRANCECONNECT_POST_LOGOUT_REDIRECT_URI
        return next(url for url in self.FRANCECONNECT_RETURN_URLS if _is_web(url))

    @property
    def franceconnect_enabled(self) -> bool:
        """Whether the service is a FranceConnect+ relying party (FRANCECONNECT_ISSUER set)."""
        return bool(self.FRANCECONNECT_ISSUER)

    def _validate_sms(self) -> None:
        if self.SMS_BACKEND not in {"http", "outbox"}:
            raise ConfigError("SMS_BACKEND must be 'http' or 'outbox'")
        if self.SMS_BACKEND == "outbox" and self.APP_ENV not in DEVELOPMENT_ENVIRONMENTS:
            # Like the mail outbox, the SMS outbox shows codes over HTTP.
            raise ConfigError(f"{self.APP_ENV} sends real text messages: set SMS_BACKEND=http")
        if not _SMS_SENDER.fullmatch(self.SMS_SENDER) or self.SMS_SENDER.isdigit():
            # What operators accept as an alphanumeric sender; a number would be a reply
            # address the service does not have.
            raise ConfigError("SMS_SENDER must be 1 to 11 letters or digits, not all digits")
        if self.SMS_BACKEND != "http":
            return
        parts = urlsplit(self.SMS_API_URL)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
            raise ConfigError("SMS_BACKEND=http needs SMS_API_URL, the provider's base URL")
        if self.APP_ENV == "production":
            if parts.scheme != "https":
                raise ConfigError("SMS_API_URL must use HTTPS in production")
            if not self.SMS_API_KEY:
                raise ConfigError("SMS_API_KEY must be set in production")

    @property
    def is_production(self) -> bool:
        return self.APP_ENV == "production"

    @property
    def dev_outbox_enabled(self) -> bool:
        """Whether ``GET /api/v1/dev/outbox`` exists: it shows codes to anyone who asks."""
        return self.MAIL_BACKEND == "outbox" and self.APP_ENV in DEVELOPMENT_ENVIRONMENTS

    @property
    def dev_sms_outbox_enabled(self) -> bool:
        """Whether ``GET /api/v1/dev/sms`` exists: it shows codes to anyone who asks."""
        return self.SMS_BACKEND == "outbox" and self.APP_ENV in DEVELOPMENT_ENVIRONMENTS

    def flask_config(self) -> dict[str, object]:
        """Return the subset Flask and its extensions read from ``app.config``."""
        return {
            "SECRET_KEY": self.SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": self.DATABASE_URL,
            "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(self.DATABASE_URL),
            "MAX_CONTENT_LENGTH": self.MAX_CONTENT_LENGTH,
            "JSON_SORT_KEYS": False,
            "JWT_SECRET_KEY": self.JWT_SECRET_KEY,
            "JWT_ALGORITHM": JWT_ALGORITHM,
            "JWT_DECODE_ALGORITHMS": [JWT_ALGORITHM],
            "JWT_ENCODE_ISSUER": self.JWT_ISSUER,
            "JWT_DECODE_ISSUER": self.JWT_ISSUER,
            "JWT_ENCODE_AUDIENCE": self.JWT_AUDIENCE,
            "JWT_DECODE_AUDIENCE": self.JWT_AUDIENCE,
            "JWT_TOKEN_LOCATION": ["headers"],
            # Bearer tokens only: no cookie, so no CSRF claim to carry.
            "JWT_COOKIE_CSRF_PROTECT": False,
            "RATELIMIT_STORAGE_URI": self.RATELIMIT_STORAGE_URI,
            "RATELIMIT_KEY_PREFIX": self.RATELIMIT_KEY_PREFIX,
            # Off: its Retry-After would overwrite the precise one of our own 429s.
            "RATELIMIT_HEADERS_ENABLED": False,
            # A Redis outage must not take sign-in down: limits fall back to process memory
            # while the per-NIR lockout, which lives in the database, keeps holding.
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
        }


def _check_url(name: str, url: str, *, https: bool, query: bool = True) -> None:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.fragment:
        raise ConfigError(f"{name} must be an absolute http(s) URL without a fragment")
    if not query and parts.query:
        raise ConfigError(f"{name} must have no query")
    if https and parts.scheme != "https":
        raise ConfigError(f"{name} must use HTTPS in production: {url!r}")


def _is_web(url: str) -> bool:
    return urlsplit(url).scheme in {"http", "https"}


def _check_return_url(url: str, *, production: bool) -> None:
    """Accept a web page URL or an app link (``fr.caf.moncompte:/fc``), never a fragment."""
    parts = urlsplit(url)
    if (
        not parts.scheme
        or parts.fragment
        or (parts.scheme in {"http", "https"} and not parts.netloc)
    ):
        raise ConfigError(f"FRANCECONNECT_RETURN_URLS holds an invalid URL: {url!r}")
    if production and parts.scheme == "http":
        raise ConfigError(f"production return URLs must use HTTPS: {url!r}")


def _engine_options(url: str) -> dict[str, object]:
    # Bound values hold NIR digests, token hashes, addresses: keep them out of the text of
    # database errors, which reaches logs and tracebacks.
    common: dict[str, object] = {"hide_parameters": True}
    if url.startswith("sqlite"):
        # Wait for the writer lock instead of failing at once when requests overlap.
        return {**common, "connect_args": {"timeout": 30, "check_same_thread": False}}
    return {
        **common,
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 10,
        "pool_recycle": 1800,
    }


def _coerce(name: str, type_name: object, raw: str) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "bool":
            return _bool(raw)
        if kind.startswith("list"):
            return _list(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return raw


def _dev_secret(name: str) -> str:
    path = Path.cwd() / "instance" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(exist_ok=True)
    value = _DEV_SECRET_PREFIX + secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 possibly in brackets) is loopback only."""
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "" (every interface), another name: assume reachable


def exposure_warning(app_env: str, mail_backend: str, hosts: Iterable[str]) -> str | None:
    """Return a warning when a development or testing set-up listens beyond loopback."""
    if app_env not in DEVELOPMENT_ENVIRONMENTS:
        return None
    exposed = sorted({host or "*" for host in hosts if not is_loopback(host)})
    if not exposed:
        return None
    outbox = (
        ", and the dev outbox shows every sign-in code to anyone who asks"
        if mail_backend == "outbox"
        else ""
    )
    return (
        f"WARNING: APP_ENV={app_env} is listening on {', '.join(exposed)}, not only on "
        f"loopback. This configuration is for one developer's machine: its secrets may be "
        f"generated development keys{outbox}. Listen on 127.0.0.1, or run with "
        f"APP_ENV=production."
    )


def settings() -> Settings:
    """Return the running app's validated settings: the one way services read them."""
    from flask import current_app

    return current_app.extensions["settings"]
