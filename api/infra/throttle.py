"""Consecutive failures per subject, with growing, temporary locks.

One mechanism for every guessable secret: the password per NIR (unknown NIRs too, so a
lock reveals nothing) or per known device, the current password of a signed-in account,
and second factors per account. Counts live in the database, so every node, worker and
thread sees the same numbers.

An attempt is counted *before* it is checked (:func:`reserve`): one upsert that also
takes the row lock, held until the request's unit of work ends. Parallel attempts for
one subject therefore queue behind each other, and at most ``max_failures`` checks run
per lock window whatever the number of nodes. Locks double with each repetition up to a
cap and are forgotten after a quiet day: an attacker can slow a subject down, never lock
it for good.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..models import Throttle
from .keys import keyed_hash

QUIET_PERIOD = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    max_failures: int
    lock_base_seconds: int
    lock_max_seconds: int

    def lock_seconds(self, previous_locks: int) -> int:
        return min(self.lock_base_seconds * 2 ** min(previous_locks, 16), self.lock_max_seconds)


def password_policy() -> Policy:
    """The policy for password guesses (sign-in and password change)."""
    config = settings()
    return Policy(
        config.LOGIN_MAX_FAILURES,
        config.LOGIN_LOCK_BASE_SECONDS,
        config.LOGIN_LOCK_MAX_SECONDS,
    )


def second_factor_policy() -> Policy:
    """The policy for wrong codes and assertions, over all the sign-ins of an account."""
    config = settings()
    seconds = config.SECOND_FACTOR_LOCK_SECONDS
    return Policy(config.SECOND_FACTOR_MAX_FAILURES, seconds, seconds)


def key_for(kind: str, subject: str | bytes) -> bytes:
    """Return the row key of ``subject`` for one ``kind`` of failure."""
    raw = subject if isinstance(subject, bytes) else subject.encode()
    return keyed_hash("throttle", kind.encode() + b":" + raw)


@dataclass(frozen=True)
class Attempt:
    key: bytes
    number: int  # rank of this attempt among the consecutive ones, 1-based
    retry_after: int  # seconds left on a lock; 0 when the attempt may be checked

    @property
    def allowed(self) -> bool:
        return self.retry_after == 0


@dataclass(frozen=True)
class FailureOutcome:
    locked: bool
    lock_seconds: int = 0


def _upsert(values: dict):
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(Throttle).values(values)


def reserve(key: bytes, policy: Policy) -> Attempt:
    """Count one attempt for ``key`` before it is checked, or refuse it while locked."""
    now = utcnow()
    locked = Throttle.locked_until > now
    quiet = Throttle.updated_at < now - QUIET_PERIOD
    statement = (
        _upsert({"key": key, "failures": 1, "lock_count": 0, "updated_at": now})
        .on_conflict_do_update(
            index_elements=[Throttle.key],
            set_={
                "failures": case(
                    (locked, Throttle.failures), (quiet, 1), else_=Throttle.failures + 1
                ),
                "lock_count": case(
                    (locked, Throttle.lock_count), (quiet, 0), else_=Throttle.lock_count
                ),
                "updated_at": case((locked, Throttle.updated_at), else_=now),
            },
        )
        .returning(Throttle.failures, Throttle.locked_until)
    )
    failures, locked_until = db.session.execute(statement).one()
    if locked_until is not None and locked_until > now:
        return Attempt(key, 0, _seconds_until(locked_until, now))
    if failures > policy.max_failures:  # only after a crash between count and lock
        return Attempt(key, 0, policy.lock_base_seconds)
    return Attempt(key, failures, 0)


def record_failure(attempt: Attempt, policy: Policy) -> FailureOutcome:
    """The reserved attempt failed: lock the subject when it was the last one allowed."""
    if attempt.number < policy.max_failures:
        return FailureOutcome(locked=False)
    now = utcnow()
    previous_locks = (
        db.session.execute(
            update(Throttle)
            .where(Throttle.key == attempt.key)
            .values(failures=0, lock_count=Throttle.lock_count + 1, updated_at=now)
            .returning(Throttle.lock_count)
        ).scalar_one()
        - 1
    )
    seconds = policy.lock_seconds(previous_locks)
    db.session.execute(
        update(Throttle)
        .where(Throttle.key == attempt.key)
        .values(locked_until=now + timedelta(seconds=seconds))
    )
    return FailureOutcome(locked=True, lock_seconds=seconds)


def count_failure(key: bytes, policy: Policy) -> FailureOutcome:
    """Count a failure that was checked without a reservation (a wrong code or assertion)."""
    attempt = reserve(key, policy)
    if not attempt.allowed:
        return FailureOutcome(locked=False)
    return record_failure(attempt, policy)


def hold(key: bytes) -> None:
    """Take the row lock of ``key`` (making the row if needed) until the unit of work ends.

    For a limit counted elsewhere (the recoveries of one NIR): parallel requests for the
    same subject queue here, so a count then a check cannot race, unknown NIRs included.
    """
    statement = _upsert(
        {"key": key, "failures": 0, "lock_count": 0, "updated_at": utcnow()}
    ).on_conflict_do_update(index_elements=[Throttle.key], set_={"updated_at": utcnow()})
    db.session.execute(statement)


def reset(key: bytes) -> None:
    """Forget the failures of ``key`` after a success."""
    db.session.execute(
        update(Throttle)
        .where(Throttle.key == key)
        .values(failures=0, lock_count=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )


def retry_after(key: bytes) -> int:
    """Return the seconds left on the lock of ``key`` (0 when not locked), without counting."""
    locked_until = db.session.scalar(select(Throttle.locked_until).where(Throttle.key == key))
    if locked_until is None:
        return 0
    return _seconds_until(locked_until, utcnow())


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(0, math.ceil((moment - now).total_seconds()))
