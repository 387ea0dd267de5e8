"""The mail outbox and its delivery.

A message is written to ``outbox_mail`` in the same database transaction as the event
that causes it, so a crash or a mail-server outage loses nothing. Delivery happens
after the response is sent (one attempt) and in ``flask mail deliver`` (retries with
exponential backoff), both claiming a row with a conditional UPDATE so that several
nodes and workers deliver each message once.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, g
from sqlalchemy import or_, select, update

from ..clock import utcnow
from ..extensions import db
from ..models import OutboxMail
from ..nir import mask_email
from .mail_templates import MailMessage

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=2)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600


def queue(to: str, message: MailMessage) -> OutboxMail:
    """Add ``message`` to the outbox within the current database transaction."""
    now = utcnow()
    kept = current_app.config["MAIL_BACKEND"] == "outbox"
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


def deliver_due(limit: int = 100) -> int:
    """Deliver every message whose turn has come; return how many were sent."""
    now = utcnow()
    due = db.session.scalars(
        select(OutboxMail.id)
        .where(
            or_(OutboxMail.status == "pending", OutboxMail.status == "sending"),
            OutboxMail.next_attempt_at <= now,
        )
        .order_by(OutboxMail.next_attempt_at)
        .limit(limit)
    ).all()
    return sum(deliver(mail_id) for mail_id in due)


def deliver(mail_id: str) -> bool:
    """Claim and send one message; on failure schedule a retry. Return True when sent."""
    if not _claim(mail_id):
        return False
    mail = db.session.get(OutboxMail, mail_id)
    assert mail is not None
    try:
        _send_smtp(mail)
    except (OSError, smtplib.SMTPException) as exc:
        _schedule_retry(mail, exc)
        return False
    mail.status = "sent"
    mail.sent_at = utcnow()
    mail.last_error = None
    db.session.commit()
    log.info("mail sent", extra={"mail_id": mail.id, "to": mask_email(mail.to)})
    return True


def _claim(mail_id: str) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id == mail_id,
            or_(OutboxMail.status == "pending", OutboxMail.status == "sending"),
            OutboxMail.next_attempt_at <= now,
        )
        .values(
            status="sending", next_attempt_at=now + CLAIM_LEASE, attempts=OutboxMail.attempts + 1
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _schedule_retry(mail: OutboxMail, exc: Exception) -> None:
    db.session.refresh(mail)
    delay = min(BACKOFF_BASE_SECONDS * 2 ** (mail.attempts - 1), BACKOFF_MAX_SECONDS)
    mail.last_error = f"{type(exc).__name__}: {str(exc)[:150]}"
    if mail.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        mail.status = "failed"
    else:
        mail.status = "pending"
        mail.next_attempt_at = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    log.warning(
        "mail delivery failed",
        extra={
            "mail_id": mail.id,
            "attempts": mail.attempts,
            "status": mail.status,
            "error": type(exc).__name__,
        },
    )


def _send_smtp(mail: OutboxMail) -> None:
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = mail.to
    message["Subject"] = mail.subject
    # Stable per outbox row: a retry after an ambiguous failure can be deduplicated.
    message["Message-ID"] = make_msgid(idstring=mail.id, domain="moncompte.caf")
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    with smtplib.SMTP(
        config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT_SECONDS"]
    ) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(message)


def outbox_for(address: str, limit: int = 20) -> list[OutboxMail]:
    """Return the newest messages for ``address`` (development outbox)."""
    query = (
        select(OutboxMail)
        .where(OutboxMail.to == address)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))
