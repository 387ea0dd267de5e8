"""Where the simulated person reads the emailed code.

- :class:`DevOutbox`: the service's development outbox (``GET /api/v1/dev/outbox``).
- :class:`SmtpSink`: an SMTP server run by the simulator itself (aiosmtpd), for a service
  that sends real mail (``MAIL_BACKEND=smtp`` pointed at it).

Both answer :meth:`codes` (every code mailed to an address, newest first); a sign-in
notes how many there were before « Envoyer le code » and waits for a newer one, so a
code from an earlier sign-in is never taken for the new one.
"""

from __future__ import annotations

import re
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import quote

from .transport import Transport

_CODE = re.compile(r"^\s*(\d{6})\s*$", re.MULTILINE)


class NoCodeReceived(Exception):
    """No sign-in code arrived in time."""


def extract_code(text: str) -> str | None:
    match = _CODE.search(text)
    return match.group(1) if match else None


class Mailbox:
    def codes(self, address: str) -> list[str]:
        raise NotImplementedError

    def wait_for_code(self, address: str, *, newer_than: int = 0, wait: float = 15.0) -> str:
        """Return the newest code once more than ``newer_than`` codes were mailed."""
        deadline = time.monotonic() + wait
        while True:
            codes = self.codes(address)
            if len(codes) > newer_than:
                return codes[0]
            if time.monotonic() > deadline:
                raise NoCodeReceived(f"no new code arrived for {address}")
            time.sleep(0.1)


class DevOutbox(Mailbox):
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def codes(self, address: str) -> list[str]:
        reply = self.transport.request("GET", f"/api/v1/dev/outbox?to={quote(address)}")
        if reply.status == 404:
            raise NoCodeReceived("the service has no development outbox (production?)")
        if reply.status != 200:
            raise NoCodeReceived(f"the outbox answered {reply.status}")
        found = [
            extract_code(item["text"]) for item in reply.body["items"] if "code" in item["subject"]
        ]
        return [code for code in found if code]


class SmtpSink(Mailbox):
    """A small SMTP server that keeps every message it receives."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1025) -> None:
        from aiosmtpd.controller import Controller

        self.host, self.port = host, port
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=host, port=port)

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

    def codes(self, address: str) -> list[str]:
        with self._lock:
            messages = [m for m in self.messages if m["To"] == address]
        found = []
        for message in reversed(messages):
            if "code" in (message["Subject"] or ""):
                code = extract_code(message.get_body(preferencelist=("plain",)).get_content())
                if code:
                    found.append(code)
        return found
