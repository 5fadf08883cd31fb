"""Error pages people can read: the built-in page (styled, self-contained, a CSP that allows only its
own style), "Try again" back to where the user was going, operator details in the log only (unless
``debug``), the app's own ``error_template``, JSON errors that stay JSON, and a logout that shows."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from pathlib import Path

import pytest

from auth0_wsgi import errorpage
from auth0_wsgi.config import Config
from auth0_wsgi.errors import ConfigError
from tests.support.flows import BASE_URL, browser, log_in, provider_answer, start_login
from tests.support.http import HTML, JSON, query

STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def _failed_callback(app, return_to: str | None = "/reports?id=7", accept=HTML):
    """A login for ``return_to`` that the user cancels at the provider (error=access_denied)."""
    _, authorize_url = start_login(app, return_to)
    state = query(authorize_url)["state"]
    return app.get("/callback", {"error": "access_denied", "error_description": "User cancelled",
                                 "state": state}, headers=accept, status=400)


def _retry_links(page) -> list[str]:
    return re.findall(r'<a href="([^"]*)"', page.text)


# -- the built-in page -------------------------------------------------------------------------------------

def test_the_page_is_styled_self_contained_and_allows_only_its_own_style(fake):
    page = _failed_callback(browser(fake))
    (css,) = STYLE.findall(page.text)
    assert "font:" in css and "@media (prefers-color-scheme:dark)" in css  # not the browser's serif
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert page.headers["Content-Security-Policy"] == (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'")
    assert not re.search(r"<(script|link|img|iframe)\b", page.text)  # nothing to load from elsewhere
    assert re.findall(r"https?://[^\"<\s]+", page.text) == [BASE_URL + "/login?return_to=/reports%3Fid%3D7"]
    assert "Error code: <code>access_denied</code>" in page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_try_again_after_a_cancelled_login_goes_back_to_the_page_it_was_for(fake):
    app = browser(fake)
    (link,) = _retry_links(_failed_callback(app))
    assert link == BASE_URL + "/login?return_to=/reports%3Fid%3D7"
    authorize = app.get(link[len(BASE_URL):]).headers["Location"]  # the same login again
    callback = provider_answer(authorize)
    assert app.get(callback[len(BASE_URL):]).headers["Location"] == BASE_URL + "/reports?id=7"


@pytest.mark.parametrize("referer, expected", [
    pytest.param(BASE_URL + "/orders?page=2", BASE_URL + "/login?return_to=/orders%3Fpage%3D2",
                 id="a-page-of-ours"),
    pytest.param("https://evil.example/orders", BASE_URL + "/login", id="another-site"),
    pytest.param(BASE_URL + "/callback?code=x", BASE_URL + "/login", id="our-own-callback"),
    pytest.param(None, BASE_URL + "/login", id="no-referer"),
])
def test_without_a_login_transaction_try_again_goes_to_the_page_they_came_from(fake, referer, expected):
    app = browser(fake)
    headers = {**HTML, **({"Referer": referer} if referer else {})}
    page = app.get("/callback", {"error": "access_denied", "state": "unknown"}, headers=headers, status=400)
    assert _retry_links(page) == [expected]


def test_a_login_that_fails_offers_the_same_login_again(fake):
    fake.discovery_overrides["issuer"] = "https://someone-else.example/"
    page = browser(fake).get("/login", {"return_to": "/reports"}, headers=HTML, status=502)
    assert _retry_links(page) == [BASE_URL + "/login?return_to=/reports"]


# -- operator details: the log, not the page (unless debug) -----------------------------------------------

def test_the_exact_fix_is_logged_not_shown(fake, caplog):
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    fake.discovery_overrides["issuer"] = fake.issuer.rstrip("/")
    fix = f"configure issuer = {fake.issuer.rstrip('/')} exactly"
    page = browser(fake).get("/login", headers=HTML, status=502)
    assert fix not in page.text and fake.issuer not in page.text
    assert "The sign-in provider sent an answer this site cannot use" in page.text
    assert fix in caplog.text


def test_debug_shows_the_fix_on_the_page_and_in_json(fake):
    fake.discovery_overrides["issuer"] = fake.issuer.rstrip("/")
    fix = f"configure issuer = {fake.issuer.rstrip('/')} exactly"
    app = browser(fake, debug=True)
    details = re.findall(r"<pre>(.*?)</pre>", app.get("/login", headers=HTML, status=502).text)
    assert len(details) == 1 and fix in details[0]
    body = app.get("/login", headers=JSON, status=502).json
    assert body["error"] == "issuer_mismatch" and fix in body["detail"]


def test_a_provider_that_cannot_be_reached_says_to_check_domain_in_the_log(fake, caplog, dropping_server):
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    dead = dropping_server("reset").url + "/"
    page = browser(fake, issuer=dead, http_timeout=0.5).get("/login", headers=HTML, status=503)
    assert "cannot be reached right now" in page.text and dead not in page.text
    assert "check that domain (or issuer) names the tenant" in caplog.text


def test_json_errors_stay_json_without_details(fake):
    body = _failed_callback(browser(fake), accept=JSON).json
    assert body == {"error": "access_denied", "error_description": "The sign-in was not completed: "
                                                                   "User cancelled"}


# -- error_template ---------------------------------------------------------------------------------------

TEMPLATE = """<!doctype html><html><head><title>{title} · Example</title>
<style>body { font-family: Georgia } .brand{color:#c00}</style></head>
<body><h1 class="brand">{title}</h1><p>{message}</p><a href="{retry_url}">Try again</a>
<small>{code}</small>{details}</body></html>"""


def test_an_error_template_matches_the_apps_look_with_every_value_escaped(fake, tmp_path: Path):
    template = tmp_path / "error.html"
    template.write_text(TEMPLATE, encoding="utf-8")
    app = browser(fake, error_template=str(template))
    _, authorize_url = start_login(app, "/a?b=1&c=2")
    page = app.get("/callback", {"error": "access_denied", "error_description": "<script>x</script>",
                                 "state": query(authorize_url)["state"]}, headers=HTML, status=400)
    assert '<h1 class="brand">Sign-in problem</h1>' in page.text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text and "<script>" not in page.text
    assert f'<a href="{BASE_URL}/login?return_to=/a%3Fb%3D1%26c%3D2">' in page.text
    assert "<small>access_denied</small></body>" in page.text  # {details}: empty without debug
    css = "body { font-family: Georgia } .brand{color:#c00}"
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert page.headers["Content-Security-Policy"] == (
        f"default-src 'none'; style-src 'self' 'sha256-{digest}'; img-src 'self' data:; font-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


@pytest.mark.parametrize("text, fragment", [
    pytest.param("<p>{message}</p><p>{user}</p>", "unknown placeholder {user}", id="unknown-placeholder"),
    pytest.param("<p>{Title}</p>", "unknown placeholder {Title}", id="placeholders-are-lower-case"),
    pytest.param("x" * (errorpage.MAX_TEMPLATE_BYTES + 1), "larger than 64 KB", id="too-large"),
])
def test_a_template_that_cannot_work_refuses_to_start_naming_the_option(tmp_path: Path, text, fragment):
    template = tmp_path / "error.html"
    template.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        _config(error_template=str(template))
    assert info.value.option == "error_template"
    assert fragment in str(info.value) and "{retry_url}" in str(info.value)


def test_a_template_that_is_not_utf8_or_missing_refuses_to_start(tmp_path: Path):
    latin1 = tmp_path / "latin1.html"
    latin1.write_bytes("<p>{message} café</p>".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"option 'error_template': .* is not UTF-8 text"):
        _config(error_template=str(latin1))
    with pytest.raises(ConfigError, match=r"option 'error_template': cannot read .*missing\.html"):
        _config(error_template=str(tmp_path / "missing.html"))


def test_css_braces_are_not_placeholders_and_a_path_object_is_accepted(tmp_path: Path):
    template = tmp_path / "error.html"
    template.write_text("<style>p{margin:0} a { color: red }</style><p>{message}</p>", encoding="utf-8")
    config = _config(error_template=template)
    assert config.error_template is not None and config.error_template.path == str(template)
    assert config.error_template.render(title="t", message="{title}", code="c", retry_url="/") == (
        "<style>p{margin:0} a { color: red }</style><p>{title}</p>")  # filled once, never again


def _config(**settings) -> Config:
    return Config.from_settings({"domain": "t.auth0.com", "client_id": "c", "client_secret": "s" * 40,
                                 "base_url": "https://app.example.com", "secret": "x" * 32,
                                 "audience": "https://api.example.com", **settings}, {})


# -- a logout that shows ----------------------------------------------------------------------------------

def test_after_logout_the_protected_landing_page_says_so_once(fake):
    app = browser(fake)
    log_in(app)
    logout = app.get("/logout")
    assert any(v.startswith("a0tx.out=1;") for k, v in logout.headerlist if k == "Set-Cookie")
    landing = app.get("/", headers=HTML)  # post_logout_redirect: base_url + "/", a protected page
    assert landing.status_int == 200 and "<h1>You are signed out</h1>" in landing.text
    assert _retry_links(landing) == [BASE_URL + "/login?return_to=/"]
    assert "REMOTE_USER" not in landing.text  # the app was not called
    assert app.get("/", headers=HTML).status_int == 302  # once: then the usual way to login


def test_a_public_landing_page_is_the_apps_own(fake):
    app = browser(fake, public_paths="/")
    log_in(app)
    logout = app.get("/logout")
    assert not any(v.startswith("a0tx.out=") for k, v in logout.headerlist if k == "Set-Cookie")
    assert app.get("/", headers=HTML).json["path"] == "/"


def test_a_new_login_clears_the_signed_out_marker(fake):
    app = browser(fake)
    log_in(app)
    app.get("/logout")
    assert "a0tx.out" in app.cookies
    log_in(app)
    assert "a0tx.out" not in app.cookies
