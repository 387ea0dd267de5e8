"""The mail outbox and its delivery.

A message is written to ``outbox_mail`` in the same database transaction as the event
that causes it, so a crash or a mail-server outage loses nothing. Delivery happens
after the response is sent (one attempt) and in ``flask mail deliver`` workers, which
retry with exponential backoff. A message is claimed before it is sent: on PostgreSQL
with ``FOR UPDATE SKIP LOCKED`` (workers never wait for each other), everywhere with a
conditional UPDATE, so each message is handed to the SMTP server once. A claim is a
lease: if the worker dies, the message becomes due again when the lease ends. The claim
is committed before SMTP is spoken, and no transaction stays open during the conversation.
A send whose "sent" cannot be written (the database went away) is remembered by the
process and written before anything new is claimed, so it is not sent again; the
Message-ID is derived from the row, so that a receiving system can drop a copy anyway.

A body may hold a sign-in code, so it is kept only as long as it must be: marking a
message sent empties its text and HTML; parked messages keep theirs (for ``mail retry``)
until the purge (``MAIL_KEEP_DAYS``). Outbox mode (development) keeps bodies for the dev
outbox, and the purge applies there too.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from flask import current_app, g
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..models import OutboxMail
from ..nir import mask_email
from .mail_templates import MailMessage

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)
MESSAGE_ID_DOMAIN = "moncompte.caf"
BACKOFF_MAX_SECONDS = 3600
_DUE_STATUSES = ("pending", "sending")


class PermanentFailure(Exception):
    """The SMTP server refused the message for good (5xx): retrying cannot help."""


def queue(to: str, message: MailMessage) -> OutboxMail:
    """Add ``message`` to the outbox within the current database transaction."""
    now = utcnow()
    kept = settings().MAIL_BACKEND == "outbox"
    mail = OutboxMail(
        to=to,
        subject=message.subject,
        text=message.text,
        html=message.html,
        created_at=now,
        status="kept" if kept else "pending",
        next_attempt_at=now,
        attempts=0,
    )
    db.session.add(mail)
    db.session.flush()
    # The log names the recipient masked and never the body: it may hold a code.
    log.info(
        "mail queued",
        extra={
            "mail_id": mail.id,
            "to": mask_email(to),
            "subject": message.subject,
            "backend": "outbox" if kept else "smtp",
        },
    )
    if not kept:
        g.setdefault("queued_mail_ids", []).append(mail.id)
    return mail


def take_queued_ids() -> list[str]:
    """Return and forget the ids queued during this request."""
    return g.pop("queued_mail_ids", [])


def _due(now):
    return (OutboxMail.status.in_(_DUE_STATUSES), OutboxMail.next_attempt_at <= now)


def deliver_due(limit: int = 50) -> int:
    """Claim a batch of due messages and send them; return how many were sent.

    Sends whose outcome could not be written yet are recorded first: while that fails
    (the database is still away) nothing new is claimed, and the error propagates.
    """
    record_unrecorded()
    return sum(_send_claimed(mail_id) for mail_id in claim_batch(limit))


def claim_batch(limit: int) -> list[str]:
    """Claim up to ``limit`` due messages for this worker."""
    now = utcnow()
    query = select(OutboxMail.id).where(*_due(now)).order_by(OutboxMail.next_attempt_at)
    if db.engine.dialect.name == "postgresql":
        # Rows another worker is claiming are skipped, not waited for.
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query.limit(limit)))
    claimed = [mail_id for mail_id in ids if _claim(mail_id, now)]
    db.session.commit()
    return claimed


def deliver(mail_id: str) -> bool:
    """Claim and send one message (the attempt made right after a response).

    A database error is logged, not raised: the response is out, and the workers retry.
    """
    try:
        record_unrecorded()
        claimed = _claim(mail_id, utcnow())
        db.session.commit()
        return claimed and _send_claimed(mail_id)
    except SQLAlchemyError as exc:
        _rollback()
        log.warning(
            "mail delivery deferred: database error",
            extra={"mail_id": mail_id, "error": describe_error(exc)},
        )
        return False


def _claim(mail_id: str, now) -> bool:
    result = db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail_id, *_due(now))
        .values(
            status="sending", next_attempt_at=now + CLAIM_LEASE, attempts=OutboxMail.attempts + 1
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


@dataclass(frozen=True)
class _Outgoing:
    """What SMTP needs of a claimed row, read in a transaction that ends before sending."""

    id: str
    to: str
    subject: str
    text: str
    html: str
    attempts: int


def _load(mail_id: str) -> _Outgoing | None:
    row = db.session.execute(
        select(
            OutboxMail.id,
            OutboxMail.to,
            OutboxMail.subject,
            OutboxMail.text,
            OutboxMail.html,
            OutboxMail.attempts,
        ).where(OutboxMail.id == mail_id)
    ).one_or_none()
    # End the transaction before talking SMTP: no connection (nor, on SQLite, the write
    # lock) is held while the mail server takes its time.
    db.session.commit()
    return None if row is None else _Outgoing(*row)


def _send_claimed(mail_id: str) -> bool:
    mail = _load(mail_id)
    if mail is None:
        return False
    try:
        _send_smtp(mail)
    except PermanentFailure as exc:
        _park(mail, exc)
        return False
    except (OSError, smtplib.SMTPException) as exc:
        _schedule_retry(mail, exc)
        return False
    # Handed over: from now on this message must never be claimed and sent again. It is
    # remembered until the database says "sent"; if writing that fails (the database went
    # away), the next pass writes it before claiming anything, even after the lease ended.
    _unrecorded()[mail.id] = utcnow()
    log.info("mail sent", extra={"mail_id": mail.id, "to": mask_email(mail.to)})
    record_unrecorded()
    return True


def _unrecorded() -> dict[str, datetime]:
    """Sends of this process not yet recorded in the database: mail id -> sent at."""
    return current_app.extensions.setdefault("mailer.unrecorded_sends", {})


def unrecorded_count() -> int:
    return len(_unrecorded())


def record_unrecorded() -> int:
    """Write "sent" for every send not recorded yet; raise if the database refuses."""
    unrecorded = _unrecorded()
    pending = list(unrecorded.items())
    if not pending:
        return 0
    try:
        for mail_id, sent_at in pending:
            db.session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == mail_id)
                # Delivered: the body (a code, perhaps) has no reason to stay.
                .values(status="sent", sent_at=sent_at, last_error=None, text="", html="")
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
    except SQLAlchemyError:
        _rollback()
        raise
    for mail_id, _ in pending:
        unrecorded.pop(mail_id, None)
    return len(pending)


def _rollback() -> None:
    # After a lost connection the rollback may fail too; the pool replaces the connection.
    with contextlib.suppress(SQLAlchemyError):
        db.session.rollback()


def reset_session() -> None:
    """Drop whatever a failed pass left in the session, so the next pass starts clean."""
    _rollback()
    db.session.remove()


def describe_error(exc: BaseException) -> str:
    """Name an error for the logs without its text, which may quote SQL parameters."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        sqlstate = getattr(exc.orig, "sqlstate", None)
        detail = type(exc.orig).__name__ + (f" {sqlstate}" if sqlstate else "")
        return f"{type(exc).__name__} ({detail})"
    return type(exc).__name__


def _update(mail_id: str, **values: object) -> None:
    """Record an outcome in a short transaction of its own."""
    db.session.execute(
        update(OutboxMail)
        .where(OutboxMail.id == mail_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _describe(exc: Exception, mail: _Outgoing) -> str:
    # SMTP errors may quote the recipient: operators see it masked, like everywhere else.
    text = str(exc).replace(mail.to, mask_email(mail.to))
    return f"{type(exc).__name__}: {text[:150]}"


def _park(mail: _Outgoing, exc: Exception) -> None:
    _update(mail.id, status="failed", last_error=_describe(exc, mail))
    log.error("mail parked", extra={"mail_id": mail.id, "error": type(exc).__name__})


def _schedule_retry(mail: _Outgoing, exc: Exception) -> None:
    if mail.attempts >= settings().MAIL_MAX_ATTEMPTS:
        _park(mail, exc)
        return
    base = settings().MAIL_RETRY_BASE_SECONDS
    delay = min(base * 2 ** (mail.attempts - 1), BACKOFF_MAX_SECONDS)
    _update(
        mail.id,
        status="pending",
        next_attempt_at=utcnow() + timedelta(seconds=delay),
        last_error=_describe(exc, mail),
    )
    log.warning(
        "mail delivery failed",
        extra={
            "mail_id": mail.id,
            "attempts": mail.attempts,
            "retry_in_s": delay,
            "error": type(exc).__name__,
        },
    )


def message_id(mail_id: str) -> str:
    """The Message-ID of an outbox row: the same for every attempt, unique across rows.

    The row id is random (uuid4), so no timestamp or random part is needed; adding one
    (as ``make_msgid`` does) would give a resend a new identity and defeat deduplication.
    """
    return f"<{mail_id}@{MESSAGE_ID_DOMAIN}>"


def _send_smtp(mail: _Outgoing) -> None:
    config = settings()
    message = EmailMessage()
    message["From"] = config.MAIL_FROM
    message["To"] = mail.to
    message["Subject"] = mail.subject
    # Stable per outbox row: a retry after an ambiguous failure can be deduplicated.
    message["Message-ID"] = message_id(mail.id)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    try:
        with smtplib.SMTP(
            config.SMTP_HOST, config.SMTP_PORT, timeout=config.SMTP_TIMEOUT_SECONDS
        ) as smtp:
            if config.SMTP_STARTTLS:
                smtp.starttls(context=ssl.create_default_context())
            if config.SMTP_USERNAME:
                smtp.login(config.SMTP_USERNAME, config.SMTP_PASSWORD)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        if codes and all(500 <= code < 600 for code in codes):
            raise PermanentFailure(str(exc)) from exc
        raise
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600:
            raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        raise


def backlog() -> dict[str, int]:
    """Return how many messages wait to be sent and how many are parked."""
    counts = dict(
        db.session.execute(
            select(OutboxMail.status, func.count()).group_by(OutboxMail.status)
        ).all()
    )
    return {
        "pending": counts.get("pending", 0) + counts.get("sending", 0),
        "parked": counts.get("failed", 0),
    }


def parked(limit: int = 100) -> list[OutboxMail]:
    query = (
        select(OutboxMail)
        .where(OutboxMail.status == "failed")
        .order_by(OutboxMail.created_at)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def retry_parked(mail_id: str | None = None) -> int:
    """Put parked messages (one, or all) back in the queue, due now."""
    query = update(OutboxMail).where(OutboxMail.status == "failed")
    if mail_id is not None:
        query = query.where(OutboxMail.id == mail_id)
    result = db.session.execute(
        query.values(status="pending", attempts=0, next_attempt_at=utcnow()).execution_options(
            synchronize_session=False
        )
    )
    db.session.commit()
    return result.rowcount


def outbox_for(address: str, limit: int = 20) -> list[OutboxMail]:
    """Return the newest messages for ``address`` (development outbox)."""
    query = (
        select(OutboxMail)
        .where(OutboxMail.to == address)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))
