"""Serving WSGI apps on free loopback ports, in a thread, for as long as a test needs them; and a
loopback endpoint that drops every connection."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(app, port: int = 0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1; yields the base URL and shuts the server down afterwards."""
    server = make_server("127.0.0.1", port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def require_component(available: bool, what: str) -> None:
    """Skip locally when a real component is missing; under CI=true, fail instead."""
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing, and CI=true forbids skipping it", pytrace=False)
    pytest.skip(f"{what} is missing")


class DroppingServer:
    """Accepts connections on a free loopback port and drops them.

    ``mode``: ``reset`` (RST at once: SO_LINGER 0), ``close`` (FIN at once), ``read-then-close``
    (reads the request, then FIN without answering).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.accepted = 0
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> DroppingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            with conn:
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif self.mode == "read-then-close":
                    conn.settimeout(1)
                    with contextlib.suppress(OSError):
                        conn.recv(65536)
