"""Mail through SMTP: the transport of the mail outbox (``outbox_mail``)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from ...config import settings
from ...models import OutboxMail
from ...nir import mask_email
from .engine import Outbox, Outgoing, PermanentFailure, RetryPolicy, TemporaryFailure

MESSAGE_ID_DOMAIN = "moncompte.caf"


def message_id(mail_id: str) -> str:
    """The Message-ID of an outbox row: the same for every attempt, unique across rows.

    The row id is random (uuid4), so no timestamp or random part is needed; adding one
    (as ``make_msgid`` does) would give a resend a new identity and defeat deduplication.
    """
    return f"<{mail_id}@{MESSAGE_ID_DOMAIN}>"


class SmtpTransport:
    """Hand messages to the SMTP server of the settings; a 5xx answer is permanent."""

    name = "mail"
    model = OutboxMail
    content = ("subject", "text", "html")
    erased = ("text", "html")

    def active(self) -> bool:
        return settings().MAIL_BACKEND == "smtp"

    def retry_policy(self) -> RetryPolicy:
        config = settings()
        return RetryPolicy(config.MAIL_MAX_ATTEMPTS, config.MAIL_RETRY_BASE_SECONDS)

    def mask(self, to: str) -> str:
        return mask_email(to)

    def send(self, item: Outgoing) -> None:
        config = settings()
        message = EmailMessage()
        message["From"] = config.MAIL_FROM
        message["To"] = item.to
        message["Subject"] = item.content["subject"]
        # Stable per outbox row: a retry after an ambiguous failure can be deduplicated.
        message["Message-ID"] = message_id(item.id)
        message.set_content(item.content["text"])
        message.add_alternative(item.content["html"], subtype="html")
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
            raise TemporaryFailure(str(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise TemporaryFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(str(exc)) from exc


MAIL = Outbox(SmtpTransport())
