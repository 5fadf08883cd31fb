"""Logout against the real provider (node-oidc-provider, revocation enabled as Auth0's /oauth/revoke):
the session's refresh token is revoked, so a copy of it is worthless afterwards."""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest
import requests

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.http import HTML, JSON
from tests.support.real_idp import Client, LocalIdP, login_via_form, require_local_idp
from tests.support.servers import free_port, serve
from tests.support.session_values import refresh_token_of_cookie

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SECRET = secrets.token_urlsafe(32)
CLIENT_SECRET = f"s3cr:et%+{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def idp(port):
    require_local_idp()
    client = Client("app-logout", CLIENT_SECRET, [f"http://127.0.0.1:{port}/callback"],
                    [f"http://127.0.0.1:{port}/"], token_endpoint_auth_method="client_secret_basic")
    with LocalIdP([client]) as provider:
        yield provider


@pytest.fixture(scope="module")
def app_url(idp, port):
    middleware = Auth0Middleware(
        echo_app, issuer=idp.issuer, client_id="app-logout", client_secret=CLIENT_SECRET,
        token_endpoint_auth_method="client_secret_basic", base_url=f"http://127.0.0.1:{port}",
        secret=SECRET, audience=idp.audience)
    with serve(middleware, port) as url:
        yield url


def _refresh_token_in(http: requests.Session) -> str:
    """Read our own cookie back with the secret: the test plays someone who copied the cookie."""
    return refresh_token_of_cookie(http.cookies.get("auth0_session"), SECRET, "app-logout")


def _refresh(idp, refresh_token: str) -> requests.Response:
    return requests.post(idp.issuer + "oauth/token", auth=("app-logout", quote(CLIENT_SECRET, safe="")),
                         timeout=10, data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def test_logout_revokes_the_refresh_token_at_the_real_provider(idp, app_url):
    http = requests.Session()
    landed = login_via_form(http, http.get(app_url + "/profile", headers=HTML, timeout=10))
    assert landed.json()["REMOTE_USER"] == "alice"
    refresh_token = _refresh_token_in(http)
    # The app's /logout only: the provider's end-session page is not even visited.
    logout = http.get(app_url + "/logout", headers=HTML, timeout=10, allow_redirects=False)
    assert logout.status_code == 302
    assert http.get(app_url + "/profile", headers=JSON, timeout=10).status_code == 401
    refused = _refresh(idp, refresh_token)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant", refused.text


def test_a_refresh_token_that_was_not_logged_out_still_works(idp, app_url):
    """The control: the same steps without the logout leave the refresh token usable."""
    http = requests.Session()
    login_via_form(http, http.get(app_url + "/profile", headers=HTML, timeout=10))
    assert _refresh(idp, _refresh_token_in(http)).status_code == 200
