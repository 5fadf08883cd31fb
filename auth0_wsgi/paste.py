"""The PasteDeploy entry points: ``egg:auth0-wsgi`` (login) and ``egg:auth0-wsgi#api`` (resource server)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .config import Config
from .errors import ConfigError
from .middleware import Auth0Middleware
from .resource_server import ResourceServerConfig, ResourceServerMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

APP_LOAD_ERROR = 4  # gunicorn's Arbiter.APP_LOAD_ERROR: the master stops, "App failed to load"


def filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, Any], **local_conf: str
) -> Auth0Middleware:
    """``[filter:auth0] use = egg:auth0-wsgi``: requires an Auth0 login.

    Options come from the filter section only (global_conf is the whole ini's defaults); a key that
    is no option refuses to start. The Config is built first, so that no key reaches a parameter of
    the middleware: ``config`` and ``clock`` are refused like any unknown option.
    """
    with _one_clear_line():
        return Auth0Middleware(app, Config.from_settings(local_conf))


def api_filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, Any], **local_conf: str
) -> ResourceServerMiddleware:
    """``[filter:auth] use = egg:auth0-wsgi#api``: requires a valid Bearer access token.

    Like :func:`filter_app_factory`, the config first: ``config`` and ``clock`` are unknown options.
    """
    with _one_clear_line():
        return ResourceServerMiddleware(app, ResourceServerConfig.from_settings(local_conf))


@contextmanager
def _one_clear_line() -> Iterator[None]:
    """Under gunicorn, a ConfigError ends the start with its one line (option, problem, fix) on
    stderr, not a traceback that buries it: printed, then the exit status gunicorn gives an app that
    failed to load, so that its master stops rather than boot worker after worker that fail alike
    (with ``--preload`` the master itself exits, and the line is the last one). Any other server
    gets the ConfigError itself."""
    try:
        yield
    except ConfigError as error:
        if "gunicorn.arbiter" not in sys.modules:
            raise
        print(error.message, file=sys.stderr, flush=True)
        raise SystemExit(APP_LOAD_ERROR) from None
