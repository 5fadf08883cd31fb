"""The WSGI apps gunicorn serves: ``benchmarks.apps:bare`` and ``benchmarks.apps:wrapped``.

``bare`` imports nothing, so that its workers' memory is a baseline. ``wrapped`` is the same app
behind the middleware, configured from the ``AUTH0_*`` environment (as a deployment would be) and
built only when gunicorn asks for it.
"""

from __future__ import annotations

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
    raise AttributeError(name)
