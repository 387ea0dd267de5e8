"""The delivery worker of ``flask --app wsgi mail|sms deliver``: woken at once, outlives outages.

On PostgreSQL the worker LISTENs on a connection of its own: :meth:`Outbox.enqueue` issues
``pg_notify('outbox', 'mail'|'sms')`` in the transaction that writes the message, so the
worker wakes as soon as that transaction commits (and never for one that rolled back).
It still polls, as a safety net for retries coming due, expired leases and notifications
lost while its connection was down. On SQLite, which has no notifications, it polls often.

A failing pass (the database is away, say) is logged and retried after a growing pause;
with ``loop`` the worker never gives up. A single pass gives up at once unless it has
handed messages over without recording them: it then keeps trying to record them for a
while, since a message left unrecorded may be sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL

from ...extensions import db
from .engine import CLAIM_LEASE, NOTIFY_CHANNEL, Outbox, describe_error, reset_session

log = logging.getLogger(__name__)

BATCH = 50
# Seconds between passes when nothing wakes the worker: short where polling is all there
# is (a code must still arrive within a second), long where notifications wake it.
POLL_SECONDS = 0.5
LISTEN_POLL_SECONDS = 5.0
_LISTEN_CONNECT_TIMEOUT = 5


class WorkerGaveUp(Exception):
    """A single pass failed and could not be completed."""


class Wakeup:
    """Wait for the next pass: a notification for this outbox, or the end of the interval."""

    def __init__(self, name: str, url: URL) -> None:
        self.name = name
        self.url = url if url.get_backend_name() == "postgresql" else None
        self._conn: Any = None

    @property
    def listens(self) -> bool:
        return self.url is not None

    def listen(self) -> bool:
        """Open the listening connection; return whether it is open."""
        import psycopg  # PostgreSQL only (the "postgres" extra)

        assert self.url is not None
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            # Autocommit: LISTEN takes effect at once, and no transaction is ever left open.
            self._conn = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=_LISTEN_CONNECT_TIMEOUT
            )
            self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as exc:
            log.warning(f"{self.name} worker cannot listen", extra={"error": type(exc).__name__})
            self.close()
            return False
        return True

    def wait(self, seconds: float) -> None:
        """Return when this outbox is notified, or after ``seconds``."""
        if self.url is None:
            time.sleep(seconds)
            return
        if self._conn is None:
            if self.listen():
                return  # notifications sent while not listening are lost: look at once
            time.sleep(seconds)
            return
        import psycopg

        deadline = time.monotonic() + seconds
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                notes = self._conn.notifies(timeout=remaining, stop_after=1)
                # The other outbox's notifications are skipped; a burst for this one needs
                # one pass only, which serves every message due.
                if any(note.payload == self.name for note in notes):
                    return
        except psycopg.Error as exc:
            log.warning(
                f"{self.name} worker stopped listening", extra={"error": type(exc).__name__}
            )
            self.close()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def run(
    outbox: Outbox,
    *,
    loop: bool,
    interval: float | None,
    max_backoff: float,
    report: Callable[[int], None] = lambda sent: None,
) -> None:
    """Deliver due messages of ``outbox`` once, or until interrupted with ``loop``."""
    wakeup = Wakeup(outbox.name, db.engine.url)
    if interval is None:
        interval = LISTEN_POLL_SECONDS if wakeup.listens else POLL_SECONDS
    if loop and wakeup.listens:
        # Before the first pass: a message queued while it runs wakes the next one.
        wakeup.listen()
    if loop:
        log.info(
            f"{outbox.name} worker started",
            extra={"wakeup": "notify" if wakeup.listens else "poll", "interval_s": interval},
        )
    try:
        _deliver(
            outbox, wakeup, loop=loop, interval=interval, max_backoff=max_backoff, report=report
        )
    finally:
        wakeup.close()


def _deliver(
    outbox: Outbox,
    wakeup: Wakeup,
    *,
    loop: bool,
    interval: float,
    max_backoff: float,
    report: Callable[[int], None],
) -> None:
    failures = 0
    give_up_at = time.monotonic() + CLAIM_LEASE.total_seconds() / 2
    while True:
        try:
            claimed, sent = outbox.deliver_batch(BATCH)
        except Exception as exc:  # the worker outlives any one pass
            reset_session()
            failures += 1
            unrecorded = outbox.unrecorded_count()
            delay = min(interval * 2 ** (failures - 1), max_backoff)
            # The error's class only: its text may quote SQL parameters.
            log.warning(
                f"{outbox.name} worker pass failed",
                extra={
                    "error": describe_error(exc),
                    "failures": failures,
                    "unrecorded": unrecorded,
                    "retry_in_s": round(delay, 2),
                },
            )
            if not loop and (not unrecorded or time.monotonic() > give_up_at):
                message = f"Delivery pass failed ({describe_error(exc)})."
                if unrecorded:
                    message += f" {unrecorded} sent message(s) could not be recorded as sent."
                raise WorkerGaveUp(message) from None
            time.sleep(delay)
            continue
        if failures:
            log.info(f"{outbox.name} worker recovered", extra={"failures": failures})
            failures = 0
        if sent:
            report(sent)
        if not loop:
            return
        if claimed < BATCH:  # a full batch means a backlog: carry on at once
            wakeup.wait(interval)


def deliver_pass(outbox: Outbox) -> int:
    """Run one delivery pass as a woken worker does, logging (not raising) a failure."""
    try:
        return outbox.deliver_due()
    except Exception as exc:  # a pass that fails is retried by the next one
        reset_session()
        log.warning(
            f"{outbox.name} delivery pass failed",
            extra={"error": describe_error(exc), "unrecorded": outbox.unrecorded_count()},
        )
        return 0
