"""Telling people what happened on an account: by email, or by SMS when that is all there is.

Security notices (a lock, a new device, a password change) go to the holder's own
address, else to their mobile as a one-segment SMS; never to the trusted person, who
only passes codes on. Contact changes also reach the previous value and the holder's
other channels (see :mod:`api.services.contacts`).
"""

from __future__ import annotations

from ..infra import mailer, sms, sms_templates
from ..infra.mail_templates import MailMessage
from ..models import Account


def tell_holder(account: Account, message: MailMessage) -> None:
    """Tell the holder: by email when they have an address, else by SMS."""
    if account.email:
        mailer.queue(account.email, message)
    elif account.phone:
        sms.queue(account.phone, sms_templates.notice(message.subject))


def tell_everywhere(account: Account, message: MailMessage) -> None:
    """Tell the holder on each of their own channels: the address and the mobile."""
    if account.email:
        mailer.queue(account.email, message)
    if account.phone:
        sms.queue(account.phone, sms_templates.notice(message.subject))


def tell(kind: str, value: str, message: MailMessage) -> None:
    """Send ``message`` to one contact value: an address by email, a number by SMS."""
    if kind == "phone":
        sms.queue(value, sms_templates.notice(message.subject))
    else:
        mailer.queue(value, message)
