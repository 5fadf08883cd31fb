"""A raw WSGI call, as a real server makes it: Latin-1 environ strings, and whatever escapes the
middleware (an exception, a header that is not Latin-1 or holds a line break) becomes the 500 a
server would send. WebTest hides those; the security tests need to see them."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from typing import Any

import webtest


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
