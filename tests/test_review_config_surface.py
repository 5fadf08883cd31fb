"""Review of the configuration surface (what an operator types, what we print back): each test
failed before its fix, and its docstring says what the defect was."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pytest

from auth0_wsgi import cli
from auth0_wsgi.config import Config
from auth0_wsgi.errors import ConfigError
from auth0_wsgi.middleware import Auth0Middleware
from tests.support.fake_provider import MFA_POLICY
from tests.support.flows import browser, log_in, start_login
from tests.support.inifiles import ini as ini  # a fixture, re-exported for pytest
from tests.support.servers import serve

REDIS_PASSWORD = "s3cret-redis-pass"
BASE = {"domain": "tenant.auth0.com", "client_id": "cid", "client_secret": "c" * 40,
        "base_url": "https://app.example.com", "secret": "k" * 40, "audience": ""}


def test_check_text_report_escapes_control_characters_a_provider_put_in_its_jwks_uri(ini, capsys, fake):
    """Was: `auth0-wsgi check` prints the discovery document's jwks_uri raw, so a hostile or
    broken provider writes terminal escapes and a forged "ok" line into the operator's report."""
    fake.discovery_overrides["jwks_uri"] = fake.issuer + "nokeys\x1b[2J\nok   forged line"
    assert cli.main(["check", ini()]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert not any(line.startswith("ok   forged") for line in out.splitlines())


def test_a_domain_with_a_port_that_is_no_number_refuses_to_start():
    """Was: `domain = tenant.auth0.com:abc` is accepted (the issuer becomes
    https://tenant.auth0.com:abc/), and every request then fails at discovery; `issuer` with the
    same port refuses to start."""
    with pytest.raises(ConfigError, match="'issuer'"):
        Config.from_settings(dict(BASE, domain=None, issuer="https://tenant.auth0.com:abc/"), environ={})
    with pytest.raises(ConfigError, match="'domain'"):
        Config.from_settings(dict(BASE, domain="tenant.auth0.com:abc"), environ={})


@pytest.mark.parametrize("option", ["secret", "client_secret", "client_private_key"])
@pytest.mark.parametrize("shape", [bytes, lambda value: [value.encode()]], ids=["bytes", "list-of-bytes"])
def test_a_secret_of_the_wrong_type_is_refused_without_echoing_it(option, shape):
    """Was: a secret passed as bytes (or a list of bytes) is refused with its repr in the
    ConfigError, so the secret lands in the start-up traceback and the server's log."""
    value = "TOP-SECRET-0123456789abcdefghijklmnopqrstuvwxyz"
    raw = value.encode() if shape is bytes else shape(value)
    with pytest.raises(ConfigError) as error:
        Config.from_settings(dict(BASE, **{option: raw}), environ={})
    assert "TOP-SECRET" not in error.value.message


@pytest.mark.parametrize("value", [5, 3.5], ids=["int", "float"])
def test_step_up_of_the_wrong_type_is_a_config_error(value):
    """Was: `step_up=5` (a kwarg) raises TypeError from stepup.parse_rules at start-up, a
    traceback instead of a ConfigError naming the option."""
    with pytest.raises(ConfigError, match="'step_up'"):
        Config.from_settings(dict(BASE, step_up=value), environ={})


def test_a_non_ascii_step_up_prefix_is_enforced_or_refused(fake):
    """Was: a step_up rule for a non-ASCII path is accepted but compared with PATH_INFO, which
    a server hands over as the request's UTF-8 bytes read as Latin-1: the rule never applies and the
    page is served without the step-up (fail-open). It must either apply or refuse to start."""
    rule = f"/konto-ü acr_values={MFA_POLICY}"
    try:
        app = browser(fake, step_up=rule)
    except ConfigError:
        return  # refused at start-up: fixed
    log_in(app)
    response = app.get("/konto-%C3%BC", headers={"Accept": "text/html"}, expect_errors=True)
    assert response.status_int != 200, "the step_up page was served to a session without the step-up"


@pytest.mark.parametrize(("option", "path"), [("login_path", "/anmelden-ä"), ("callback_path", "/rückruf")],
                         ids=["login_path", "callback_path"])
def test_a_non_ascii_route_path_is_reachable_or_refused(fake, option, path):
    """Was: `login_path = /anmelden-ä` or `callback_path = /rückruf` is accepted, but a browser
    asks for /r%C3%BCckruf, which reaches the middleware as PATH_INFO '/rÃ¼ckruf' (PEP 3333): the
    route never matches, so /login redirects to itself and the provider's answer never reaches the
    callback (no login can complete). It must either be reached or refuse to start."""
    try:
        app = browser(fake, **{option: path})
    except ConfigError:
        return  # refused at start-up: fixed
    response = app.get(quote(path) + "?code=made-up&state=made-up", headers={"Accept": "text/html"},
                       expect_errors=True)
    if option == "login_path":  # the login route sends the browser to the provider
        assert response.headers.get("Location", "").startswith(fake.issuer), response.headers.get("Location")
    else:  # the callback route refuses a state it never issued
        assert response.status_int == 400, (response.status, response.headers.get("Location"))


@pytest.mark.parametrize("url", [f"redis:{REDIS_PASSWORD}@127.0.0.1:1/0",
                                 f"redis:/:{REDIS_PASSWORD}@127.0.0.1:1/0"], ids=["no-slashes", "one-slash"])
def test_a_redis_url_missing_its_slashes_is_a_config_error(url):
    """Was: `session_store = redis:PASSWORD@host` (the `//` forgotten) passes the option check,
    then the middleware's start-up dies in redis-py with a plain ValueError (no option named)."""
    with pytest.raises(ConfigError, match="'session_store'"):
        Auth0Middleware(lambda environ, start_response: [], Config.from_settings(
            dict(BASE, session_store=url), environ={}))


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_check_never_prints_the_password_of_a_redis_url_missing_its_slashes(ini, capsys, json_flag):
    """Was: with `session_store = redis:PASSWORD@host` `auth0-wsgi check` prints the URL with
    its password four times: redact() masks only after '://', and the last-resort redaction finds no
    password with urlsplit either."""
    cli.main(["check", ini(session_store=f"redis:{REDIS_PASSWORD}@127.0.0.1:1/0"), *json_flag])
    out, err = capsys.readouterr()
    assert REDIS_PASSWORD not in out + err


def test_an_unreadable_private_key_file_is_a_config_error(tmp_path):
    """Was: `client_private_key = /path/of/key.pem` that this user cannot read (a key file
    owned by root, mode 0600, an app run as another user) raises PermissionError from
    client_auth.load_private_key: a traceback instead of a ConfigError naming the option."""
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n")
    key.chmod(0)
    settings = dict(BASE, client_secret=None, token_endpoint_auth_method="private_key_jwt",
                    client_private_key=str(key))
    code = textwrap.dedent(f"""
        from auth0_wsgi.config import Config
        from auth0_wsgi.errors import ConfigError
        try:
            Config.from_settings({settings!r}, environ={{}})
        except ConfigError as error:
            print("ConfigError", error.option)
    """)
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:  # root reads any file: drop the capabilities that let it, as an app user has none
        setpriv = shutil.which("setpriv")
        assert setpriv, "util-linux setpriv is needed to run this test as root"
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert "PermissionError" not in done.stderr, done.stderr[-400:]
    assert done.stdout.strip() == "ConfigError client_private_key"


@pytest.mark.slow  # a real Sentinel set
def test_a_sentinel_url_with_a_query_password_is_refused_or_never_logged(fake, redis_sentinel_url, caplog):
    """Was: `session_store = redis+sentinel://h:26379/mymaster?password=PASSWORD` is accepted
    with the query read as part of the service name ("mymaster?password=PASSWORD"): no master is
    ever found (every login is a 503), and the store's log line names the service, so the password
    is written to the log at each request."""
    password = "hunter2-query-pass"
    url = f"{redis_sentinel_url.removesuffix('/0')}?password={password}"  # .../mymaster?password=
    try:
        app = browser(fake, session_store=url)
    except ConfigError as error:
        assert password not in error.message
        return  # refused at start-up: fixed
    caplog.set_level(logging.DEBUG, logger="auth0_wsgi")
    callback, _ = start_login(app)
    response = app.get(callback, expect_errors=True)
    assert password not in caplog.text
    assert response.status_int == 302, response.status  # the session was stored


@pytest.mark.parametrize("date", ["Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
                                  "01 Jan 2020 00:00:00 +99999999999999999999999"], ids=["year", "offset"])
def test_check_survives_a_provider_date_header_that_overflows(ini, capsys, fake, date):
    """Was: `auth0-wsgi check` reads the provider's Date header in a response hook that catches
    only TypeError and ValueError; a Date whose year or offset overflows raises OverflowError out of
    the first request, and the whole check ends in a traceback instead of a report."""
    def dated(environ, start_response):
        def with_date(status, headers, exc_info=None):
            return start_response(status, [*(h for h in headers if h[0].lower() != "date"), ("Date", date)],
                                  exc_info)
        return fake(environ, with_date)

    with serve(dated) as url:
        fake.discovery_overrides["issuer"] = url + "/"
        status = cli.main(["check", ini(issuer=url + "/")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.splitlines()[-1].startswith("All checks passed")
