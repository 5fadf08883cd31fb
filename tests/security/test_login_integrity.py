"""Login CSRF, code injection and replay: a session opens only for the browser that started the login.

Already covered elsewhere (not repeated): the attacker's callback finished in a victim browser with no
login cookie (tests/test_callback_rejections.py::test_state_from_another_browser_is_refused), a
replayed callback (::test_replayed_callback_is_a_4xx_with_a_link_to_start_again) and a
double-submitted one (::test_double_submitted_callback_spends_the_code_once).
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import webtest

from tests.support.clocks import Clock
from tests.support.fake_provider import CLIENT_ID
from tests.support.flows import BASE_URL, middleware, start_login
from tests.support.http import JSON, cookie_header, query
from tests.support.wsgi import wsgi_call


def _client(mw) -> webtest.TestApp:
    return webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})


def _tx_cookies(client) -> dict[str, str]:
    return {k: v for k, v in client.cookies.items() if k.startswith("a0tx.")}


def _no_session(response) -> None:
    assert not [v for k, v in response.headerlist if k == "Set-Cookie"
                and v.startswith("auth0_session") and "Max-Age=0" not in v]


def test_attackers_state_in_a_victim_browser_with_its_own_pending_login_is_refused(fake):
    mw = middleware(fake)
    attacker, victim = _client(mw), _client(mw)
    attacker_callback, _ = start_login(attacker)
    victim_callback, _ = start_login(victim)  # the victim has a login cookie of its own
    response = victim.get(attacker_callback, headers=JSON, status=400)
    assert response.json["error"] == "invalid_state"
    _no_session(response)
    assert fake.counts["grant:authorization_code"] == 0
    assert victim.get(victim_callback).status_int == 302  # the victim's own login is untouched


def test_victims_login_cookie_renamed_to_the_attackers_state_is_refused(fake):
    """The cookie's name is derived from the state, and its sealed content must name that state too."""
    mw = middleware(fake)
    attacker, victim = _client(mw), _client(mw)
    attacker_callback, _ = start_login(attacker)
    start_login(victim)
    (attacker_name,) = _tx_cookies(attacker)
    (victim_value,) = _tx_cookies(victim).values()
    path, _, qs = attacker_callback.partition("?")
    result = wsgi_call(mw, path, qs, headers={**JSON, "Cookie": f"{attacker_name}={victim_value}"})
    assert result.status == 400 and result.json["error"] == "invalid_state"
    assert fake.counts["grant:authorization_code"] == 0


def test_login_cookie_of_another_deployment_is_refused(fake):
    other, ours = middleware(fake, secret="o" * 40), middleware(fake)
    client = _client(other)
    callback, _ = start_login(client)
    path, _, qs = callback.partition("?")
    result = wsgi_call(ours, path, qs, headers={**JSON, "Cookie": cookie_header(_tx_cookies(client))})
    assert result.status == 400 and result.json["error"] == "invalid_state"


def test_expired_login_transaction_is_refused(fake):
    clock = Clock()
    mw = middleware(fake, clock=clock)
    client = _client(mw)
    callback, _ = start_login(client)
    clock.advance(601)  # the user took more than 10 minutes
    response = client.get(callback, headers=JSON, status=400)
    assert response.json["error"] == "invalid_state"
    assert fake.counts["grant:authorization_code"] == 0


def test_stolen_code_injected_into_the_attackers_own_login_is_refused_by_pkce(fake):
    """Code injection: the attacker's browser has a valid state, but the code was issued for the
    victim's code_challenge; without the victim's verifier the exchange fails and no session opens."""
    mw = middleware(fake)
    victim, attacker = _client(mw), _client(mw)
    victim_callback, _ = start_login(victim)
    attacker_callback, _ = start_login(attacker)
    injected = {**query(attacker_callback), "code": query(victim_callback)["code"]}
    response = attacker.get("/callback?" + urlencode(injected), headers=JSON, status=400)
    assert response.json["error"] == "invalid_grant"
    _no_session(response)
    assert fake.counts["grant:authorization_code"] == 1


def test_code_replayed_in_a_fresh_login_after_it_was_spent_is_refused(fake):
    mw = middleware(fake)
    client = _client(mw)
    first_callback, _ = start_login(client)
    assert client.get(first_callback).status_int == 302
    client.reset()
    second_callback, _ = start_login(client)
    replay = {**query(second_callback), "code": query(first_callback)["code"]}
    response = client.get("/callback?" + urlencode(replay), headers=JSON, status=400)
    assert response.json["error"] == "invalid_grant"
    _no_session(response)


def test_callback_and_login_cookie_replayed_to_another_worker_open_no_session(fake):
    """Each process remembers the states it consumed; another worker relies on the provider refusing
    the spent code (cookie store: nothing is shared between the workers)."""
    worker_a, worker_b = middleware(fake), middleware(fake)
    client = _client(worker_a)
    callback, _ = start_login(client)
    captured = cookie_header(_tx_cookies(client))
    assert client.get(callback).status_int == 302
    path, _, qs = callback.partition("?")
    result = wsgi_call(worker_b, path, qs, headers={**JSON, "Cookie": captured})
    assert result.status == 400 and result.json["error"] == "invalid_grant"
    assert not result.opens_session()


def test_authorize_request_uses_pkce_s256_and_fresh_unguessable_values(fake):
    client = _client(middleware(fake))
    seen = [query(start_login(client)[1]) for _ in range(3)]
    for params in seen:
        assert params["code_challenge_method"] == "S256"
        assert params["response_type"] == "code"
        assert params["client_id"] == CLIENT_ID
        assert params["redirect_uri"] == BASE_URL + "/callback"
        for name in ("state", "nonce", "code_challenge"):
            assert len(params[name]) >= 43, name  # ≥ 256 bits
        assert "code_verifier" not in params
    for name in ("state", "nonce", "code_challenge"):
        assert len({params[name] for params in seen}) == 3, f"{name} repeats across logins"


@pytest.mark.parametrize("planted", ["auth0_session=planted", "auth0_session.0=planted; auth0_session.1=x"])
def test_login_replaces_whatever_session_cookie_was_planted(fake, planted):
    """No fixation, chunked variant (the single-cookie case is in tests/test_session_flow.py)."""
    mw = middleware(fake)
    client = _client(mw)
    callback, _ = start_login(client)
    path, _, qs = callback.partition("?")
    result = wsgi_call(mw, path, qs, headers={"Cookie": f"{planted}; {cookie_header(_tx_cookies(client))}"})
    assert result.status == 302
    written = {v.split("=", 1)[0]: v.split(";")[0].split("=", 1)[1] for v in result.all("Set-Cookie")}
    for name in (part.split("=")[0].strip() for part in planted.split(";")):
        assert written.get(name) != "planted", f"{name} survived the login"
    assert written.get("auth0_session", "") not in ("", "planted")


ODD_STATES = [
    pytest.param("\xe9" * 43, id="latin-1"),
    pytest.param("\u6587" * 20, id="cjk"),
    pytest.param("\ufffd", id="replacement-character"),
    pytest.param("a b", id="space"),
    pytest.param("a.b", id="dot"),
    pytest.param("s" * 200, id="over-long"),
]


@pytest.mark.parametrize("state", ODD_STATES)
def test_login_cookie_named_after_an_odd_state_is_an_invalid_state_not_a_crash(fake, state):
    """A real sealed login cookie, renamed after the hash of a state we never issue: refused, a 400."""
    from auth0_wsgi.transaction import cookie_name_for

    mw = middleware(fake)
    client = _client(mw)
    start_login(client)
    (value,) = _tx_cookies(client).values()
    qs = urlencode({"code": "c", "state": state, "iss": fake.issuer})
    result = wsgi_call(mw, "/callback", qs, headers={**JSON, "Cookie": f"{cookie_name_for(state)}={value}"})
    assert result.status == 400, result.escaped or result.text
    assert result.json["error"] == "invalid_state"
    assert fake.counts["grant:authorization_code"] == 0
    assert not result.all("Set-Cookie"), "a state we never issue names no cookie of ours to delete"
