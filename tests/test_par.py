"""Pushed authorization requests (RFC 9126, ``pushed_authorization_requests``): the parameters go
server to server with client authentication, the browser's URL holds ``client_id`` and
``request_uri`` only, and whatever the PAR endpoint answers is checked before a browser sees it."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets

import pytest
import requests

from auth0_wsgi import probes
from tests.support.fake_provider import CLIENT_ID, CLIENT_SECRET
from tests.support.flows import BASE_URL, browser, log_in, provider_answer, settings_for
from tests.support.http import HTML, JSON, query
from tests.support.real_idp import Client, LocalIdP, login_via_form, require_local_idp
from tests.support.servers import free_port, serve

REQUIRED = {"require_pushed_authorization_requests": True}


def _authorize_url(app, **params) -> str:
    response = app.get("/login", params, headers=HTML)
    assert response.status_int == 302, response.text
    return response.headers["Location"]


# -- failure modes first: what the PAR endpoint may answer, and a provider without one ----------------

def _answer(body: object) -> tuple[int, bytes]:
    return 201, json.dumps(body).encode()


@pytest.mark.parametrize(("answer", "status"), [
    pytest.param((400, b'{"error": "invalid_request"}'), 502, id="oauth-error"),
    pytest.param((401, b'{"error": "invalid_client"}'), 502, id="invalid-client"),
    pytest.param((400, b'{"error": "<script>"}'), 502, id="unusable-error-code"),
    pytest.param((500, b"Internal Server Error"), 503, id="5xx"),
    pytest.param((429, b"<html>slow down</html>"), 503, id="gateway-4xx-page"),
    pytest.param((429, b'{"error": "too_many_requests"}'), 503, id="rate-limited"),
    pytest.param((201, b"<html>maintenance</html>"), 502, id="html"),
    pytest.param((201, b"[]"), 502, id="not-an-object"),
    pytest.param((201, b'{"request_uri": "urn:x", "expires_in": NaN}'), 502, id="nan"),
    pytest.param(_answer({"expires_in": 60}), 502, id="no-request-uri"),
    pytest.param(_answer({"request_uri": 42, "expires_in": 60}), 502, id="request-uri-number"),
    pytest.param(_answer({"request_uri": "", "expires_in": 60}), 502, id="request-uri-empty"),
    pytest.param(_answer({"request_uri": "urn:" + "x" * 600, "expires_in": 60}), 502, id="request-uri-huge"),
    pytest.param(_answer({"request_uri": "urn:x\r\nSet-Cookie: a=b", "expires_in": 60}), 502,
                 id="request-uri-header-injection"),
    pytest.param(_answer({"request_uri": "urn:a b", "expires_in": 60}), 502, id="request-uri-space"),
    pytest.param(_answer({"request_uri": "urn:x"}), 502, id="no-expires-in"),
    pytest.param(_answer({"request_uri": "urn:x", "expires_in": "soon"}), 502, id="expires-in-text"),
    pytest.param(_answer({"request_uri": "urn:x", "expires_in": -1}), 502, id="expires-in-negative"),
    pytest.param(_answer({"request_uri": "urn:x", "expires_in": True}), 502, id="expires-in-bool"),
    pytest.param((302, b'{"request_uri": "urn:x", "expires_in": 60}'), 502, id="redirect-status"),
])
def test_an_unusable_par_answer_is_a_clear_error_naming_the_endpoint(fake, caplog, answer, status):
    fake.raw_answers["/oauth/par"] = answer
    app = browser(fake, pushed_authorization_requests="true")
    caplog.set_level(logging.WARNING, logger="auth0_wsgi")
    response = app.get("/login", headers=JSON, status=status)
    assert response.json["error"] in ("provider_error", "provider_unavailable")
    assert "Location" not in response.headers
    logged = caplog.text
    assert "PAR endpoint (pushed_authorization_request_endpoint)" in logged
    assert CLIENT_SECRET not in logged


def test_a_par_endpoint_that_does_not_answer_in_time_is_a_503(fake):
    fake.par_delay = 2.0  # real time: the real http_timeout (1 s) is what is tested
    app = browser(fake, pushed_authorization_requests="true", http_timeout=1)
    response = app.get("/login", headers=JSON, status=503)
    assert response.json["error"] == "provider_unavailable"
    assert response.headers["Retry-After"]


@pytest.mark.parametrize("mode", ["reset", "close"])
def test_an_unreachable_par_endpoint_is_a_503(fake, dropping_server, mode):
    fake.discovery_overrides = {"pushed_authorization_request_endpoint": dropping_server(mode).url}
    app = browser(fake, pushed_authorization_requests="true")
    assert app.get("/login", headers=JSON, status=503).json["error"] == "provider_unavailable"


def test_a_huge_par_answer_is_not_read_whole(fake):
    fake.huge_paths.add("/oauth/par")
    app = browser(fake, pushed_authorization_requests="true")
    assert app.get("/login", headers=JSON, status=502).json["error"] == "provider_error"
    assert fake.huge_bytes_sent < 10 * 1024 * 1024


@pytest.mark.parametrize("overrides", [
    pytest.param({"pushed_authorization_request_endpoint": None}, id="absent"),
    pytest.param({"pushed_authorization_request_endpoint": 42}, id="not-a-string"),
    pytest.param({"pushed_authorization_request_endpoint": "ftp://idp.test/par"}, id="not-http"),
])
@pytest.mark.parametrize("setting", ["true", "auto"])
def test_par_required_without_an_endpoint_is_a_502_naming_it(fake, caplog, overrides, setting):
    fake.discovery_overrides = {**overrides, **REQUIRED}
    app = browser(fake, pushed_authorization_requests=setting)
    caplog.set_level(logging.WARNING, logger="auth0_wsgi")
    response = app.get("/login", headers=JSON, status=502)
    assert response.json["error"] == "par_unavailable"
    assert "pushed_authorization_request_endpoint" in caplog.text
    page = app.get("/login", headers=HTML, status=502)
    assert "par_unavailable" in page.text


def test_the_par_error_page_leaks_nothing_of_the_request(fake):
    fake.raw_answers["/oauth/par"] = (400, b'{"error": "invalid_request"}')
    app = browser(fake, pushed_authorization_requests="true", debug=True)
    page = app.get("/login", headers=HTML, status=502)
    assert CLIENT_SECRET not in page.text
    assert "code_challenge" not in page.text and "nonce" not in page.text


# -- the option on and off ------------------------------------------------------------------------

def test_false_never_pushes_even_when_discovery_requires_it(fake):
    fake.discovery_overrides = REQUIRED
    url = _authorize_url(browser(fake, pushed_authorization_requests="false"))
    assert {"state", "nonce", "code_challenge", "redirect_uri"} <= set(query(url))
    assert fake.counts["/oauth/par"] == 0


def test_auto_does_not_push_when_discovery_does_not_require_it(fake):
    app = browser(fake)  # auto is the default; the fake advertises a PAR endpoint
    url = _authorize_url(app)
    assert "request_uri" not in query(url) and "state" in query(url)
    assert fake.counts["/oauth/par"] == 0
    assert app.get(provider_answer(url)).status_int == 302


@pytest.mark.parametrize("setting,required", [
    pytest.param("auto", True, id="auto-required-by-discovery"),
    pytest.param("true", False, id="forced"),
])
def test_par_login_keeps_every_parameter_off_the_browsers_url(fake, setting, required):
    if required:
        fake.discovery_overrides = REQUIRED
        fake.require_par = True  # /authorize refuses parameters that were not pushed
    app = browser(fake, pushed_authorization_requests=setting,
                  authorization_params={"screen_hint": "signup"})
    url = _authorize_url(app, return_to="/reports?q=1")
    assert url.startswith(fake.issuer + "authorize?")
    assert query(url) == {"client_id": CLIENT_ID, "request_uri": query(url)["request_uri"]}
    pushed = fake.last_par_request
    assert pushed["response_type"] == "code" and pushed["code_challenge_method"] == "S256"
    assert pushed["redirect_uri"] == BASE_URL + "/callback"
    assert pushed["screen_hint"] == "signup" and pushed["audience"]
    assert {"state", "nonce", "code_challenge", "scope"} <= set(pushed)
    assert pushed["client_secret"] == CLIENT_SECRET  # client_secret_post, as at the token endpoint
    assert [value for name, value in fake.last_par_items if name == "client_id"] == [CLIENT_ID]
    landed = app.get(provider_answer(url))  # the fake checks PKCE against the pushed challenge
    assert landed.headers["Location"] == BASE_URL + "/reports?q=1"
    assert app.get("/reports", headers=JSON).json["REMOTE_USER"] == fake.sub


def test_par_uses_the_token_endpoints_client_authentication(fake):
    fake.auth_method = "client_secret_basic"
    app = browser(fake, pushed_authorization_requests="true",
                  token_endpoint_auth_method="client_secret_basic")
    log_in(app)
    assert "client_secret" not in fake.last_par_request
    assert fake.last_par_request["client_id"] == CLIENT_ID  # basic: the body names the client too
    assert fake.last_authorization_header.startswith("Basic ")


def test_par_pushes_what_this_login_asked_for_itself(fake):
    """A transaction's own parameters (a step-up, an organization, a silent login) are pushed too."""
    from auth0_wsgi.transaction import LoginTransaction

    app = browser(fake, pushed_authorization_requests="true")
    client = app.app.collaborators.client
    tx = LoginTransaction.start("/", 0, {"prompt": "none", "acr_values": "x"})
    url = client.authorization_url(tx)
    assert set(query(url)) == {"client_id", "request_uri"}
    assert fake.last_par_request["prompt"] == "none" and fake.last_par_request["acr_values"] == "x"
    assert fake.last_par_request["state"] == tx.state and fake.last_par_request["nonce"] == tx.nonce
    challenge = base64.urlsafe_b64encode(hashlib.sha256(tx.code_verifier.encode()).digest()).rstrip(b"=")
    assert fake.last_par_request["code_challenge"] == challenge.decode()


def test_par_logs_no_secret(fake, caplog):
    caplog.set_level(logging.DEBUG)
    app = browser(fake, pushed_authorization_requests="true")
    url = _authorize_url(app)
    pushed = dict(fake.last_par_request)
    app.get(provider_answer(url))
    text = "\n".join(record.getMessage() + str(record.args) for record in caplog.records)
    assert "pushed to the PAR endpoint" in text
    for secret in (CLIENT_SECRET, pushed["state"], pushed["nonce"], pushed["code_challenge"]):
        assert secret not in text


# -- auth0-wsgi check ----------------------------------------------------------------------------------

def _check(fake, **overrides) -> dict:
    settings = settings_for(fake, base_url="https://app.test", **overrides)
    results = probes.run(settings, os.environ, where="here")
    return {result.name: result for result in results}


def test_check_pushes_its_authorization_requests_when_par_is_required(fake):
    fake.discovery_overrides = REQUIRED
    fake.require_par = True
    results = _check(fake)
    assert results["callback_url"].ok is True
    assert fake.last_par_request["prompt"] == "none" and "audience" in fake.last_par_request
    assert set(fake.last_authorize) == {"client_id", "request_uri"}


def test_check_says_when_par_is_required_but_discovery_has_no_endpoint(fake):
    fake.discovery_overrides = {**REQUIRED, "pushed_authorization_request_endpoint": None}
    result = _check(fake)["callback_url"]
    assert result.ok is False and "pushed_authorization_request_endpoint" in result.detail


# -- against the real provider ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def par_idp():
    require_local_idp()
    port = free_port()
    client = Client("app-par", f"secret:{secrets.token_hex(8)}%+", [f"http://127.0.0.1:{port}/callback"],
                    [f"http://127.0.0.1:{port}/"], token_endpoint_auth_method="client_secret_basic")
    with LocalIdP([client], require_par=True) as provider:
        yield provider, client, port


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("setting", ["auto", "true", "false"])
def test_real_provider_that_requires_par(par_idp, setting):
    from auth0_wsgi import Auth0Middleware
    from tests.support.apps import echo_app

    idp, client, port = par_idp
    middleware = Auth0Middleware(echo_app, issuer=idp.issuer, client_id=client.client_id,
                                 client_secret=client.client_secret, base_url=f"http://127.0.0.1:{port}",
                                 secret="s" * 40, audience=idp.audience,
                                 token_endpoint_auth_method=client.token_endpoint_auth_method,
                                 pushed_authorization_requests=setting)
    with serve(middleware, port) as url:
        http = requests.Session()
        start = http.get(url + "/login?return_to=/profile", allow_redirects=False, timeout=10)
        authorize = start.headers["Location"]
        if setting == "false":  # the provider refuses parameters that were not pushed
            refused = http.get(authorize, allow_redirects=False, timeout=10)
            assert refused.headers["Location"].startswith(url + "/callback?")
            assert query(refused.headers["Location"])["error"] == "invalid_request"
            page = http.get(refused.headers["Location"], headers=HTML, timeout=10)
            assert page.status_code == 400 and "invalid_request" in page.text
            return
        assert set(query(authorize)) == {"client_id", "request_uri"}
        page = http.get(authorize, timeout=10)
        landed = login_via_form(http, page, "alice")
        assert landed.url == url + "/profile"
        assert landed.json()["REMOTE_USER"] == "alice"
