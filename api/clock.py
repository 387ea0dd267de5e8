"""The service's notion of "now", movable in tests.

Every expiry stored in the database (codes, login transactions, refresh tokens, locks)
is computed from :func:`utcnow`, so a test can move time forward instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import current_app


class Clock:
    """Wall-clock time plus an offset that tests may advance."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, **delta: float) -> None:
        """Move time forward by ``timedelta(**delta)``."""
        self._offset += timedelta(**delta)


def utcnow() -> datetime:
    """Return the current aware UTC time of the running app."""
    return current_app.extensions["clock"].now()


def isoformat(moment: datetime | None) -> str | None:
    """Format ``moment`` as ISO 8601 UTC with a ``Z`` suffix, as the contract asks."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
