"""auth0-wsgi: Auth0 login and API access tokens for any WSGI app, as one PasteDeploy filter."""

from __future__ import annotations

from .api import api_session
from .config import Config
from .environ import get_access_token, get_id_token, get_user, refresh_access_token
from .errors import AudienceRefused, Auth0WSGIError, ConfigError, LoginRefused, StepUpRequired
from .middleware import Auth0Middleware
from .resource_server import (
    ResourceServerMiddleware,
    get_claims,
    has_scopes,
    requires_scopes,
    requires_step_up,
)
from .sessions import end_sessions
from .settings import Auth0Settings, ResourceServerSettings

__version__ = "0.1.0"
__all__ = [
    "AudienceRefused",
    "Auth0Middleware",
    "Auth0Settings",
    "Auth0WSGIError",
    "Config",
    "ConfigError",
    "LoginRefused",
    "ResourceServerMiddleware",
    "ResourceServerSettings",
    "StepUpRequired",
    "api_session",
    "end_sessions",
    "get_access_token",
    "get_claims",
    "get_id_token",
    "get_user",
    "has_scopes",
    "refresh_access_token",
    "requires_scopes",
    "requires_step_up",
]
