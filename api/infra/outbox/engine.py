"""The delivery engine shared by mail and SMS: each message delivered once, nothing lost.

A message is a row of an outbox table written in the same database transaction as the
event that causes it, so a crash or an outage of the mail server or SMS provider loses
nothing. Workers deliver the rows through a :class:`Transport` (SMTP, an HTTP provider):

- A message is claimed before it is sent: on PostgreSQL with ``FOR UPDATE SKIP LOCKED``
  (workers never wait for each other), everywhere with a conditional UPDATE, so each
  message is handed over once however many workers run. A claim is a lease: if the
  worker dies, the message becomes due again when the lease ends.
- The claim is committed before the network is spoken to, and no transaction stays open
  during the exchange: no pooled connection (nor, on SQLite, the write lock) waits on a
  slow server.
- A temporary failure (the server is down, slow or busy) is retried with exponential
  backoff; a permanent refusal, or too many attempts, parks the message (``failed``)
  until an operator puts it back.
- A send whose "sent" cannot be written (the database went away) is remembered by the
  process and written before anything new is claimed, so it is not sent again.
- A body may hold a sign-in code, so it is kept only as long as it must be: marking a
  message sent empties it; parked messages keep theirs (for ``retry``) until the purge.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ...clock import utcnow
from ...extensions import db

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)
BACKOFF_MAX_SECONDS = 3600
# The PostgreSQL notification channel that wakes the workers; the payload names the outbox.
NOTIFY_CHANNEL = "outbox"
_DUE_STATUSES = ("pending", "sending")


class PermanentFailure(Exception):
    """The far end refused the message for good: retrying cannot help, so it is parked."""


class TemporaryFailure(Exception):
    """The far end could not take the message now (down, slow, busy): retry it later."""


@dataclass(frozen=True)
class Outgoing:
    """What a transport needs of a claimed row, read in a transaction that ends before sending."""

    id: str
    to: str
    attempts: int
    content: dict[str, str]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: int

    def delay(self, attempts: int) -> int:
        """Seconds to wait after the ``attempts``-th failure: doubling, capped at an hour."""
        return min(self.base_seconds * 2 ** (attempts - 1), BACKOFF_MAX_SECONDS)


class Transport(Protocol):
    """How one kind of message leaves the service."""

    name: ClassVar[str]  # "mail", "sms": logs, commands, notifications
    model: ClassVar[Any]  # the outbox table's model
    content: ClassVar[tuple[str, ...]]  # the columns send() needs besides the recipient
    erased: ClassVar[tuple[str, ...]]  # the columns emptied once sent (a code may be there)

    def active(self) -> bool:
        """Whether messages really leave (else the outbox keeps them, in development)."""

    def retry_policy(self) -> RetryPolicy: ...

    def send(self, item: Outgoing) -> str | None:
        """Hand ``item`` over; return the far end's id for it, if it gives one.

        Raise :class:`PermanentFailure` or :class:`TemporaryFailure`; nothing else.
        """

    def mask(self, to: str) -> str:
        """Show a recipient as operators and logs may see it."""


class Outbox:
    """The queue of one transport: enqueue, claim, send, record, retry, park."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.name = transport.name
        self.model = transport.model

    # --- writing ----------------------------------------------------------------------

    def enqueue(self, row: Any) -> Any:
        """Add ``row`` (a new outbox row with its recipient and body) to the current transaction."""
        now = utcnow()
        row.created_at = now
        row.next_attempt_at = now
        row.attempts = 0
        row.status = "pending" if self.transport.active() else "kept"
        db.session.add(row)
        db.session.flush()
        if row.status == "pending":
            self._wake_workers()
        return row

    def _wake_workers(self) -> None:
        if db.session.get_bind().dialect.name == "postgresql":
            # Delivered to the listening workers when (and only if) this transaction commits.
            db.session.execute(select(func.pg_notify(NOTIFY_CHANNEL, self.name)))

    # --- delivering -------------------------------------------------------------------

    def deliver_due(self, limit: int = 50) -> int:
        """Claim a batch of due messages and send them; return how many were sent.

        Sends whose outcome could not be written yet are recorded first: while that fails
        (the database is still away) nothing new is claimed, and the error propagates.
        """
        return self.deliver_batch(limit)[1]

    def deliver_batch(self, limit: int = 50) -> tuple[int, int]:
        """Like :meth:`deliver_due`; return how many messages were claimed and sent."""
        self.record_unrecorded()
        claimed = self.claim_batch(limit)
        return len(claimed), sum(self._send_claimed(row_id) for row_id in claimed)

    def claim_batch(self, limit: int) -> list[str]:
        """Claim up to ``limit`` due messages for this worker."""
        now = utcnow()
        model = self.model
        query = select(model.id).where(*self._due(now)).order_by(model.next_attempt_at)
        if db.engine.dialect.name == "postgresql":
            # Rows another worker is claiming are skipped, not waited for.
            query = query.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(query.limit(limit)))
        claimed = [row_id for row_id in ids if self._claim(row_id, now)]
        db.session.commit()
        return claimed

    def _due(self, now: datetime) -> tuple:
        return (self.model.status.in_(_DUE_STATUSES), self.model.next_attempt_at <= now)

    def _claim(self, row_id: str, now: datetime) -> bool:
        model = self.model
        result = db.session.execute(
            update(model)
            .where(model.id == row_id, *self._due(now))
            .values(
                status="sending", next_attempt_at=now + CLAIM_LEASE, attempts=model.attempts + 1
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def _load(self, row_id: str) -> Outgoing | None:
        model = self.model
        columns = [getattr(model, name) for name in self.transport.content]
        row = db.session.execute(
            select(model.id, model.to, model.attempts, *columns).where(model.id == row_id)
        ).one_or_none()
        # End the transaction before the network: no connection (nor, on SQLite, the write
        # lock) is held while the far end takes its time.
        db.session.commit()
        if row is None:
            return None
        content = dict(zip(self.transport.content, row[3:], strict=True))
        return Outgoing(id=row[0], to=row[1], attempts=row[2], content=content)

    def _send_claimed(self, row_id: str) -> bool:
        item = self._load(row_id)
        if item is None:
            return False
        try:
            provider_id = self.transport.send(item)
        except PermanentFailure as exc:
            self._park(item, exc)
            return False
        except TemporaryFailure as exc:
            self._schedule_retry(item, exc)
            return False
        # Handed over: from now on this message must never be claimed and sent again. It is
        # remembered until the database says "sent"; if writing that fails (the database
        # went away), the next pass writes it before claiming anything, even after the
        # lease ended.
        self._unrecorded()[item.id] = (utcnow(), provider_id)
        log.info(
            f"{self.name} sent",
            extra={"outbox_id": item.id, "to": self.transport.mask(item.to)},
        )
        self.record_unrecorded()
        return True

    # --- recording outcomes -----------------------------------------------------------

    def _unrecorded(self) -> dict[str, tuple[datetime, str | None]]:
        """Sends of this process not recorded yet: row id -> (sent at, provider's id)."""
        every = current_app.extensions.setdefault("outbox.unrecorded_sends", {})
        return every.setdefault(self.name, {})

    def unrecorded_count(self) -> int:
        return len(self._unrecorded())

    def record_unrecorded(self) -> int:
        """Write "sent" for every send not recorded yet; raise if the database refuses."""
        unrecorded = self._unrecorded()
        pending = list(unrecorded.items())
        if not pending:
            return 0
        model = self.model
        # Delivered: the body (a code, perhaps) has no reason to stay.
        erased = dict.fromkeys(self.transport.erased, "")
        try:
            for row_id, (sent_at, provider_id) in pending:
                values: dict[str, Any] = {
                    "status": "sent",
                    "sent_at": sent_at,
                    "last_error": None,
                    **erased,
                }
                if provider_id is not None:
                    values["provider_message_id"] = provider_id
                db.session.execute(
                    update(model)
                    .where(model.id == row_id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            db.session.commit()
        except SQLAlchemyError:
            rollback()
            raise
        for row_id, _ in pending:
            unrecorded.pop(row_id, None)
        return len(pending)

    def _update(self, row_id: str, **values: object) -> None:
        """Record an outcome in a short transaction of its own."""
        db.session.execute(
            update(self.model)
            .where(self.model.id == row_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()

    def _describe(self, exc: Exception, item: Outgoing) -> str:
        # Errors may quote the recipient: operators see it masked, like everywhere else.
        text = str(exc)
        for form in {item.to, item.to.lstrip("+")}:
            text = text.replace(form, self.transport.mask(item.to))
        return f"{_kind(exc)}: {text[:150]}"

    def _park(self, item: Outgoing, exc: Exception) -> None:
        self._update(item.id, status="failed", last_error=self._describe(exc, item))
        log.error(f"{self.name} parked", extra={"outbox_id": item.id, "error": _kind(exc)})

    def _schedule_retry(self, item: Outgoing, exc: Exception) -> None:
        policy = self.transport.retry_policy()
        if item.attempts >= policy.max_attempts:
            self._park(item, exc)
            return
        delay = policy.delay(item.attempts)
        self._update(
            item.id,
            status="pending",
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            last_error=self._describe(exc, item),
        )
        log.warning(
            f"{self.name} delivery failed",
            extra={
                "outbox_id": item.id,
                "attempts": item.attempts,
                "retry_in_s": delay,
                "error": _kind(exc),
            },
        )

    # --- operators --------------------------------------------------------------------

    def backlog(self) -> dict[str, int]:
        """Return how many messages wait to be sent and how many are parked."""
        counts = dict(
            db.session.execute(
                select(self.model.status, func.count()).group_by(self.model.status)
            ).all()
        )
        return {
            "pending": counts.get("pending", 0) + counts.get("sending", 0),
            "parked": counts.get("failed", 0),
        }

    def parked(self, limit: int = 100) -> list[Any]:
        query = (
            select(self.model)
            .where(self.model.status == "failed")
            .order_by(self.model.created_at)
            .limit(limit)
        )
        return list(db.session.scalars(query))

    def retry_parked(self, row_id: str | None = None) -> int:
        """Put parked messages (one, or all) back in the queue, due now."""
        query = update(self.model).where(self.model.status == "failed")
        if row_id is not None:
            query = query.where(self.model.id == row_id)
        result = db.session.execute(
            query.values(status="pending", attempts=0, next_attempt_at=utcnow()).execution_options(
                synchronize_session=False
            )
        )
        if result.rowcount:
            self._wake_workers()
        db.session.commit()
        return result.rowcount

    def outbox_for(self, to: str, limit: int = 20) -> list[Any]:
        """Return the newest messages for ``to`` (development outbox)."""
        query = (
            select(self.model)
            .where(self.model.to == to)
            .order_by(self.model.created_at.desc(), self.model.id.desc())
            .limit(limit)
        )
        return list(db.session.scalars(query))


def _kind(exc: BaseException) -> str:
    """Name a delivery failure by what the transport met (SMTPDataError, ConnectTimeout...)."""
    return type(exc.__cause__ or exc).__name__


def rollback() -> None:
    # After a lost connection the rollback may fail too; the pool replaces the connection.
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()


def reset_session() -> None:
    """Drop whatever a failed pass left in the session, so the next pass starts clean."""
    rollback()
    db.session.remove()


def describe_error(exc: BaseException) -> str:
    """Name an error for the logs without its text, which may quote SQL parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        detail = type(exc.orig).__name__ + (f" {sqlstate}" if sqlstate else "")
        return f"{type(exc).__name__} ({detail})"
    return type(exc).__name__
