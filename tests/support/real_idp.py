"""Starting the real provider (node-oidc-provider, examples/local_idp) for end-to-end tests."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.servers import free_port, require_component

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "local_idp"))

import local_idp
from local_idp import (
    MFA_POLICY,
    Api,
    Client,
    LocalIdP,
    Organization,
    confirm_logout,
    follow_redirects,
    login_via_form,
    submit_one_time_code,
)


def require_local_idp() -> None:
    try:
        local_idp.ensure_installed()
    except RuntimeError as error:
        require_component(False, f"the local provider ({error})")


@contextmanager
def provider_for_an_app(client_id: str) -> Iterator[tuple[LocalIdP, Client, int]]:
    """The local provider with one client, for an app about to listen on the free loopback port
    returned (its callback and its home page registered)."""
    require_local_idp()
    port = free_port()
    client = Client(client_id, secrets.token_urlsafe(16), [f"http://127.0.0.1:{port}/callback"],
                    [f"http://127.0.0.1:{port}/"])
    with LocalIdP([client]) as idp:
        yield idp, client, port


__all__ = [
    "MFA_POLICY",
    "Api",
    "Client",
    "LocalIdP",
    "Organization",
    "confirm_logout",
    "follow_redirects",
    "login_via_form",
    "provider_for_an_app",
    "require_local_idp",
    "submit_one_time_code",
]
