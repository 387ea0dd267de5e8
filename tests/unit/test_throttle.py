"""The per-NIR throttle as a service, without HTTP."""

from api.extensions import db
from api.services import throttle


def test_lock_durations_grow_and_are_capped(app, clock):
    digest = b"n" * 32
    durations = []
    with app.app_context():
        for _ in range(10):
            for _ in range(5):
                outcome = throttle.record_failure(digest)
            db.session.commit()
            durations.append(outcome.lock_seconds)
            clock.advance(seconds=outcome.lock_seconds + 1)
    assert durations[:4] == [60, 120, 240, 480]
    assert max(durations) == 3600  # never a permanent lock


def test_quiet_day_forgets_old_locks(app, clock):
    digest = b"q" * 32
    with app.app_context():
        for _ in range(5):
            throttle.record_failure(digest)
        db.session.commit()
        clock.advance(days=2)
        for _ in range(5):
            outcome = throttle.record_failure(digest)
        db.session.commit()
    assert outcome.lock_seconds == 60
