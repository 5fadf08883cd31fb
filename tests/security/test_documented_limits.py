"""The limits SECURITY.md documents, shown to hold exactly as documented (and where they stop).

The cookie store's logout limit itself is tests/test_session_flow.py::
test_copied_cookie_after_logout_works_only_where_the_revocation_list_does_not_reach; its server-side
counterpart is
tests/test_server_store.py::test_logout_deletes_the_record_so_a_replayed_cookie_is_refused.
"""

from __future__ import annotations

import random
import string
import urllib.request

import pytest
import webtest

from tests.support.flows import BASE_URL, log_in, middleware, start_login
from tests.support.http import JSON, cookie_header
from tests.support.wsgi import wsgi_call


def _client(mw) -> webtest.TestApp:
    return webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})


@pytest.mark.parametrize("hosts, ends", [
    pytest.param("one-host", False, id="one-host"),
    pytest.param("two-hosts", True, id="two-hosts"),
])
def test_cookie_store_refresh_is_single_flight_per_host_only(fake, tmp_path, hosts, ends):
    """Two workers read the same cookie; the first refreshes (the provider rotates the refresh token).
    On the same host the second gets the result from the shared cache; on another host it spends the
    rotated-out token, which the provider refuses: the session ends there (README, Refresh)."""
    fake.access_token_ttl = 30  # inside the leeway: every request refreshes
    first_dir = tmp_path / "host-a"
    second_dir = first_dir if hosts == "one-host" else tmp_path / "host-b"
    first = middleware(fake, refresh_lock_dir=str(first_dir))
    second = middleware(fake, refresh_lock_dir=str(second_dir))
    client = _client(first)
    log_in(client)
    old_cookie = cookie_header(dict(client.cookies))
    assert client.get("/x", headers=JSON).status_int == 200  # the first worker refreshes
    assert fake.counts["grant:refresh_token"] == 1
    result = wsgi_call(second, "/x", headers={**JSON, "Cookie": old_cookie})
    assert result.status == (401 if ends else 200), result.escaped or result.text
    assert fake.counts["grant:refresh_token"] == (2 if ends else 1)


def test_memory_store_sessions_live_in_one_process_only(fake):
    """Two middlewares stand for two gunicorn workers: a memory-store session exists in one of them."""
    worker_a, worker_b = middleware(fake, session_store="memory"), middleware(fake, session_store="memory")
    client = _client(worker_a)
    log_in(client)
    cookies = cookie_header(dict(client.cookies))
    assert wsgi_call(worker_a, "/x", headers={**JSON, "Cookie": cookies}).status == 200
    assert wsgi_call(worker_b, "/x", headers={**JSON, "Cookie": cookies}).status == 401


def test_redis_store_sessions_are_shared_and_logout_revokes_everywhere(fake, redis_url):
    """The documented way out of both limits above."""
    worker_a, worker_b = middleware(fake, session_store=redis_url), middleware(fake, session_store=redis_url)
    client = _client(worker_a)
    log_in(client)
    cookies = cookie_header(dict(client.cookies))
    assert wsgi_call(worker_b, "/x", headers={**JSON, "Cookie": cookies}).status == 200
    assert wsgi_call(worker_a, "/logout", headers={"Cookie": cookies}).status == 302
    assert wsgi_call(worker_b, "/x", headers={**JSON, "Cookie": cookies}).status == 401


def _cookie_header_sent_to(client: webtest.TestApp, path: str) -> str:
    """The Cookie header the client's jar (path rules included) would send to ``path``."""
    request = urllib.request.Request(BASE_URL + path)
    client.cookiejar.add_cookie_header(request)
    return request.get_header("Cookie") or ""


def test_forced_logins_keep_three_login_cookies_and_the_newest_logins_complete(fake):
    """SECURITY.md, limit 8: ten logins in a row (a redirect loop, a user hammering a link) with a
    hostile 2 KB return_to leave the callback's Cookie header far below gunicorn's 8,190 bytes."""
    client = _client(middleware(fake))
    noise = random.Random(0).choices(string.ascii_letters + string.digits, k=2043)  # noqa: S311 - test data
    return_to = "/r?q=" + "".join(noise)
    callbacks = [start_login(client, return_to)[0] for _ in range(10)]
    header = _cookie_header_sent_to(client, "/callback")
    login_cookies = [c for c in header.split("; ") if c.startswith("a0tx.")]
    assert len(login_cookies) == 3, f"{len(login_cookies)} login cookies sent to the callback"
    assert len(header) < 4096, f"{len(header)} bytes"
    assert client.get(callbacks[0], headers=JSON, status=400).json["error"] == "invalid_state"  # evicted
    for callback in callbacks[-3:]:  # three tabs still pending: each completes
        assert client.get(callback).headers["Location"] == BASE_URL + "/r"
