"""The live-server harness waits out a slow start instead of failing the test."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from tests import live_server

OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
    b'Connection: close\r\n\r\n{"status": "ok"}'
)
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class SlowServer:
    """Accept at once, as gunicorn's master does, but answer each connection in its own time.

    ``script`` gives, per connection in order, a delay before answering and the answer;
    a delay of None never answers (the connection stays open until the server stops).
    Connections past the script are answered 200 at once.
    """

    def __init__(self, script: list[tuple[float | None, bytes]]) -> None:
        self.script = list(script)
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            delay, answer = self.script.pop(0) if self.script else (0.0, OK)
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn, delay, answer), daemon=True).start()

    def _answer(self, conn: socket.socket, delay: float | None, answer: bytes) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            if delay is None:
                self.stopped.wait()
                return
            time.sleep(delay)
            conn.sendall(answer)

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


class Running:
    """Stands for the gunicorn master: still running."""

    def poll(self) -> int | None:
        return None


class Exited:
    def poll(self) -> int | None:
        return 3


@pytest.fixture
def log(tmp_path) -> Path:
    path = tmp_path / "gunicorn.log"
    path.write_text("[INFO] Booting worker\n")
    return path


def test_a_slow_first_answer_is_waited_for(log):
    # Listening, but the workers are still importing the app: the first answer takes 2.5 s.
    server = SlowServer([(2.5, OK)])
    try:
        live_server.wait_until_up(server.url, Running(), log)
    finally:
        server.stop()


def test_every_transient_failure_is_retried(log):
    server = SlowServer(
        [
            (None, b""),  # never answers: this attempt times out
            (0.0, b""),  # closes without a word
            (0.0, b"garbage\r\n\r\n"),  # not HTTP
            (0.0, UNAVAILABLE),  # answers, but not yet ready
        ]
    )
    try:
        live_server.wait_until_up(server.url, Running(), log, attempt_seconds=0.5)
        assert server.connections == 5
    finally:
        server.stop()


def test_a_node_that_exits_fails_at_once_with_its_log(log):
    server = SlowServer([(None, b"")])
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="Booting worker"):
            live_server.wait_until_up(server.url, Exited(), log)
    finally:
        server.stop()
    assert time.monotonic() - started < 30  # far from the 90-s default, even when busy


def test_a_node_that_never_answers_fails_at_the_deadline(log):
    server = SlowServer([(None, b"")] * 100)
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="within 2 s"):
            live_server.wait_until_up(server.url, Running(), log, deadline=2, attempt_seconds=0.5)
    finally:
        server.stop()
    assert time.monotonic() - started < 30  # far from the 90-s default, even when busy
