"""A simulated phone: its authenticator, the app's identity, and its secure storage.

A mediator's device also keeps their authenticator app (the TOTP enrolment URI) and the
delegated session they have open.

Saved as a JSON file, so a tester can enrol today and sign in tomorrow. The app's
identity decides the WebAuthn origin its assertions carry: an Android app signs with
``android:apk-key-hash:<base64url SHA-256 of its signing certificate>``; a web page or
an iOS app with a web origin.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .authenticator import SoftwareAuthenticator

DEFAULT_WEB_ORIGIN = "http://localhost:8000"


def android_origin(cert_sha256_hex: str) -> str:
    """Return the WebAuthn origin of an Android app from its signing-cert SHA-256."""
    digest = bytes.fromhex(cert_sha256_hex.replace(":", ""))
    return "android:apk-key-hash:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class AppIdentity:
    platform: str = "web"  # "web" or "android"
    origin: str = DEFAULT_WEB_ORIGIN
    package: str | None = None
    cert_sha256: str | None = None

    @classmethod
    def android(cls, package: str, cert_sha256: str) -> AppIdentity:
        return cls("android", android_origin(cert_sha256), package, cert_sha256)

    @classmethod
    def web(cls, origin: str = DEFAULT_WEB_ORIGIN) -> AppIdentity:
        return cls("web", origin.rstrip("/"))


@dataclass
class Device:
    """The phone: authenticator state, app identity, and the tokens the app keeps."""

    app: AppIdentity = field(default_factory=AppIdentity)
    authenticator: SoftwareAuthenticator = field(default_factory=SoftwareAuthenticator)
    # What the app keeps in its secure storage between launches.
    session: dict[str, str] = field(default_factory=dict)
    # The app install's device_token: outlives sign-outs, so that strangers' wrong
    # passwords for this account never lock this phone out.
    device_token: str | None = None
    # A FranceConnect identity waiting to be linked (10 minutes): the app keeps it while
    # the person signs in the usual way.
    franceconnect_link_token: str | None = None
    # A mediator's device: their authenticator app ({"uri", "last_step"}) and the
    # delegated session they opened ({"access_token", "mandate_id"}).
    totp: dict[str, Any] = field(default_factory=dict)
    delegated: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    @property
    def origin(self) -> str:
        return self.app.origin

    def to_dict(self) -> dict[str, Any]:
        return {
            "app": vars(self.app),
            "authenticator": self.authenticator.to_dict(),
            "session": self.session,
            "device_token": self.device_token,
            "franceconnect_link_token": self.franceconnect_link_token,
            "totp": self.totp,
            "delegated": self.delegated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Device:
        return cls(
            app=AppIdentity(**data.get("app", {})),
            authenticator=SoftwareAuthenticator.from_dict(data.get("authenticator", {})),
            session=dict(data.get("session", {})),
            device_token=data.get("device_token"),
            franceconnect_link_token=data.get("franceconnect_link_token"),
            totp=dict(data.get("totp", {})),
            delegated=dict(data.get("delegated", {})),
            path=path,
        )

    @classmethod
    def load(cls, path: str | Path) -> Device:
        """Load the phone at ``path``, or a new one (web identity) if there is none yet."""
        path = Path(path)
        if not path.exists():
            return cls(path=path)
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), path)

    def save(self, path: str | Path | None = None) -> None:
        """Write the phone to disk, readable by its owner only: it holds private keys."""
        target = Path(path or self.path or "phone.json")
        self.path = target
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(target)
