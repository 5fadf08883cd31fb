"""End to end against the real, certified provider (node-oidc-provider configured like Auth0)."""

from __future__ import annotations

import secrets

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.gunicorn import gunicorn
from tests.support.http import HTML, JSON
from tests.support.real_idp import Client, LocalIdP, confirm_logout, login_via_form, require_local_idp
from tests.support.servers import free_port, serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"threaded": free_port(), "gunicorn": free_port()}


@pytest.fixture(scope="module")
def idp(ports):
    require_local_idp()
    clients = [
        Client(f"app-{name}", f"secret:{name}%+{secrets.token_hex(8)}",
               [f"http://127.0.0.1:{port}/callback"],
               [f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/bye"],
               token_endpoint_auth_method="client_secret_basic" if name == "gunicorn"
               else "client_secret_post")
        for name, port in ports.items()
    ]
    with LocalIdP(clients) as provider:
        provider.clients_by_name = dict(zip(ports, clients, strict=True))
        yield provider


def _settings(idp, name: str, port: int) -> dict[str, str]:
    client = idp.clients_by_name[name]
    return {"issuer": idp.issuer, "client_id": client.client_id, "client_secret": client.client_secret,
            "base_url": f"http://127.0.0.1:{port}", "secret": SECRET, "audience": idp.audience,
            "token_endpoint_auth_method": client.token_endpoint_auth_method}


@pytest.fixture(scope="module")
def threaded_app(idp, ports):
    middleware = Auth0Middleware(echo_app, **_settings(idp, "threaded", ports["threaded"]),
                                 public_paths="/health")
    with serve(middleware, ports["threaded"]) as url:
        yield url


def login(http: requests.Session, url: str, path: str = "/profile?tab=1") -> requests.Response:
    login_page = http.get(url + path, headers=HTML, timeout=10)
    assert "login" in login_page.text.lower()
    return login_via_form(http, login_page, "alice")


def _verify_access_token(idp, token: str) -> dict:
    keys = KeySet.import_key_set(requests.get(idp.issuer + ".well-known/jwks.json", timeout=5).json())
    return jwt.decode(token, keys, algorithms=["RS256"]).claims


def test_login_puts_claims_and_an_api_token_in_the_environ(idp, threaded_app):
    http = requests.Session()
    landed = login(http, threaded_app)
    assert landed.url == threaded_app + "/profile?tab=1"
    seen = landed.json()
    assert seen["REMOTE_USER"] == "alice"
    assert seen["auth0.user"]["email"] == "alice@example.com"
    assert seen["auth0.user"]["iss"] == idp.issuer
    assert seen["auth0.user"]["sid"]
    claims = _verify_access_token(idp, seen["auth0.access_token"])
    assert idp.audience in claims["aud"]
    assert claims["iss"] == idp.issuer
    assert idp.stats()["authorization_code"] >= 1


def test_logout_ends_the_local_and_the_provider_session(idp, threaded_app):
    http = requests.Session()
    login(http, threaded_app)
    page = http.get(threaded_app + "/logout?return_to=/bye", headers=HTML, timeout=10)
    done = confirm_logout(http, page, stop_at_redirect_to=threaded_app)
    assert done.headers["Location"].startswith(threaded_app + "/bye")
    assert http.get(threaded_app + "/profile", headers=JSON, timeout=10).status_code == 401
    # the provider's session is gone too: the next login asks for credentials again
    assert "login" in http.get(threaded_app + "/profile", headers=HTML, timeout=10).text.lower()


def test_ini_under_gunicorn_with_two_workers_shares_cookie_sessions(idp, ports):
    port = ports["gunicorn"]
    env = {f"AUTH0_{k.upper()}": v for k, v in _settings(idp, "gunicorn", port).items()}
    with gunicorn("tests/testing.ini", port, env, workers=2) as url:
        http = requests.Session()
        assert login(http, url).json()["REMOTE_USER"] == "alice"
        pids = set()
        for _ in range(300):  # the kernel picks the worker; keep asking until both answered
            seen = http.get(url + "/data", headers=JSON, timeout=10).json()
            assert seen["REMOTE_USER"] == "alice"
            pids.add(seen["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2  # both workers read the same cookie session


def test_private_key_jwt_against_the_real_provider(idp):
    """The client registers only a public key; the token endpoint sees a signed assertion, no secret."""
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "e2e-key"})
    port = free_port()
    client = Client("app-pkjwt", "unused-secret-never-sent", [f"http://127.0.0.1:{port}/callback"],
                    token_endpoint_auth_method="private_key_jwt",
                    jwks={"keys": [key.as_dict(private=False)]})
    with LocalIdP([client]) as provider:
        settings = {"issuer": provider.issuer, "client_id": client.client_id,
                    "token_endpoint_auth_method": "private_key_jwt", "client_private_key_id": "e2e-key",
                    "base_url": f"http://127.0.0.1:{port}", "secret": SECRET, "audience": provider.audience}
        pem = key.as_pem(private=True).decode()
        with serve(Auth0Middleware(echo_app, client_private_key=pem, **settings), port) as url:
            seen = login(requests.Session(), url).json()
        assert seen["REMOTE_USER"] == "alice"
        assert provider.stats()["authorization_code"] == 1
        # an assertion signed by a key the provider does not know is refused there
        impostor_pem = RSAKey.generate_key(2048).as_pem(private=True).decode()
        with serve(Auth0Middleware(echo_app, client_private_key=impostor_pem, **settings), port) as url:
            http = requests.Session()
            refused = login_via_form(http, http.get(url + "/profile", headers=HTML, timeout=10), "alice")
        assert refused.status_code == 502
        assert provider.stats()["authorization_code_errors"] == 1
