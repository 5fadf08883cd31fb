"""The WSGI apps gunicorn serves: ``benchmarks.apps:bare``, ``benchmarks.apps:wrapped`` and the
reference ``benchmarks.apps:one_get`` (the bare app plus one Redis ``GET``).

``bare`` imports nothing, so that its workers' memory is a baseline. ``wrapped`` is the same app
behind the middleware, configured from the ``AUTH0_*`` environment (as a deployment would be) and
built only when gunicorn asks for it.
"""

from __future__ import annotations

import os
from typing import Any

BODY = b"Hello, world!\n"
_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def bare(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", list(_HEADERS))
    return [BODY]


def __getattr__(name: str) -> Any:
    if name == "wrapped":
        from auth0_wsgi import Auth0Middleware

        app = Auth0Middleware(bare)  # every option from AUTH0_* in the environment
        globals()["wrapped"] = app
        return app
    if name == "one_get":
        app = _one_get()
        globals()["one_get"] = app
        return app
    raise AttributeError(name)


def _one_get() -> Any:
    """The limit of a Redis store that reads Redis per request: the bare app plus one redis-py ``GET``
    of a small key at ``/`` (``run.py --stores redis --wrapped-app benchmarks.apps:one_get``). Other
    paths go to the middleware, only so that run.py's login before the load works unchanged."""
    import redis

    from auth0_wsgi import Auth0Middleware

    middleware = Auth0Middleware(bare)
    client = redis.Redis.from_url(os.environ["AUTH0_SESSION_STORE"])
    client.set("auth0-wsgi-benchmark", b"x" * 64)

    def one_get(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/":
            return middleware(environ, start_response)
        client.get("auth0-wsgi-benchmark")
        return bare(environ, start_response)
    return one_get
