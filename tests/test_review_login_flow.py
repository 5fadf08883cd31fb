"""Review of the browser login flow and the cookies it rests on: each test failed before its fix."""

from __future__ import annotations

import webtest

from auth0_wsgi import Auth0Middleware
from tests.support.apps import marking_app
from tests.support.flows import log_in, settings_for
from tests.support.http import JSON, cookie_header
from tests.support.wsgi import wsgi_call


def _logged_in(fake, **overrides) -> tuple[Auth0Middleware, str]:
    """A cookie-store middleware and the value of the session cookie a whole login gave."""
    mw = Auth0Middleware(marking_app, **settings_for(fake, **overrides))
    client = webtest.TestApp(mw, extra_environ={"HTTP_HOST": "app.test"})
    log_in(client)
    return mw, client.cookies["auth0_session"]


def test_a_same_named_cookie_of_a_sibling_app_sent_first_does_not_hide_our_session(fake):
    """Was: of duplicate cookie names the first wins, so a cookie ``auth0_session`` that a sibling
    app set on the parent domain (``Domain=example.com``, created earlier: browsers send it first)
    hides the session we just opened. Every page then sends the browser to /login, the callback
    opens a session that is never read, and round again: a login loop. A value that does not
    authenticate must not shadow one that does."""
    mw, ours = _logged_in(fake)
    foreign = "sibling-apps-session-value"
    for header in (f"auth0_session={foreign}; auth0_session={ours}",
                   f"auth0_session={ours}; auth0_session={foreign}"):
        result = wsgi_call(mw, "/", headers={**JSON, "Cookie": header})
        assert result.status == 200, (header.split(";")[0][:40], result.status)


def test_a_cookie_session_of_another_app_sharing_the_secret_is_not_accepted(fake):
    """Was: the cookie store seals sessions under a key derived from ``secret`` alone, not bound to
    the app (``client_id``, ``key_prefix``), while the Redis store and the lock directory are
    namespaced per app. Two apps on one host sharing ``AUTH0_SECRET`` (one environment, one vault
    entry) and the default cookie name: a session of app A, where anyone may sign up, is a session
    of app B too, whose Auth0 application would never have let that user in; B's app is handed A's
    identity and A's tokens (an ID token whose ``aud`` is another client)."""
    _, session_of_a = _logged_in(fake)
    app_b = Auth0Middleware(marking_app, **settings_for(fake, client_id="internal-admin-app"))
    result = wsgi_call(app_b, "/", headers={**JSON, "Cookie": cookie_header({"auth0_session": session_of_a})})
    assert result.status == 401, (result.status, result.text[:200])


def test_a_same_named_cookie_sent_first_does_not_hide_a_server_side_session(fake):
    """The same with a server-side store: the first ``auth0_session`` value, whose signature does not
    hold, hid the signed id that followed it."""
    mw, ours = _logged_in(fake, session_store="memory")
    for foreign in ("sibling-apps-session-value", "id.signature"):
        header = f"auth0_session={foreign}; auth0_session={ours}"
        assert wsgi_call(mw, "/", headers={**JSON, "Cookie": header}).status == 200, foreign


def test_at_most_four_same_named_cookies_are_tried(fake):
    """A header of many same-named cookies costs at most four unseals: ours fifth is not found."""
    mw, ours = _logged_in(fake)
    header = "; ".join([*(f"auth0_session=foreign-{n}" for n in range(4)), f"auth0_session={ours}"])
    assert wsgi_call(mw, "/", headers={**JSON, "Cookie": header}).status == 401
