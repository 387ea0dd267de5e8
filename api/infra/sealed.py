"""Seal a value the service must give back later, so that a copy of the database is useless.

AES-256-GCM under a sub-key of ``SECRET_KEY`` for one purpose, a random 96-bit nonce per
seal, and the row it belongs to as associated data: a sealed value moved to another row
no longer opens.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .keys import derive_key

_NONCE_BYTES = 12


def seal(purpose: str, value: str, *, bound_to: str) -> bytes:
    """Return ``value`` encrypted and authenticated for ``purpose`` and the row ``bound_to``."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    cipher = AESGCM(derive_key(f"sealed/{purpose}"))
    return nonce + cipher.encrypt(nonce, value.encode(), bound_to.encode())


def unseal(purpose: str, blob: bytes, *, bound_to: str) -> str | None:
    """Return what :func:`seal` sealed, or None if the blob was altered or moved."""
    nonce, ciphertext = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
    try:
        plain = AESGCM(derive_key(f"sealed/{purpose}")).decrypt(
            nonce, ciphertext, bound_to.encode()
        )
    except (InvalidTag, ValueError):
        return None
    return plain.decode()
