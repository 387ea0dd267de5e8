"""One unit of work per request: the only place where a request's changes are committed.

Services add, update and delete through the request's database session and never commit.
The view runs inside :func:`unit_of_work`: when it returns, everything it did is
committed at once; when it raises, everything is rolled back, except after a
:class:`~api.errors.Refusal` (a wrong password, code or assertion, a reused token),
whose failure counts, activity entries and alerts are the request's result and are
committed before the refusal is answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import Refusal
from .extensions import db


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block did, or roll it back if it raised anything but a refusal."""
    try:
        yield
    except Refusal:
        db.session.commit()
        raise
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
