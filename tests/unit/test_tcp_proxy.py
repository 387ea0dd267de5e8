"""The test TCP proxy forwards a slow exchange instead of dropping it."""

from __future__ import annotations

import socket
import threading
import time

from tests.tcp_proxy import TcpProxy


def test_a_slow_answer_through_the_proxy_arrives(tmp_path):
    # A database busy for 6 s on one query: the proxy must not give up on the connection.
    server = socket.create_server(("127.0.0.1", 0))

    def answer_slowly() -> None:
        conn, _ = server.accept()
        with conn:
            request = conn.recv(1024)
            time.sleep(6)
            conn.sendall(b"answer to " + request)

    threading.Thread(target=answer_slowly, daemon=True).start()
    proxy = TcpProxy("127.0.0.1", server.getsockname()[1])
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as client:
            client.sendall(b"a slow query")
            assert client.recv(1024) == b"answer to a slow query"
    finally:
        proxy.close()
        server.close()
