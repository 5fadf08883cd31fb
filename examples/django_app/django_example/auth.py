"""``request.user`` from the auth0 filter: Django's ``RemoteUserBackend``, keeping the email fresh."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import RemoteUserBackend
from django.http import HttpRequest

import auth0_wsgi


class Auth0RemoteUserBackend(RemoteUserBackend):
    """The username is the ID token's ``sub`` (the filter's ``REMOTE_USER``); Django creates the
    user at the first login (``create_unknown_user``), and each login copies the claims below."""

    def configure_user(self, request: HttpRequest, user: Any, created: bool = True) -> Any:
        claims = auth0_wsgi.get_user(request) or {}  # the Django request is accepted as it is
        fields = {"email": claims.get("email", ""), "first_name": claims.get("given_name", ""),
                  "last_name": claims.get("family_name", "")}
        changed = [name for name, value in fields.items() if getattr(user, name) != value]
        for name in changed:
            setattr(user, name, fields[name])
        if changed:
            user.save(update_fields=changed)
        return user
