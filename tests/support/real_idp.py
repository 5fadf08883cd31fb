"""Starting the real provider (node-oidc-provider, examples/local_idp) for end-to-end tests."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.servers import require_component

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


__all__ = [
    "MFA_POLICY",
    "Api",
    "Client",
    "LocalIdP",
    "Organization",
    "confirm_logout",
    "follow_redirects",
    "login_via_form",
    "require_local_idp",
    "submit_one_time_code",
]
