"""The memo of checked access tokens: exact token, key and audience; never past expiry."""

from __future__ import annotations

import time

from api.infra import verified_tokens


def test_a_token_is_recalled_only_with_its_key_and_audience():
    claims = {"sub": "a", "sid": "s", "exp": time.time() + 300}
    verified_tokens.remember("tok-1", "key", "mon-compte", claims)

    assert verified_tokens.recall("tok-1", "key", "mon-compte") == claims
    assert verified_tokens.recall("tok-1", "other-key", "mon-compte") is None
    assert verified_tokens.recall("tok-1", "key", "mediator") is None
    assert verified_tokens.recall("tok-1x", "key", "mon-compte") is None


def test_an_expired_token_is_forgotten_not_recalled():
    verified_tokens.remember("tok-2", "key", "aud", {"sub": "a", "exp": time.time() - 1})

    assert verified_tokens.recall("tok-2", "key", "aud") is None
    assert ("tok-2", "key", "aud") not in verified_tokens._verified


def test_callers_get_copies_they_cannot_corrupt_the_memo_with():
    verified_tokens.remember("tok-3", "key", "aud", {"sub": "a", "exp": time.time() + 300})

    verified_tokens.recall("tok-3", "key", "aud")["sub"] = "someone else"

    assert verified_tokens.recall("tok-3", "key", "aud")["sub"] == "a"


def test_the_memo_stays_bounded():
    for index in range(verified_tokens.MAX_ENTRIES + 50):
        verified_tokens.remember(f"bulk-{index}", "key", "aud", {"exp": time.time() + 300})

    assert len(verified_tokens._verified) <= verified_tokens.MAX_ENTRIES
    assert verified_tokens.recall("bulk-0", "key", "aud") is None
