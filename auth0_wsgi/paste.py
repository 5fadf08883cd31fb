"""The PasteDeploy entry point: ``[filter:auth0] use = egg:auth0-wsgi``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .middleware import Auth0Middleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, Any], **local_conf: str
) -> Auth0Middleware:
    """Options come from the filter section only (global_conf is the whole ini's defaults)."""
    return Auth0Middleware(app, **local_conf)
