"""The login transaction's cookies: at most MAX_PENDING_LOGINS pending, tracked by the index cookie."""

from __future__ import annotations

from typing import Any

import pytest

from auth0_wsgi.cookies import CookieOptions
from auth0_wsgi.sealing import Sealer
from auth0_wsgi.transaction import (
    LOGIN_COOKIE_NAME,
    MAX_PENDING_LOGINS,
    PENDING_INDEX,
    TRANSACTION_LIFETIME,
    Transactions,
)
from tests.support.clocks import Clock

CALLBACK = CookieOptions(path="/callback", secure=True, samesite="Lax")
LOGIN_PATH = "/login"


def _transactions(clock: Clock) -> Transactions:
    return Transactions(Sealer(["s" * 40], "transaction"), CALLBACK, clock)


def _set_cookies(headers: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(name, value, the attributes) of each Set-Cookie."""
    found = []
    for _, header in headers:
        pair, _, attributes = header.partition("; ")
        name, _, value = pair.partition("=")
        found.append((name, value, attributes))
    return found


class Browser:
    """Keeps the index cookie as a browser would for the login path (the login cookies never come back
    to /login: they are scoped to the callback) and the login cookies for the callback path."""

    def __init__(self) -> None:
        self.index = ""
        self.pending: dict[str, str] = {}

    def login(self, transactions: Transactions) -> tuple[str, list[tuple[str, str, str]]]:
        environ: dict[str, Any] = {"HTTP_COOKIE": f"{PENDING_INDEX}={self.index}" if self.index else ""}
        tx, headers = transactions.begin("/", environ, LOGIN_PATH)
        cookies = _set_cookies(headers)
        for name, value, attributes in cookies:
            if name == PENDING_INDEX:
                self.index = value
            elif "Max-Age=0" in attributes:
                self.pending.pop(name, None)
            else:
                self.pending[name] = value
        return tx.cookie_name, cookies


def test_a_fourth_login_evicts_the_oldest_pending_one():
    clock, browser = Clock(1_000_000), Browser()
    transactions = _transactions(clock)
    names = []
    for _ in range(MAX_PENDING_LOGINS + 1):
        names.append(browser.login(transactions)[0])
        clock.advance(1)
    assert sorted(browser.pending) == sorted(names[1:])


def test_ten_logins_keep_the_newest_three():
    clock, browser = Clock(1_000_000), Browser()
    transactions = _transactions(clock)
    names = []
    for _ in range(10):
        names.append(browser.login(transactions)[0])
        clock.advance(5)
    assert MAX_PENDING_LOGINS == 3  # SECURITY.md and the README say three
    assert sorted(browser.pending) == sorted(names[-3:])


def test_logins_older_than_the_lifetime_are_forgotten_not_deleted():
    """The browser has already dropped them (Max-Age): nothing to delete, and they take no slot."""
    clock, browser = Clock(1_000_000), Browser()
    transactions = _transactions(clock)
    for _ in range(MAX_PENDING_LOGINS):
        browser.login(transactions)
    clock.advance(TRANSACTION_LIFETIME)
    _, cookies = browser.login(transactions)
    assert not [name for name, _, attributes in cookies if "Max-Age=0" in attributes]
    assert browser.index.count(".") == 0  # only the new login is listed


def test_the_index_cookie_is_scoped_to_the_login_path_and_lives_as_long_as_a_login():
    _, cookies = Browser().login(_transactions(Clock(1_000_000)))
    (index,) = [attributes for name, _, attributes in cookies if name == PENDING_INDEX]
    assert f"Path={LOGIN_PATH}" in index
    assert f"Max-Age={TRANSACTION_LIFETIME}" in index
    assert "HttpOnly" in index and "secure" in index.lower()


FORGED_INDEXES = [
    pytest.param(".".join(f"{'A' * 15}{i % 10}{1_000_000 - i}" for i in range(100)), id="100-entries"),
    pytest.param("x" * 4000, id="junk"),
    pytest.param("AAAAAAAAAAAAAAA(1000000.BBBBBBBBBBBBBBBB", id="bad-name-and-no-time"),
    pytest.param("AAAAAAAAAAAAAAAA" + "9" * 40, id="huge-time"),
    pytest.param('"' + "A" * 16 + '1000000"', id="quoted"),
]


@pytest.mark.parametrize("index", FORGED_INDEXES)
def test_a_forged_index_costs_at_most_a_few_deletions_of_names_in_our_format(index):
    """Cookie tossing could plant an index: the worst it does is delete pending logins of ours."""
    transactions = _transactions(Clock(1_000_000))
    tx, headers = transactions.begin("/", {"HTTP_COOKIE": f"{PENDING_INDEX}={index}"}, LOGIN_PATH)
    cookies = _set_cookies(headers)
    deleted = [name for name, _, attributes in cookies if "Max-Age=0" in attributes]
    assert len(deleted) <= MAX_PENDING_LOGINS
    assert all(LOGIN_COOKIE_NAME.fullmatch(name) for name in deleted)
    assert tx.cookie_name in [name for name, _, _ in cookies]


@pytest.mark.parametrize("base_url, login_path, index_path", [
    pytest.param("http://app.test", "/login", "/", id="at-the-root"),
    pytest.param("https://example.com/shop", "/login", "/shop", id="under-a-path-prefix"),
    pytest.param("http://app.test", "/auth/start", "/", id="custom-login-path"),
])
def test_the_index_cookie_is_seen_wherever_a_login_starts(build_app, base_url, login_path, index_path):
    """The app's cookie path: /login and the pages that start step-up and silent logins read it."""
    response = build_app(base_url=base_url, login_path=login_path).get(login_path)
    (index,) = [v for k, v in response.headerlist if k == "Set-Cookie" and v.startswith(PENDING_INDEX + "=")]
    assert f"Path={index_path};" in index + ";"
