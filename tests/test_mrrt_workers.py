"""Several APIs of one session asked for at the same moment: every grant, whatever its API, runs in
the single flight of the refresh token it spends, so grants go one at a time and no refresh token is
ever presented twice (Auth0 would revoke the whole family). Threads against the fake provider with
the cookie store (flock) and Redis; gunicorn workers against the real provider."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import webtest
from webob import Request

from auth0_wsgi import Auth0Middleware
from tests.support.clocks import Clock
from tests.support.flows import addressed_as, log_in, settings_for
from tests.support.gunicorn import gunicorn
from tests.support.http import HTML, JSON
from tests.support.mrrt import BILLING, REPORTS, api_app, claims_of
from tests.support.real_idp import Api, Client, LocalIdP, login_via_form, require_local_idp
from tests.support.servers import free_port

HOLD = 0.3  # seconds each refresh grant takes at the fake provider: the requests overlap


@pytest.fixture(params=["cookie", "redis"])
def store(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("redis_url") if request.param == "redis" else "cookie"


def _cookie_header(browser: webtest.TestApp) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookiejar if c.name.startswith("auth0_session"))


def _at_once(middleware: Auth0Middleware, cookie: str, audiences: list[str | None]) -> list[Any]:
    """One request per audience, released together, each carrying ``cookie``; their responses."""
    barrier = threading.Barrier(len(audiences))
    responses: list[Any] = [None] * len(audiences)

    def one(i: int, audience: str | None) -> None:
        path = "/" if audience is None else f"/?audience={audience}"
        request = Request.blank(path, headers={**JSON, "Cookie": cookie, **_host()})
        barrier.wait(5)
        responses[i] = request.get_response(middleware)

    threads = [threading.Thread(target=one, args=(i, a)) for i, a in enumerate(audiences)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return responses


def _forget_refresh_results(store: str) -> None:
    """What the single flight still remembers (RESULT_TTL): gone, as two minutes later."""
    if store == "cookie":
        for path in Path(os.environ["AUTH0_REFRESH_LOCK_DIR"]).glob("*.result"):
            path.unlink()
    else:
        client = redis.Redis.from_url(store)
        for key in client.scan_iter("*refresh-result*"):
            client.delete(key)
        client.close()


def _host() -> dict[str, str]:
    return {"Host": addressed_as()["HTTP_HOST"]}


def _newest_cookie(responses: list[Any], cookie: str) -> str:
    """The session cookie of the response that finished its grants last (the newest refresh token):
    a browser keeps whichever Set-Cookie arrives last; the test picks the newest on purpose."""
    setting = [r for r in responses if r.headers.getall("Set-Cookie")]
    if not setting:
        return cookie
    last = max(setting, key=lambda r: sum(map(len, r.headers.getall("Set-Cookie"))))  # every API's token
    return "; ".join(h.split(";")[0] for h in last.headers.getall("Set-Cookie") if "Max-Age=0" not in h)


@pytest.mark.parametrize("audiences", [
    pytest.param([BILLING, REPORTS], id="two-apis"),
    pytest.param([BILLING, REPORTS, BILLING, REPORTS, None, None], id="two-apis-six-requests"),
])
def test_two_apis_at_once_on_one_session_grant_one_at_a_time(fake, store, audiences):
    fake.mrrt_audiences = {BILLING, REPORTS}
    clock = Clock()
    middleware = Auth0Middleware(api_app, clock=clock, **settings_for(
        fake, session_store=store, additional_audiences=f"{BILLING} {REPORTS}"))
    browser = webtest.TestApp(middleware, extra_environ=addressed_as())
    log_in(browser)
    cookie = _cookie_header(browser)
    fake.refresh_hold = HOLD
    responses = _at_once(middleware, cookie, audiences)
    assert [r.status_int for r in responses] == [200] * len(audiences)
    for audience, response in zip(audiences, responses, strict=True):
        if audience is not None:
            assert claims_of(response.json["token"])["aud"] == audience  # never another API's token
    assert sorted(fake.refresh_grants) == [BILLING, REPORTS]  # one grant per API, no more
    assert fake.max_refresh_in_flight == 1  # strictly one at a time
    assert fake.refresh_reuses == 0  # no refresh token presented twice
    # the session holds both APIs' tokens and the newest refresh token, even once the shared refresh
    # results are gone (two minutes later): no grant, then a refresh works
    fake.refresh_hold = 0
    _forget_refresh_results(store)
    newest = cookie if store != "cookie" else _newest_cookie(responses, cookie)
    again = _at_once(middleware, newest, [BILLING, REPORTS])
    assert [claims_of(r.json["token"])["aud"] for r in again] == [BILLING, REPORTS]
    assert len(fake.refresh_grants) == 2
    clock.advance(3600 - 30)  # every token is due
    fake.access_token_ttl = 7200
    last = _at_once(middleware, newest, [None, BILLING, REPORTS])
    assert [r.status_int for r in last] == [200, 200, 200]
    assert sorted(fake.refresh_grants, key=str) == sorted([BILLING, REPORTS, None, BILLING, REPORTS], key=str)
    assert fake.refresh_reuses == 0 and fake.max_refresh_in_flight == 1


def test_the_login_refresh_and_an_api_grant_at_once_share_the_flight(fake, store):
    fake.mrrt_audiences = {BILLING}
    clock = Clock()
    middleware = Auth0Middleware(api_app, clock=clock, **settings_for(
        fake, session_store=store, additional_audiences=BILLING))
    browser = webtest.TestApp(middleware, extra_environ=addressed_as())
    log_in(browser)
    clock.advance(3600 - 30)  # the login's token is due: both requests refresh it first
    fake.refresh_hold = HOLD
    responses = _at_once(middleware, _cookie_header(browser), [None, BILLING])
    assert [r.status_int for r in responses] == [200, 200]
    assert responses[0].json["primary"] == responses[1].json["primary"]  # one refresh, shared
    assert claims_of(responses[1].json["token"])["aud"] == BILLING
    assert fake.refresh_grants == [None, BILLING]
    assert fake.refresh_reuses == 0 and fake.max_refresh_in_flight == 1


# -- gunicorn workers against the real provider ---------------------------------------------------
@pytest.mark.slow
@pytest.mark.e2e
def test_two_apis_refreshed_by_concurrent_requests_on_four_gunicorn_workers(tmp_path):
    require_local_idp()
    port = free_port()
    client = Client("mrrt-app", f"secret:{secrets.token_hex(8)}%+", [f"http://127.0.0.1:{port}/callback"])
    apis = [Api(BILLING, "read:invoices"), Api(REPORTS, "read:reports")]
    # tokens live 60 s and refresh_leeway is an hour: every request refreshes what it uses
    with LocalIdP([client], apis=apis, access_token_ttl=60) as idp:
        ini = tmp_path / "mrrt.ini"
        ini.write_text("\n".join([
            "[app:api]", "use = call:tests.support.mrrt:app", "",
            "[filter:auth0]", "use = egg:auth0-wsgi", "public_paths = /health", "refresh_leeway = 3600",
            f"additional_audiences = {BILLING} {REPORTS}", "",
            "[pipeline:main]", "pipeline = auth0 api", ""]))
        env = {"AUTH0_ISSUER": idp.issuer, "AUTH0_CLIENT_ID": client.client_id,
               "AUTH0_CLIENT_SECRET": client.client_secret, "AUTH0_BASE_URL": f"http://127.0.0.1:{port}",
               "AUTH0_SECRET": secrets.token_urlsafe(32), "AUTH0_AUDIENCE": idp.audience}
        with gunicorn(str(ini), port, env, workers=4) as url:
            http = requests.Session()
            login_via_form(http, http.get(url + "/", headers=HTML, timeout=10), "alice")
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items() if k.startswith("auth0_session"))
            idp.reset_stats()
            pids: set[int] = set()
            for _ in range(3):  # three rounds of concurrent requests, each with the newest cookie
                answers = _concurrently(url, cookie, [BILLING, REPORTS] * 6)
                cookie = _largest_session_cookie([answer for _, answer in answers])
                for audience, answer in answers:
                    assert answer.status_code == 200, answer.text  # the session never ends
                    aud = claims_of(answer.json()["token"])["aud"]
                    aud = aud if isinstance(aud, list) else [aud]
                    assert audience in aud and not {BILLING, REPORTS, idp.audience} - {audience} & set(aud)
                    pids.add(answer.json()["pid"])
            stats = idp.stats()
    assert stats.get("refresh_token", 0) == 9  # each round: the login's token, BILLING's, REPORTS'
    assert stats.get("refresh_token_errors", 0) == 0  # never a refresh token presented twice
    assert len(pids) > 1


def _largest_session_cookie(answers: list[requests.Response]) -> str:
    """The session cookie that holds both APIs' tokens: the answer whose grants came last, with the
    newest refresh token (every token is due at every request, so each answer sets a cookie)."""
    jars = [{k: v for k, v in a.cookies.items() if k.startswith("auth0_session")} for a in answers]
    largest = max(jars, key=lambda jar: sum(map(len, jar.values())))
    return "; ".join(f"{k}={v}" for k, v in largest.items())


def _concurrently(url: str, cookie: str, audiences: list[str]) -> list[tuple[str, requests.Response]]:
    barrier = threading.Barrier(len(audiences))
    answers: list[Any] = [None] * len(audiences)

    def one(i: int, audience: str) -> None:
        barrier.wait(10)
        answers[i] = (audience, requests.get(url + "/", params={"audience": audience},
                                             headers={**JSON, "Cookie": cookie}, timeout=30))

    threads = [threading.Thread(target=one, args=(i, a)) for i, a in enumerate(audiences)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers
