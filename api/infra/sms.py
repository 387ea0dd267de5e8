"""Text messages for the flows: :func:`queue` writes one to the outbox in the request's transaction.

A flow calls :func:`queue` where it would send a text: the row is part of the request's
unit of work, so an SMS exists exactly when what caused it was committed, and a provider
outage loses nothing. Delivery is the outbox engine's work (:mod:`api.infra.outbox`):
``flask --app wsgi sms deliver`` workers send each message once and clear its text.
"""

from __future__ import annotations

import logging

from ..models import OutboxSms
from .outbox import SMS
from .outbox.sms import mask_phone

log = logging.getLogger(__name__)

__all__ = ["mask_phone", "outbox_for", "queue"]


def queue(to_e164: str, text: str) -> OutboxSms:
    """Add a text message for ``to_e164`` (``+33612345678``) within the current transaction."""
    sms = SMS.enqueue(OutboxSms(to=to_e164, text=text))
    # The number masked and never the text: it holds a code.
    log.info(
        "sms queued",
        extra={
            "outbox_id": sms.id,
            "to": mask_phone(to_e164),
            "backend": "http" if sms.status == "pending" else "outbox",
        },
    )
    return sms


def outbox_for(to_e164: str, limit: int = 20) -> list[OutboxSms]:
    """Return the newest text messages for ``to_e164`` (development outbox)."""
    return SMS.outbox_for(to_e164, limit)
