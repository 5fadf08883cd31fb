"""No token, code, verifier, secret or cookie value ever reaches a log line."""

from __future__ import annotations

import logging

from tests.support.fake_provider import CLIENT_SECRET
from tests.support.flows import SECRET
from tests.support.flows import start_login as _start_login
from tests.support.http import JSON, query_of
from tests.support.logs import quiet_urllib3


def start_login(app, return_to="/"):
    with quiet_urllib3():
        return _start_login(app, return_to)


def test_full_login_refresh_and_logout_log_nothing_secret(app, fake, caplog):
    caplog.set_level(logging.DEBUG)  # everything, third-party libraries included
    fake.access_token_ttl = 30  # so the next request refreshes
    callback, authorize_url = start_login(app, "/after")
    code = query_of(callback)["code"]
    params = query_of(authorize_url)
    app.get(callback)
    verifier = fake.last_token_request["code_verifier"]
    app.get("/x", headers=JSON)  # refresh
    session = app.get("/x").json
    refresh_tokens = list(fake.refresh_tokens)  # the rotated refresh token the session now holds
    assert len(refresh_tokens) == 1, "no refresh token was issued: the check below would prove nothing"
    session_cookies = [v for k, v in app.cookies.items() if k.startswith("auth0_session")]
    assert session_cookies, "no session cookie: the check below would prove nothing"
    app.get("/logout")
    app.get(start_login(app)[0])
    app.get("/callback?error=access_denied&error_description=nope&state=zzz", status=400)  # errors too
    text = "\n".join(record.getMessage() + str(record.args) for record in caplog.records)
    assert caplog.records, "nothing was logged at all: the test would prove nothing"
    secrets = {
        "code": code, "state": params["state"], "nonce": params["nonce"], "verifier": verifier,
        "client secret": CLIENT_SECRET, "session secret": SECRET,
        "access token": session["auth0.access_token"], "id token": session["auth0.id_token"],
        **{f"refresh token {i}": token for i, token in enumerate(refresh_tokens)},
        **{f"session cookie {i}": value for i, value in enumerate(session_cookies)},
        **{f"login cookie {k}": v for k, v in app.cookies.items() if k.startswith("a0tx")},
    }
    for name, value in secrets.items():
        assert value and value not in text, f"the {name} reached a log line"
