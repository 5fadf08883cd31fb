"""api_session per API: the Bearer token of that API, one new token (of that API) and retry on
invalid_token, and an RFC 9470 challenge turned into StepUpRequired (fake provider, a real HTTP API)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import webtest

from auth0_wsgi import Auth0Middleware, api_session
from auth0_wsgi.errors import StepUpRequired
from tests.support.fake_provider import AUDIENCE
from tests.support.flows import addressed_as, log_in, settings_for
from tests.support.mrrt import BILLING, claims_of
from tests.support.servers import serve

MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


class Api:
    """An API on loopback: records each Bearer token; answers what ``answers`` says, in turn."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.answers: list[tuple[int, str]] = []  # (status, WWW-Authenticate) for the next requests

    def __call__(self, environ: dict, start_response: Any) -> list[bytes]:
        self.seen.append(environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer "))
        status, challenge = self.answers.pop(0) if self.answers else (200, "")
        headers = [("Content-Type", "application/json")]
        if challenge:
            headers.append(("WWW-Authenticate", challenge))
        start_response(f"{status} X", headers)
        return [b'{"ok": true}' if status == 200 else b'{"error": "no"}']


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    target = Api()
    with serve(target) as url:
        yield target, url


def calling_app(url: str):
    def app(environ: dict, start_response: Any) -> list[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            with api_session(environ, query.get("audience"), query.get("scope")) as session:
                answer = session.get(url + "/data", timeout=5)
            body: dict[str, Any] = {"status": answer.status_code, "retried": len(answer.history)}
        except StepUpRequired as exc:
            body = {"step_up": {"acr_values": exc.acr_values, "max_age": exc.max_age}}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]
    return app


@pytest.fixture
def browser(fake, api):
    fake.mrrt_audiences = {BILLING}
    middleware = Auth0Middleware(calling_app(api[1]), **settings_for(fake, additional_audiences=BILLING))
    app = webtest.TestApp(middleware, extra_environ=addressed_as())
    log_in(app)
    return app


def test_each_api_gets_its_own_bearer_token(browser, api):
    target, _ = api
    assert browser.get("/", {"audience": BILLING}).json == {"status": 200, "retried": 0}
    assert browser.get("/").json == {"status": 200, "retried": 0}
    billing, primary = target.seen
    assert claims_of(billing)["aud"] == BILLING
    assert AUDIENCE in claims_of(primary)["aud"]


def test_invalid_token_gets_a_new_token_of_that_api_and_retries_once(browser, api, fake):
    target, _ = api
    browser.get("/", {"audience": BILLING})  # BILLING's token, now in the session
    target.answers = [(401, 'Bearer error="invalid_token"')]
    assert browser.get("/", {"audience": BILLING}).json == {"status": 200, "retried": 1}
    first, refused, retried = target.seen
    assert refused == first and retried != refused and claims_of(retried)["aud"] == BILLING
    assert fake.refresh_grants == [BILLING, BILLING]  # the new token is BILLING's, not the login's
    target.answers = [(401, 'Bearer error="invalid_token"')] * 2
    assert browser.get("/", {"audience": BILLING}).json == {"status": 401, "retried": 1}  # once only


@pytest.mark.parametrize(("challenge", "step_up"), [
    pytest.param(f'Bearer error="insufficient_user_authentication", acr_values="{MFA}"',
                 {"acr_values": MFA, "max_age": None}, id="acr_values"),
    pytest.param('Bearer error="insufficient_user_authentication", max_age="300"',
                 {"acr_values": None, "max_age": 300}, id="max_age"),
    pytest.param(f'Bearer realm="api", error="insufficient_user_authentication", acr_values="{MFA}", '
                 'max_age=60', {"acr_values": MFA, "max_age": 60}, id="both"),
])
def test_an_rfc9470_challenge_raises_step_up_required(browser, api, fake, challenge, step_up):
    target, _ = api
    target.answers = [(401, challenge)]
    assert browser.get("/", {"audience": BILLING}).json == {"step_up": step_up}
    assert len(target.seen) == 1 and fake.refresh_grants == [BILLING]  # no retry, no refresh


def test_a_challenge_after_the_retry_raises_step_up_required_too(browser, api):
    target, _ = api
    target.answers = [(401, 'Bearer error="invalid_token"'),
                      (401, 'Bearer error="insufficient_user_authentication", max_age="0"')]
    assert browser.get("/").json == {"step_up": {"acr_values": None, "max_age": 0}}


@pytest.mark.parametrize("challenge", [
    pytest.param('Bearer error="insufficient_user_authentication"', id="asks-nothing"),
    pytest.param('Bearer error="insufficient_user_authentication", acr_values="a\\"b c,d", '
                 'max_age="-1"', id="malformed-values"),
    pytest.param('Basic realm="x", error="insufficient_user_authentication", max_age="5"', id="not-bearer"),
    pytest.param('Bearer error="insufficient_scope", max_age="5"', id="another-error"),
    pytest.param("Bearer " + "x" * 10_000, id="huge"),
])
def test_a_challenge_we_cannot_use_leaves_the_401_to_the_view(browser, api, challenge):
    target, _ = api
    target.answers = [(401, challenge)]
    assert browser.get("/").json == {"status": 401, "retried": 0}


def test_not_behind_the_filter_or_anonymous_is_a_clear_error():
    with pytest.raises(RuntimeError, match="auth0 filter"):
        api_session({}, BILLING)
    with pytest.raises(RuntimeError, match="no access token"):
        api_session({"auth0.middleware": True}, BILLING)
