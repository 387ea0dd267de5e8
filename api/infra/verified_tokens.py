"""Remember access tokens whose signature and claims were already checked.

An app presents the same access token on every request for its lifetime (minutes), and
PyJWT re-checks it from scratch each time: base64 alphabet character by character, HMAC,
JSON, claims. The result of a successful check depends only on the token's exact text, the
key and the expected audience, so it is kept, bounded, and reused until the token expires.
Revocation is unaffected: every request still loads the session row (``tokens.py``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

# About 1.5 KB per entry: a worker keeps at most ~1.5 MB, several minutes of its callers.
MAX_ENTRIES = 1024

_lock = threading.Lock()
_verified: dict[tuple[str, str, str], dict[str, Any]] = {}


def recall(token: str, key: str, audience: str) -> dict[str, Any] | None:
    """Return a copy of the claims of a token checked earlier and not yet expired."""
    claims = _verified.get((token, key, audience))
    if claims is None:
        return None
    # PyJWT compares "exp" with the wall clock, leeway 0: so does this.
    if claims["exp"] <= time.time():
        forget(token, key, audience)
        return None
    return dict(claims)


def remember(token: str, key: str, audience: str, claims: dict[str, Any]) -> None:
    """Keep the claims of a token that passed every check (oldest entries make room)."""
    with _lock:
        while len(_verified) >= MAX_ENTRIES:
            _verified.pop(next(iter(_verified)))
        _verified[(token, key, audience)] = dict(claims)


def forget(token: str, key: str, audience: str) -> None:
    with _lock:
        _verified.pop((token, key, audience), None)
