"""Text messages through an HTTP provider: the transport of the SMS outbox (``outbox_sms``).

The provider API is Brevo's transactional SMS shape, which most providers offer or can be
fronted with: ``POST {SMS_API_URL}/v3/transactionalSMS/send`` with an ``api-key`` header
and ``{"sender", "recipient", "content", "type", "tag"}``; ``201 {"messageId"}`` on
success. A 5xx answer, a timeout or a network error is temporary (retried with backoff);
a 4xx answer means the request itself is wrong (a number the provider refuses, a bad
key) and parks the message, except 408 and 429, which say "not now".
"""

from __future__ import annotations

import requests

from ...config import settings
from ...models import OutboxSms
from .engine import Outbox, Outgoing, PermanentFailure, RetryPolicy, TemporaryFailure

SEND_PATH = "/v3/transactionalSMS/send"
# Client errors that mean "later", not "never".
_TRY_AGAIN = {408, 429}


def mask_phone(e164: str) -> str:
    """Show the last two digits of a number only, for logs and operator listings."""
    return "•" * max(len(e164) - 2, 0) + e164[-2:]


class SmsApiTransport:
    """Hand text messages to the provider of the settings, one HTTP request each."""

    name = "sms"
    model = OutboxSms
    content = ("text",)
    erased = ("text",)

    def active(self) -> bool:
        return settings().SMS_BACKEND == "http"

    def retry_policy(self) -> RetryPolicy:
        config = settings()
        return RetryPolicy(config.SMS_MAX_ATTEMPTS, config.SMS_RETRY_BASE_SECONDS)

    def mask(self, to: str) -> str:
        return mask_phone(to)

    def send(self, item: Outgoing) -> str | None:
        config = settings()
        try:
            response = requests.post(
                config.SMS_API_URL.rstrip("/") + SEND_PATH,
                json={
                    "sender": config.SMS_SENDER,
                    "recipient": item.to.lstrip("+"),
                    "content": item.content["text"],
                    "type": "transactional",
                    # The row id: the same for every attempt, so that a message sent twice
                    # after a lost answer can be told apart in the provider's records.
                    "tag": item.id,
                },
                headers={"api-key": config.SMS_API_KEY, "accept": "application/json"},
                timeout=config.SMS_TIMEOUT_SECONDS,
                # A redirect would carry the key elsewhere: a moved API is a configuration
                # change, not something to follow.
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # The exception's text names the URL, never the key (it travels in a header).
            raise TemporaryFailure(str(exc)) from exc
        status = response.status_code
        if 200 <= status < 300:
            return _message_id(response)
        reason = f"HTTP {status} {_error_code(response)}".rstrip()
        if status >= 500 or status in _TRY_AGAIN:
            raise TemporaryFailure(reason)
        raise PermanentFailure(reason)


def _message_id(response: requests.Response) -> str | None:
    try:
        value = response.json().get("messageId")
    except (ValueError, AttributeError):
        return None  # accepted all the same: the provider said so with its status
    return None if value is None else str(value)[:100]


def _error_code(response: requests.Response) -> str:
    """The provider's error code and message, for operators (``sms parked``)."""
    try:
        body = response.json()
        return f"{body.get('code', '')} {body.get('message', '')}".strip()[:120]
    except (ValueError, AttributeError):
        return ""


SMS = Outbox(SmsApiTransport())
