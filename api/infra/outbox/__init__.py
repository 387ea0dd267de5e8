"""Outboxes: messages written with the event that causes them, delivered by workers.

- :mod:`.engine`: claim, lease, send once, record, retry with backoff, park (any transport).
- :mod:`.mail`: the SMTP transport (``MAIL``); :mod:`.sms`: the HTTP provider transport (``SMS``).
- :mod:`.worker`: the delivery loop of ``flask --app wsgi mail|sms deliver``.

Flows do not come here: they call :func:`api.infra.mailer.queue` and
:func:`api.infra.sms.queue` inside the request's transaction.
"""

from __future__ import annotations

from .engine import Outbox
from .mail import MAIL
from .sms import SMS

OUTBOXES: dict[str, Outbox] = {outbox.name: outbox for outbox in (MAIL, SMS)}

__all__ = ["MAIL", "OUTBOXES", "SMS", "Outbox"]
