"""Where the simulated person reads a texted code.

- :class:`DevSmsOutbox`: the service's development SMS outbox (``GET /api/v1/dev/sms``).
- :class:`SmsSink`: a small SMS provider run by the simulator itself, for a service that
  sends real text messages (``SMS_BACKEND=http``, ``SMS_API_URL`` pointed at it). It speaks
  the provider API of the contract (Brevo's transactional SMS shape):
  ``POST /v3/transactionalSMS/send`` with an ``api-key`` header and a JSON body
  ``{"sender", "recipient", "content", "type", "tag"}``, answered ``201 {"messageId"}``.

Both answer :meth:`latest` like the mailboxes, with the phone number as the address.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

from .mailbox import CodeMessage, Mailbox, NoCodeReceived
from .transport import Transport

SEND_PATH = "/v3/transactionalSMS/send"
_CODE = re.compile(r"\b(\d{6})\b")


def e164(number: str) -> str:
    """Return ``number`` in E.164; a 10-digit national number is taken as metropolitan."""
    digits = re.sub(r"[\s.\-()]", "", number)
    if digits.startswith("00"):
        return "+" + digits[2:]
    if re.fullmatch(r"0\d{9}", digits):
        return "+33" + digits[1:]
    return digits if digits.startswith("+") else "+" + digits


def extract_code(text: str) -> str | None:
    match = _CODE.search(text)
    return match.group(1) if match else None


class DevSmsOutbox(Mailbox):
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def latest(self, address: str) -> CodeMessage | None:
        reply = self.transport.request("GET", f"/api/v1/dev/sms?to={quote(e164(address))}")
        if reply.status == 404:
            raise NoCodeReceived("the service has no development SMS outbox (SMS_BACKEND=http?)")
        if reply.status != 200:
            raise NoCodeReceived(f"the SMS outbox answered {reply.status}")
        for item in reply.body["items"]:  # newest first
            code = extract_code(item["text"])
            if code:
                return CodeMessage(code, f"{item['created_at']}|{item['text']}")
        return None


@dataclass(frozen=True)
class Sms:
    message_id: int
    sender: str
    recipient: str  # digits, no "+", as the provider receives it
    content: str
    tag: str | None


class SmsSink(Mailbox):
    """A fake SMS provider on ``host:port`` that keeps every message it accepts.

    With ``api_key`` set, a request without that ``api-key`` header is refused (401),
    as the real provider would.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8025, api_key: str | None = None):
        self.host, self.port, self.api_key = host, port, api_key
        self.messages: list[Sms] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> SmsSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SmsSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def accept(self, payload: object, api_key: str | None) -> tuple[int, dict]:
        """Check one send request as the provider does; keep it if it is sound."""
        if self.api_key is not None and api_key != self.api_key:
            return 401, {"code": "unauthorized", "message": "Key not found"}
        if not isinstance(payload, dict):
            return 400, {"code": "invalid_parameter", "message": "JSON object expected"}
        missing = [f for f in ("sender", "recipient", "content") if not payload.get(f)]
        if missing:
            return 400, {"code": "missing_parameter", "message": f"missing {', '.join(missing)}"}
        if not re.fullmatch(r"\d{6,15}", str(payload["recipient"])):
            return 400, {"code": "invalid_parameter", "message": "recipient: digits only"}
        with self._lock:
            message = Sms(
                next(self._ids),
                str(payload["sender"]),
                str(payload["recipient"]),
                str(payload["content"]),
                payload.get("tag"),
            )
            self.messages.append(message)
        return 201, {"messageId": message.message_id}

    def to(self, number: str) -> list[Sms]:
        digits = e164(number).lstrip("+")
        with self._lock:
            return [m for m in self.messages if m.recipient == digits]

    def latest(self, address: str) -> CodeMessage | None:
        for message in reversed(self.to(address)):
            code = extract_code(message.content)
            if code:
                return CodeMessage(code, str(message.message_id))
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != SEND_PATH:
                    return self._answer(404, {"code": "not_found"})
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    payload = json.loads(self.rfile.read(length) or b"null")
                except ValueError:
                    return self._answer(400, {"code": "invalid_parameter"})
                self._answer(*sink.accept(payload, self.headers.get("api-key")))

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the simulator prints its own outcomes

        return Handler
