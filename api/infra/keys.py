"""Keyed hashes and random secrets.

Every secret the service hands out (login transaction tokens, refresh tokens, codes,
challenges) is stored only as an HMAC under a key derived from ``SECRET_KEY``: a copy
of the database alone yields nothing usable, and the NIR cannot be brute-forced from
its hash without the key (a NIR has only about 40 bits of entropy).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from ..config import settings


def derive_key(purpose: str) -> bytes:
    """Derive an independent sub-key of ``SECRET_KEY`` for one ``purpose``."""
    master = settings().SECRET_KEY.encode()
    return hmac.new(master, b"mon-compte/" + purpose.encode(), hashlib.sha256).digest()


def keyed_hash(purpose: str, value: str | bytes) -> bytes:
    """Return HMAC-SHA256 of ``value`` under the key for ``purpose``."""
    data = value.encode() if isinstance(value, str) else value
    return hmac.new(derive_key(purpose), data, hashlib.sha256).digest()


def new_token(prefix: str) -> str:
    """Return a 256-bit random bearer token; the prefix names its kind for humans and scanners."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def new_code(digits: int = 6) -> str:
    """Return a uniformly random numeric code from the CSPRNG."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def same(a: bytes, b: bytes) -> bool:
    """Compare two digests in constant time."""
    return hmac.compare_digest(a, b)
