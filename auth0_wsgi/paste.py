"""The PasteDeploy entry points: ``egg:auth0-wsgi`` (login) and ``egg:auth0-wsgi#api`` (resource server)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .middleware import Auth0Middleware
from .resource_server import ResourceServerMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, Any], **local_conf: str
) -> Auth0Middleware:
    """``[filter:auth0] use = egg:auth0-wsgi``: requires an Auth0 login.

    Options come from the filter section only (global_conf is the whole ini's defaults); a key that
    is no option (``config`` included) refuses to start.
    """
    return Auth0Middleware(app, **local_conf)


def api_filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, Any], **local_conf: str
) -> ResourceServerMiddleware:
    """``[filter:auth] use = egg:auth0-wsgi#api``: requires a valid Bearer access token."""
    return ResourceServerMiddleware(app, **local_conf)
