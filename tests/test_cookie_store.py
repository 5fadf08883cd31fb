"""The cookie store's writes: a session that shrinks deletes the chunks it no longer needs."""

from __future__ import annotations

import secrets

import pytest

from auth0_wsgi.cookies import CookieOptions
from auth0_wsgi.sealing import Sealer
from auth0_wsgi.session import Lifetime, Session
from auth0_wsgi.stores.cookie import CookieStore
from tests.support.clocks import Clock
from tests.support.flows import log_in

NAME = "auth0_session"
OPTIONS = CookieOptions(path="/", secure=True, samesite="Lax")


def _store() -> CookieStore:
    return CookieStore(NAME, Sealer(["s" * 40], "session"), Lifetime(86400, 604800), OPTIONS,
                       clock=Clock(1_000_000))


def _session(size: int) -> Session:
    """A session whose sealed form needs about ``size`` bytes (random: compression keeps it large)."""
    return Session(id_token=secrets.token_urlsafe(size), access_token=None, expires_at=None,
                   refresh_token=None, created_at=1_000_000, touched_at=1_000_000)


def _written_and_deleted(headers: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    written, deleted = [], []
    for _, header in headers:
        name = header.split("=", 1)[0]
        (deleted if "Max-Age=0" in header else written).append(name)
    return sorted(written), sorted(deleted)


SHRINKS = [
    pytest.param(3, 1, [NAME], [f"{NAME}.0", f"{NAME}.1", f"{NAME}.2"], id="three-chunks-to-one-cookie"),
    pytest.param(3, 2, [f"{NAME}.0", f"{NAME}.1"], [f"{NAME}.2"], id="three-chunks-to-two"),
    pytest.param(1, 3, [f"{NAME}.0", f"{NAME}.1", f"{NAME}.2"], [NAME], id="one-cookie-to-three-chunks"),
    pytest.param(2, 2, [f"{NAME}.0", f"{NAME}.1"], [], id="same-chunks-nothing-deleted"),
]


@pytest.mark.parametrize("before, after, written, deleted", SHRINKS)
def test_saving_deletes_the_cookies_the_new_session_does_not_use(before, after, written, deleted):
    store = _store()
    sizes = {1: 1_000, 2: 4_500, 3: 7_000}  # sealed: about 1.4, 6 and 9.5 KB
    old = store.save({}, _session(sizes[before]))
    assert len(old) == before, "the control: the old session has the expected number of cookies"
    header = "; ".join(value.split(";", 1)[0] for _, value in old)
    headers = store.save({"HTTP_COOKIE": header}, _session(sizes[after]))
    assert _written_and_deleted(headers) == (written, deleted)


def test_a_session_that_shrinks_leaves_only_its_one_cookie_in_the_browser(build_app, fake):
    """Through the real flow: a chunked session, then a small one (a new login), in WebTest's jar."""
    app = build_app()
    roles = [secrets.token_hex(20) for _ in range(120)]
    fake.id_token_claims = lambda c: {**c, "app_metadata": {"roles": roles}}
    log_in(app)
    assert {f"{NAME}.0", f"{NAME}.1"} <= set(app.cookies)
    fake.id_token_claims = lambda c: c
    log_in(app)
    assert sorted(n for n in app.cookies if n.startswith(NAME)) == [NAME]
    assert "app_metadata" not in app.get("/x").json["auth0.user"]
