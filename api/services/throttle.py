"""Per-NIR lockout after consecutive password failures.

Counted per NIR digest, for unknown NIRs too (so a lock reveals nothing), in the
database so every node sees the same count. Locks grow with each repetition and decay
after a quiet day: an attacker can slow an account down, never lock it out for good.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from ..clock import utcnow
from ..extensions import db
from ..models import LoginThrottle
from .upsert import insert_ignore

QUIET_PERIOD = timedelta(days=1)


@dataclass(frozen=True)
class FailureOutcome:
    locked: bool
    lock_seconds: int = 0


@dataclass(frozen=True)
class ThrottleState:
    retry_after: int  # seconds left on a lock; 0 when sign-in may proceed
    has_record: bool  # failures or locks are on record (a success must clear them)


def check(nir_hash: bytes) -> ThrottleState:
    """Read this NIR's lock and whether any failure is on record, in one query."""
    row = db.session.execute(
        select(LoginThrottle.locked_until, LoginThrottle.failures, LoginThrottle.lock_count).where(
            LoginThrottle.nir_hash == nir_hash
        )
    ).first()
    if row is None:
        return ThrottleState(0, False)
    locked_until, failures, lock_count = row
    remaining = 0
    if locked_until is not None:
        remaining = max(0, math.ceil((locked_until - utcnow()).total_seconds()))
    return ThrottleState(remaining, bool(failures or lock_count or locked_until))


def record_failure(nir_hash: bytes) -> FailureOutcome:
    """Count one failure atomically; lock the NIR when the count reaches the limit."""
    config = current_app.config
    now = utcnow()
    db.session.execute(
        insert_ignore(LoginThrottle).values(
            nir_hash=nir_hash, failures=0, lock_count=0, updated_at=now
        )
    )
    row = db.session.execute(
        select(LoginThrottle).where(LoginThrottle.nir_hash == nir_hash).with_for_update()
    ).scalar_one()
    if now - row.updated_at > QUIET_PERIOD:
        row.lock_count = 0
        row.failures = 0
    row.failures += 1
    row.updated_at = now
    if row.failures < config["LOGIN_MAX_FAILURES"]:
        return FailureOutcome(locked=False)
    seconds = _lock_seconds(row.lock_count, config)
    row.failures = 0
    row.lock_count += 1
    row.locked_until = now + timedelta(seconds=seconds)
    return FailureOutcome(locked=True, lock_seconds=seconds)


def _lock_seconds(previous_locks: int, config: dict) -> int:
    base = config["LOGIN_LOCK_BASE_SECONDS"]
    return min(base * 2 ** min(previous_locks, 16), config["LOGIN_LOCK_MAX_SECONDS"])


def reset(nir_hash: bytes) -> None:
    """Forget failures after a successful password step."""
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.nir_hash == nir_hash)
        .values(failures=0, lock_count=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
