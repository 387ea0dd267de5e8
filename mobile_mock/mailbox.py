"""Where the simulated person reads the emailed code.

- :class:`DevOutbox`: the service's development outbox (``GET /api/v1/dev/outbox``).
- :class:`SmtpSink`: an SMTP server run by the simulator itself (aiosmtpd), for a service
  that sends real mail (``MAIL_BACKEND=smtp`` pointed at it).

Both answer :meth:`latest` (the newest code message to an address, or None); a sign-in
notes it before « Envoyer le code » and waits for a different one, so a code from an
earlier sign-in is never taken for the new one.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import quote

from .transport import Transport

_CODE = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)


def carries_code(subject: str) -> bool:
    """Whether a message with this subject holds a code: a sign-in, a contact, a recovery."""
    return "code" in subject or subject.startswith("Réinitialisation de votre mot de passe")


class NoCodeReceived(Exception):
    """No sign-in code arrived in time."""


def extract_code(text: str) -> str | None:
    match = _CODE.search(text)
    return match.group(1) if match else None


@dataclass(frozen=True)
class CodeMessage:
    code: str
    marker: str  # tells one message from another


class Mailbox:
    poll_interval = 0.1  # seconds between two looks at the mailbox
    # As long as a person would look before asking again; a busy test server may send late.
    code_wait = 60.0

    def latest(self, address: str) -> CodeMessage | None:
        raise NotImplementedError

    def wait_for_code(
        self, address: str, *, after: CodeMessage | None = None, wait: float | None = None
    ) -> str:
        """Return the code of the newest message, once it is not ``after``."""
        deadline = time.monotonic() + (self.code_wait if wait is None else wait)
        while True:
            message = self.latest(address)
            if message is not None and message != after:
                return message.code
            if time.monotonic() > deadline:
                raise NoCodeReceived(f"no new code arrived for {address}")
            time.sleep(self.poll_interval)


class DevOutbox(Mailbox):
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def latest(self, address: str) -> CodeMessage | None:
        reply = self.transport.request("GET", f"/api/v1/dev/outbox?to={quote(address)}")
        if reply.status == 404:
            raise NoCodeReceived("the service has no development outbox (production?)")
        if reply.status != 200:
            raise NoCodeReceived(f"the outbox answered {reply.status}")
        for item in reply.body["items"]:  # newest first
            code = extract_code(item["text"]) if carries_code(item["subject"]) else None
            if code:
                return CodeMessage(code, f"{item['created_at']}|{item['text']}")
        return None


class SmtpSink(Mailbox):
    """A small SMTP server that keeps every message it receives."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1025) -> None:
        from aiosmtpd.controller import Controller

        self.host, self.port = host, port
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        # aiosmtpd gives up after 5 s by default if its thread is slow to start listening.
        self._controller = Controller(self, hostname=host, port=port, ready_timeout=60.0)

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def latest(self, address: str) -> CodeMessage | None:
        with self._lock:
            messages = [m for m in self.messages if m["To"] == address]
        for message in reversed(messages):
            if carries_code(message["Subject"] or ""):
                code = extract_code(message.get_body(preferencelist=("plain",)).get_content())
                if code:
                    return CodeMessage(code, message["Message-ID"] or str(id(message)))
        return None
