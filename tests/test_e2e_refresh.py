"""Refresh end to end against the real provider, with short-lived tokens and rotation."""

from __future__ import annotations

import secrets
import threading
import time

import pytest
import requests

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.gunicorn import gunicorn
from tests.support.http import HTML, JSON
from tests.support.real_idp import Client, LocalIdP, login_via_form, require_local_idp
from tests.support.redis_sets import REDIS_FIXTURES
from tests.support.servers import free_port, serve
from tests.support.session_values import refresh_token_of_cookie

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
TTL = 4
LEEWAY = 2
SECRET = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"threaded": free_port(), "gunicorn": free_port()}


@pytest.fixture(scope="module")
def idp(ports):
    require_local_idp()
    clients = [Client(f"refresh-{name}", f"s3cret+{name}", [f"http://127.0.0.1:{port}/callback"])
               for name, port in ports.items()]
    with LocalIdP(clients, access_token_ttl=TTL) as provider:
        yield provider


def _settings(idp, name: str, port: int) -> dict[str, str]:
    return {"issuer": idp.issuer, "client_id": f"refresh-{name}", "client_secret": f"s3cret+{name}",
            "base_url": f"http://127.0.0.1:{port}", "secret": SECRET, "audience": idp.audience,
            "refresh_leeway": str(LEEWAY)}


def _login(url: str) -> requests.Session:
    http = requests.Session()
    page = http.get(url + "/", headers=HTML, timeout=10)
    assert login_via_form(http, page).status_code == 200
    return http


def _refresh_token_in(http: requests.Session, name: str = "threaded") -> str:
    """Read our own cookie back with the secret: the test plays the operator here."""
    return refresh_token_of_cookie(http.cookies.get("auth0_session"), SECRET, f"refresh-{name}")


def _wait_until_due() -> None:
    time.sleep(TTL - LEEWAY + 0.5)  # real time: the real provider and gunicorn workers run on it


def test_expiring_token_is_refreshed_once_with_rotation(idp, ports):
    port = ports["threaded"]
    middleware = Auth0Middleware(echo_app, **_settings(idp, "threaded", port))
    with serve(middleware, port) as url:
        http = _login(url)
        first = http.get(url + "/x", headers=JSON, timeout=10).json()["auth0.access_token"]
        first_refresh_token = _refresh_token_in(http)
        idp.reset_stats()
        _wait_until_due()
        second = http.get(url + "/x", headers=JSON, timeout=10).json()["auth0.access_token"]
        assert second != first
        assert idp.stats()["refresh_token"] == 1
        rotated = _refresh_token_in(http)
        assert rotated != first_refresh_token
        _wait_until_due()
        third = http.get(url + "/x", headers=JSON, timeout=10).json()["auth0.access_token"]
        assert third not in (first, second)
        assert idp.stats()["refresh_token"] == 2
        assert idp.stats().get("refresh_token_errors", 0) == 0  # the rotated token was the one used
        # the rotated-out refresh token is refused by the provider (and, as with Auth0, the reuse
        # revokes the whole family: the session ends at its next refresh)
        reuse = requests.post(idp.issuer + "oauth/token", timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": first_refresh_token,
            "client_id": "refresh-threaded", "client_secret": "s3cret+threaded"})
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
        _wait_until_due()
        assert http.get(url + "/x", headers=JSON, timeout=10).status_code == 401
        assert http.get(url + "/x", headers=HTML, timeout=10, allow_redirects=False).status_code == 302


@pytest.mark.parametrize("store", ["cookie", *REDIS_FIXTURES])
def test_concurrent_requests_across_four_gunicorn_workers_make_one_refresh_grant(idp, ports, tmp_path,
                                                                                 store, request):
    port = ports["gunicorn"]
    env = {f"AUTH0_{k.upper()}": v for k, v in _settings(idp, "gunicorn", port).items()}
    env["AUTH0_REFRESH_LOCK_DIR"] = str(tmp_path / "refresh-locks")
    if store in REDIS_FIXTURES:  # one node, a Cluster, a Sentinel set
        env["AUTH0_SESSION_STORE"] = request.getfixturevalue(REDIS_FIXTURES[store])
    with gunicorn("tests/testing.ini", port, env, workers=4) as url:
        http = _login(url)
        seen_by = set()  # a login on one worker is seen by the others
        for _ in range(200):
            answer = http.get(url + "/who", headers=JSON, timeout=10).json()
            assert answer["REMOTE_USER"] == "alice"
            seen_by.add(answer["pid"])
            if len(seen_by) >= 3:
                break
        assert len(seen_by) >= 3
        cookie = "auth0_session=" + http.cookies.get("auth0_session")
        _wait_until_due()
        idp.reset_stats()
        results: list[tuple[int, str, int]] = []
        barrier = threading.Barrier(24)

        def one_request() -> None:
            barrier.wait()
            r = requests.get(url + "/x", headers={**JSON, "Cookie": cookie}, timeout=20)
            body = r.json()
            results.append((r.status_code, body.get("auth0.access_token", ""), body.get("pid", 0)))

        threads = [threading.Thread(target=one_request) for _ in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert [status for status, _, _ in results] == [200] * 24
    assert len({token for _, token, _ in results}) == 1
    assert len({pid for _, _, pid in results}) > 1  # several workers really took part
    assert idp.stats()["refresh_token"] == 1
    assert idp.stats().get("refresh_token_errors", 0) == 0
