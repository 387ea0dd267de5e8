"""Bounded JSON nesting, checked without recursion."""

from __future__ import annotations

import pytest

from api.jsonio import MAX_DEPTH, JsonNestedTooDeeply, nesting_exceeds


def nested(depth: int) -> object:
    value: object = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


def test_the_limit_is_inclusive():
    assert not nesting_exceeds(nested(MAX_DEPTH), MAX_DEPTH)
    assert nesting_exceeds(nested(MAX_DEPTH + 1), MAX_DEPTH)
    assert not nesting_exceeds("scalar", 0)


def test_provider_refuses_deep_documents(app):
    assert app.json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    for text in ["[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[" * 100_000 + "]" * 100_000]:
        with pytest.raises(JsonNestedTooDeeply):
            app.json.loads(text)
    assert app.json.dumps({"detail": "é"}) == '{"detail": "é"}'
