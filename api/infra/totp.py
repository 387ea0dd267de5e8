"""Time-based one-time passwords (RFC 6238) for mediators, and their sealed secrets.

A TOTP code is checked by recomputing it, so the secret itself must be kept, not a hash
of it. It is sealed with AES-256-GCM under a key derived from ``SECRET_KEY``, with the
mediator's id as associated data: a copy of the database yields no secret, and a sealed
secret moved to another row does not open.

A code is accepted for the current 30-second step and one step either side (clock drift
between the phone and the server), and only for a step later than the last one accepted:
a code, once used, is refused for the rest of its window (RFC 6238 §5.2).
"""

from __future__ import annotations

import hmac
import os
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import derive_key

ISSUER = "Caf - Mon Compte aidants"
DIGITS = 6
PERIOD_SECONDS = 30
# Steps accepted on either side of the server's current one.
DRIFT_STEPS = 1
_NONCE_BYTES = 12


def new_secret() -> str:
    """Return a new base32 secret of 160 random bits (RFC 4226's recommended length)."""
    return pyotp.random_base32()


def enrolment_uri(secret: str, account_name: str) -> str:
    """Return the ``otpauth://totp/…`` URI an authenticator app reads (as a QR code or text)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS).provisioning_uri(
        name=account_name, issuer_name=ISSUER
    )


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """Return the time step whose code is ``code`` near ``at``, or None.

    Every candidate step is computed and compared in constant time, so the answer takes
    the same time whichever step matches, if any.
    """
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD_SECONDS)
    current = totp.timecode(at)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            found = step
    return found


def seal(secret: str, owner_id: str) -> bytes:
    """Encrypt ``secret`` for storage in the row of ``owner_id``."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_key()).encrypt(nonce, secret.encode(), _associated(owner_id))


def unseal(sealed: bytes, owner_id: str) -> str:
    """Decrypt a secret sealed by :func:`seal` for ``owner_id``; raise ValueError otherwise."""
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    try:
        return AESGCM(_key()).decrypt(nonce, ciphertext, _associated(owner_id)).decode()
    except InvalidTag:
        raise ValueError("sealed TOTP secret does not open") from None


def _key() -> bytes:
    return derive_key("mediator-totp")


def _associated(owner_id: str) -> bytes:
    return b"mediator-totp:" + owner_id.encode()
