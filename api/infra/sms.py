"""The SMS outbox: text messages written in the request's transaction, delivered later.

A flow calls :func:`queue` where it would send a text: the row is part of the request's
unit of work, so an SMS exists exactly when what caused it was committed, and a provider
outage loses nothing. Workers deliver the rows (``flask --app wsgi sms deliver``).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ..clock import utcnow
from ..config import settings
from ..extensions import db
from ..models import OutboxSms

log = logging.getLogger(__name__)


def mask_phone(e164: str) -> str:
    """Show the last two digits of a number only, for logs and operator listings."""
    return "•" * max(len(e164) - 2, 0) + e164[-2:]


def queue(to_e164: str, text: str) -> OutboxSms:
    """Add a text message for ``to_e164`` (``+33612345678``) within the current transaction."""
    now = utcnow()
    kept = settings().SMS_BACKEND == "outbox"
    sms = OutboxSms(
        to=to_e164,
        text=text,
        created_at=now,
        status="kept" if kept else "pending",
        next_attempt_at=now,
        attempts=0,
    )
    db.session.add(sms)
    db.session.flush()
    # The number masked and never the text: it holds a code.
    log.info(
        "sms queued",
        extra={
            "sms_id": sms.id,
            "to": mask_phone(to_e164),
            "backend": "outbox" if kept else "http",
        },
    )
    return sms


def outbox_for(to_e164: str, limit: int = 20) -> list[OutboxSms]:
    """Return the newest text messages for ``to_e164`` (development outbox)."""
    query = (
        select(OutboxSms)
        .where(OutboxSms.to == to_e164)
        .order_by(OutboxSms.created_at.desc(), OutboxSms.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))
