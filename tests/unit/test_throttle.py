"""The throttle as a service, without HTTP: reservations, growing locks, quiet days."""

from api.extensions import db
from api.infra import throttle

POLICY = throttle.Policy(max_failures=5, lock_base_seconds=60, lock_max_seconds=3600)


def fail_until_locked(key: bytes) -> throttle.FailureOutcome:
    for _ in range(POLICY.max_failures):
        attempt = throttle.reserve(key, POLICY)
        assert attempt.allowed
        outcome = throttle.record_failure(attempt, POLICY)
    db.session.commit()
    return outcome


def test_lock_durations_grow_and_are_capped(app, clock):
    durations = []
    with app.app_context():
        for _ in range(10):
            outcome = fail_until_locked(b"n" * 32)
            durations.append(outcome.lock_seconds)
            clock.advance(seconds=outcome.lock_seconds + 1)
    assert durations[:4] == [60, 120, 240, 480]
    assert max(durations) == 3600  # never a permanent lock


def test_quiet_day_forgets_old_locks(app, clock):
    with app.app_context():
        fail_until_locked(b"q" * 32)
        clock.advance(days=2)
        assert fail_until_locked(b"q" * 32).lock_seconds == 60


def test_a_locked_subject_gets_no_attempt_and_keeps_its_count(app):
    with app.app_context():
        key = throttle.key_for("nir", b"x" * 32)
        fail_until_locked(key)
        refused = [throttle.reserve(key, POLICY) for _ in range(3)]
        assert [a.allowed for a in refused] == [False] * 3
        assert all(1 <= a.retry_after <= 60 for a in refused)
        assert throttle.retry_after(key) == refused[-1].retry_after


def test_keys_differ_by_kind(app):
    with app.app_context():
        assert throttle.key_for("nir", "a") != throttle.key_for("device", "a")
