"""Where a sign-in's CPU time goes, by component (in-process, cProfile).

    python bench/profile_signin.py [--sign-ins 60] [--kind biometrics|code]

Drives complete sign-ins through the app in-process (no HTTP server, so only the app's own
work is counted), then groups the profile's own-time by package: argon2, SQLAlchemy, the
SQLite driver, Flask/Werkzeug, py_webauthn and cryptography, PyJWT, marshmallow, the
service's own code, and the simulated client.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
from collections import Counter

from harness import PASSWORD, ROOT

sys.path.insert(0, str(ROOT))

from api import create_app
from api.config import Settings
from api.extensions import db
from api.infra import passwords
from mobile_mock.client import MobileApp
from mobile_mock.device import Device
from mobile_mock.transport import FlaskTransport

GROUPS = [
    ("argon2id", ("argon2",)),
    ("SQLAlchemy ORM and Core", ("sqlalchemy",)),
    ("SQLite driver (sqlite3)", ("sqlite3", "method 'execute'", "method 'commit'")),
    ("Flask, Werkzeug, Flask-Limiter", ("flask", "werkzeug", "limits")),
    ("py_webauthn, cryptography, cbor2", ("webauthn", "cryptography", "cbor2")),
    ("PyJWT, flask-jwt-extended", ("jwt",)),
    ("marshmallow", ("marshmallow",)),
    ("json, email, logging (stdlib)", ("json", "email", "logging")),
    ("the service (api/)", ("/api/",)),
    ("the simulated app (mobile_mock/)", ("mobile_mock",)),
]


def group_of(key: tuple) -> str:
    filename, _, function = key
    where = f"{filename} {function}"
    for name, markers in GROUPS:
        if any(marker in where for marker in markers):
            return name
    return "other (Python runtime, threading, stdlib)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sign-ins", type=int, default=60)
    parser.add_argument("--kind", choices=["biometrics", "code"], default="biometrics")
    args = parser.parse_args()

    folder = tempfile.mkdtemp()
    settings = Settings.from_env(
        environ={},
        APP_ENV="testing",
        DATABASE_URL=f"sqlite:///{folder}/profile.sqlite3",
        SECRET_KEY="profile-secret-key-0123456789abcdef012345",
        JWT_SECRET_KEY="profile-jwt-key-0123456789abcdef0123456",
        MAIL_BACKEND="outbox",
        OTP_RESEND_SECONDS=0,
        OTP_HOURLY_CAP=1_000_000,
        RATELIMIT_PER_IP="1000000 per minute",
        LOG_LEVEL="WARNING",
    )
    # cProfile sees one thread: run argon2id inline rather than on its dedicated thread, or
    # the profile would show the request thread waiting instead of the hash working.
    passwords._run_hashing = lambda function, *args: function(*args)
    app = create_app(settings)
    with app.app_context():
        db.create_all()
        from api.services import accounts

        accounts.create_account("1850575000001", "profil@bench.example", PASSWORD)
        db.session.commit()
    phone = MobileApp(
        transport=FlaskTransport(app.test_client()), device=Device(), email="profil@bench.example"
    )
    phone.sign_in_with_code("1850575000001", PASSWORD)
    phone.enable_biometrics("Téléphone")

    def sign_in() -> None:
        if args.kind == "biometrics":
            phone.sign_in_with_biometrics("1850575000001", PASSWORD)
        else:
            phone.sign_in_with_code("1850575000001", PASSWORD)

    for _ in range(5):
        sign_in()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.sign_ins):
        sign_in()
    profile.disable()

    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    own: Counter[str] = Counter()
    for key, (_, _, tottime, _, _) in stats.items():
        own[group_of(key)] += tottime
    total = sum(own.values())
    print(
        f"### Where a {args.kind} sign-in's CPU goes (in-process, cProfile, "
        f"{args.sign_ins} sign-ins)\n"
    )
    print("| component | ms per sign-in | share |")
    print("| --- | ---: | ---: |")
    for name, seconds in own.most_common():
        print(f"| {name} | {1000 * seconds / args.sign_ins:.1f} | {seconds / total:.0%} |")
    print(f"| **total (profiled)** | **{1000 * total / args.sign_ins:.1f}** | 100% |")
    print(
        "\ncProfile adds its own cost to every Python call, so the non-argon2 shares are "
        "overstated by roughly 1.5-2×; the ranking is what matters."
    )


if __name__ == "__main__":
    main()
