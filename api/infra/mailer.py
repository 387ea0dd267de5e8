"""Mail for the flows: :func:`queue` writes a message to the outbox in the request's transaction.

Delivery is the outbox engine's work (:mod:`api.infra.outbox`): workers claim the row,
hand it to the SMTP server once, retry with backoff and empty the body once sent.
"""

from __future__ import annotations

import logging

from ..models import OutboxMail
from ..nir import mask_email
from .mail_templates import MailMessage
from .outbox import MAIL

log = logging.getLogger(__name__)


def queue(to: str, message: MailMessage) -> OutboxMail:
    """Add ``message`` to the outbox within the current database transaction."""
    mail = MAIL.enqueue(
        OutboxMail(to=to, subject=message.subject, text=message.text, html=message.html)
    )
    # The log names the recipient masked and never the body: it may hold a code.
    log.info(
        "mail queued",
        extra={
            "outbox_id": mail.id,
            "to": mask_email(to),
            "subject": message.subject,
            "backend": "smtp" if mail.status == "pending" else "outbox",
        },
    )
    return mail


def outbox_for(address: str, limit: int = 20) -> list[OutboxMail]:
    """Return the newest messages for ``address`` (development outbox)."""
    return MAIL.outbox_for(address, limit)
