"""The app's JSON provider: request bodies with bounded nesting, French kept readable.

A 64 KiB body holds 30 000 nested arrays, far past the interpreter's recursion limit:
the standard decoder then raises ``RecursionError``, which is not a ``ValueError`` and
so escapes ``request.get_json(silent=True)`` as a 500. RFC 8259 §9 lets a parser limit
nesting; no request of this API goes deeper than a few levels, so anything deeper than
:data:`MAX_DEPTH` is refused like malformed JSON, whatever the recursion limit is.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 32


class JsonNestedTooDeeply(ValueError):
    """The document nests arrays or objects deeper than :data:`MAX_DEPTH`."""


class ApiJsonProvider(DefaultJSONProvider):
    ensure_ascii = False  # French text stays readable

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise JsonNestedTooDeeply("JSON nested too deeply") from None
        if nesting_exceeds(value, MAX_DEPTH):
            raise JsonNestedTooDeeply("JSON nested too deeply")
        return value


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Tell whether ``value`` nests containers deeper than ``limit``, without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
