"""Helpers for the security battery.

The fixtures of ``tests/conftest.py`` (``fake``, ``app``, ``make_app``, ``build_app``, ``redis_url``…)
apply here too. What this adds: a raw WSGI call that behaves like a real server (Latin-1 environ
strings, any escaping exception or non-Latin-1 header becomes the 500 a server would send), a login
for any ``base_url`` (https included), a TCP server that drops connections, a recorder of every
token the fake provider issues, and a peak-memory probe.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import webtest

from auth0_wsgi import Auth0Middleware
from tests.conftest import BASE_URL, SECRET, settings_for
from tests.support.apps import echo_app

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}


# -- a raw WSGI call, as a server would make it ------------------------------------------------------

@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    escaped: str | None = None  # the exception that escaped the middleware (a server answers 500)
    app_called: bool = False

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def opens_session(self) -> bool:
        """A Set-Cookie that writes (not deletes) the session cookie or one of its chunks."""
        return any(v.startswith("auth0_session") and "Max-Age=0" not in v for v in self.all("Set-Cookie"))


def wsgi_call(app: Any, path: str = "/", query: str = "", *, method: str = "GET",
              headers: dict[str, str] | None = None, body: bytes = b"", scheme: str = "http",
              environ: dict[str, Any] | None = None) -> Result:
    """Call ``app`` with a minimal PEP 3333 environ; never raises (a server would answer 500)."""
    if isinstance(app, webtest.TestApp):
        app = app.app
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query,
        "SERVER_NAME": "app.test", "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "app.test", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": scheme, "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = value
    env.update(environ or {})
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, response_headers
        return lambda data: None

    try:
        chunks = app(env, start_response)
        try:
            body_out = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        for name, value in seen["headers"]:
            value.encode("latin-1")  # what a server does: a header that is not Latin-1 cannot be sent
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} holds a line break")
    except Exception as exc:
        return Result(500, [], b"", escaped=f"{type(exc).__name__}: {exc}")
    return Result(int(seen["status"].split()[0]), seen["headers"], body_out,
                  app_called=bool(env.get("tests.app_called")))


def marking_app(environ: dict, start_response: Any) -> list[bytes]:
    """The echo app, noting in the environ that it ran (so a test knows the app was reached)."""
    environ["tests.app_called"] = True
    return echo_app(environ, start_response)


# -- logins on any base URL ----------------------------------------------------------------------------

def middleware(fake: Any, app: Any = marking_app, **overrides: Any) -> Auth0Middleware:
    return Auth0Middleware(app, **settings_for(fake, **overrides))


def browser(fake: Any, app: Any = marking_app, **overrides: Any) -> webtest.TestApp:
    """A WebTest client (it keeps cookies like a browser) for a middleware with these settings."""
    base_url = overrides.get("base_url", BASE_URL)
    extra = {"HTTP_HOST": urlsplit(base_url).netloc}
    if base_url.startswith("https://"):
        extra.update({"wsgi.url_scheme": "https", "HTTPS": "on", "SERVER_PORT": "443"})
    return webtest.TestApp(middleware(fake, app, **overrides), extra_environ=extra)



def provider_answer(authorize_url: str) -> str:
    """What the fake provider sends the browser back to (the callback URL)."""
    return requests.get(authorize_url, allow_redirects=False, timeout=5).headers["Location"]


def begin(app: webtest.TestApp, return_to: str | None = None, base_url: str = BASE_URL
          ) -> tuple[str, dict[str, str]]:
    """/login, then the provider: (callback path+query, authorize parameters)."""
    params = {"return_to": return_to} if return_to is not None else {}
    response = app.get("/login", params)
    assert response.status_int == 302, response.text
    authorize_url = response.headers["Location"]
    callback = provider_answer(authorize_url)
    assert callback.startswith(base_url + "/"), callback
    return callback[len(urlsplit(base_url).scheme + "://" + urlsplit(base_url).netloc):], query(authorize_url)


def login(app: webtest.TestApp, return_to: str | None = None, base_url: str = BASE_URL
          ) -> webtest.TestResponse:
    callback, _ = begin(app, return_to, base_url)
    response = app.get(callback)
    assert response.status_int == 302, response.text
    return response


def query(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def cookie_header(cookies: dict[str, str] | list[tuple[str, str]]) -> str:
    items = cookies.items() if isinstance(cookies, dict) else cookies
    return "; ".join(f"{name}={value}" for name, value in items)


# -- what the fake provider issued -----------------------------------------------------------------------

@dataclass
class Issued:
    id_tokens: list[str] = field(default_factory=list)
    access_tokens: list[str] = field(default_factory=list)


@pytest.fixture
def issued(fake: Any, monkeypatch: pytest.MonkeyPatch) -> Issued:
    """Every ID and access token the fake provider signs during the test."""
    record = Issued()
    id_token, access_token = fake.id_token, fake.access_token

    def recording_id_token(nonce: str | None, now: int, sub: str | None = None) -> str:
        record.id_tokens.append(id_token(nonce, now, sub))
        return record.id_tokens[-1]

    def recording_access_token(now: int, sub: str | None = None) -> str:
        record.access_tokens.append(access_token(now, sub))
        return record.access_tokens[-1]

    monkeypatch.setattr(fake, "id_token", recording_id_token)
    monkeypatch.setattr(fake, "access_token", recording_access_token)
    return record


# -- a TCP endpoint that drops every connection ---------------------------------------------------------

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


@pytest.fixture
def dropping_server() -> Iterator[Callable[[str], DroppingServer]]:
    started: list[DroppingServer] = []

    def start(mode: str) -> DroppingServer:
        server = DroppingServer(mode).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


# -- memory ------------------------------------------------------------------------------------------------

def peak_memory(call: Callable[[], Any]) -> tuple[Any, int]:
    """``call()``'s result and the peak of Python allocations (bytes) while it ran."""
    tracemalloc.start()
    try:
        result = call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


__all__ = [
    "BASE_URL",
    "HTML",
    "JSON",
    "SECRET",
    "DroppingServer",
    "Issued",
    "Result",
    "begin",
    "browser",
    "cookie_header",
    "login",
    "marking_app",
    "middleware",
    "peak_memory",
    "provider_answer",
    "query",
    "wsgi_call",
]
