"""Log forging: no value from outside can start a line of its own in the operator's log."""

from __future__ import annotations

import ast
import json
import logging
import pathlib
from urllib.parse import quote

import pytest
import webtest
from joserfc import jwt

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.logs import escape_controls, get_logger
from auth0_wsgi.resource_server import ResourceServerMiddleware
from auth0_wsgi.sealing import b64encode
from tests.support.apps import echo_app
from tests.support.fake_provider import AUDIENCE, FakeProvider
from tests.support.flows import settings_for

PACKAGE = pathlib.Path(__file__).parent.parent / "auth0_wsgi"
FORGED = "\nCRITICAL auth0_wsgi: admin logged in"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        pytest.param("plain text", "plain text", id="plain"),
        pytest.param("a\nb", "a\\nb", id="newline"),
        pytest.param("a\r\nb", "a\\r\\nb", id="crlf"),
        pytest.param("\x1b[31mred", "\\x1b[31mred", id="ansi-escape"),
        pytest.param("a\x85b", "a\\x85b", id="c1-next-line"),
        pytest.param("a\u2028b", "a\\u2028b", id="unicode-line-separator"),
        pytest.param("tab\there", "tab\\there", id="tab"),
        pytest.param("é ü 漢", "é ü 漢", id="non-ascii-kept"),
    ],
)
def test_escape_controls(raw: str, escaped: str) -> None:
    assert escape_controls(raw) == escaped


def test_a_logged_argument_with_a_newline_stays_on_one_line(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger("auth0_wsgi.test_logs")
    with caplog.at_level(logging.INFO, logger="auth0_wsgi.test_logs"):
        log.info("provider said %s (%r)", "bad" + FORGED, {"x": 1})
    [record] = caplog.records
    assert "\n" not in record.getMessage()
    assert "\\nCRITICAL" in record.getMessage()


def test_every_module_logs_through_the_escaping_logger() -> None:
    """The class of bug, not the instance: a module with a bare logging.getLogger would log raw."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "getLogger" and path.name != "logs.py"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, f"use auth0_wsgi.logs.get_logger: {offenders}"


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [line for record in caplog.records if record.name.startswith("auth0_wsgi")
            for line in logging.Formatter("%(levelname)s %(name)s: %(message)s").format(record).splitlines()]


def test_a_newline_in_the_callbacks_error_description_forges_no_line(
        fake: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    app = webtest.TestApp(Auth0Middleware(echo_app, **settings_for(fake)),
                          extra_environ={"HTTP_HOST": "app.test"})
    with caplog.at_level(logging.DEBUG, logger="auth0_wsgi"):
        app.get(f"/callback?error=access_denied&state=x&error_description={quote('denied' + FORGED)}",
                status=400)
    lines = _lines(caplog)
    assert any("denied\\nCRITICAL" in line for line in lines), lines  # logged, escaped
    assert not any(line.startswith("CRITICAL auth0_wsgi: admin") for line in lines)


def test_a_newline_in_a_bearer_tokens_alg_forges_no_line(
        fake: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    api = webtest.TestApp(ResourceServerMiddleware(echo_app, issuer=fake.issuer, audience=AUDIENCE))
    signed = jwt.encode({"alg": "RS256", "kid": "k1"}, {"sub": "x"}, fake.key)
    forged_header = b64encode(json.dumps({"alg": "RS256" + FORGED}).encode())  # the client's to forge
    token = forged_header + signed[signed.index("."):]
    with caplog.at_level(logging.DEBUG, logger="auth0_wsgi"):
        api.get("/", headers={"Authorization": f"Bearer {token}"}, status=401)
    lines = _lines(caplog)
    assert any("\\nCRITICAL" in line for line in lines), lines
    assert not any(line.startswith("CRITICAL auth0_wsgi: admin") for line in lines)
