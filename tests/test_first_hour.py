"""A new user's commonest mistakes (issue 11's table), each made loud at start-up: what the user saw
before is in each test's docstring, what they see now is what it asserts.

The rest of the table lives beside the code it tests: the host mismatch in ``test_hosts.py``, the
operator's fixes kept off error pages in ``test_errorpage.py``.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
import webtest

from auth0_wsgi import Auth0Middleware
from auth0_wsgi.config import Config
from auth0_wsgi.errors import ConfigError
from tests.support.apps import echo_app
from tests.support.flows import log_in, settings_for
from tests.support.gunicorn import ROOT
from tests.support.http import JSON
from tests.support.redis_server import RedisServer
from tests.support.servers import free_port

SETTINGS: dict[str, Any] = {"domain": "tenant.us.auth0.com", "client_id": "my-client",
                            "client_secret": "c" * 40, "base_url": "https://app.example.com",
                            "secret": "s" * 40, "audience": "https://api.example.com"}
GUNICORN_RECORD = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:]+ [+-]\d{4}\] \[\d+\] \[[A-Z]+\] ")


def _start(caplog: pytest.LogCaptureFixture, **changes: Any) -> list[str]:
    """The warnings of one start with ``SETTINGS`` changed (None removes an option); only this
    thread's: other tests' background threads (session-cache listeners, revocation pollers) may log
    about their own Redis meanwhile."""
    caplog.clear()
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    settings = {k: v for k, v in {**SETTINGS, **changes}.items() if v is not None}
    lock_dir = {"AUTH0_REFRESH_LOCK_DIR": os.environ["AUTH0_REFRESH_LOCK_DIR"]}  # the test's own
    Auth0Middleware(echo_app, Config.from_settings(settings, lock_dir))
    this = threading.get_ident()
    return [record.getMessage() for record in caplog.records
            if record.levelno >= logging.WARNING and record.thread == this]


# -- no audience -------------------------------------------------------------------------------------------

def test_no_audience_warns_what_the_access_token_is_good_for(caplog):
    """Before: login worked, then the API answered 401 "Invalid JSON Web Signature", and nothing
    pointed to ``audience``."""
    (warning,) = _start(caplog, audience=None)
    assert "audience is not set" in warning
    assert "access token for its /userinfo endpoint only" in warning and "401" in warning
    assert "Set audience = <your API's identifier>" in warning


@pytest.mark.parametrize("audience", [pytest.param("https://api.example.com", id="set"),
                                      pytest.param("", id="left-empty-on-purpose")])
def test_an_audience_set_or_left_empty_on_purpose_says_nothing(caplog, audience):
    assert _start(caplog, audience=audience) == []


# -- no offline_access -------------------------------------------------------------------------------------

def test_a_scope_without_offline_access_warns_that_sessions_cannot_refresh(caplog):
    """Before: nothing; at expiry browsers silently went through the provider again, XHR and POST
    got 401."""
    (warning,) = _start(caplog, scope="openid profile email read:messages")
    assert "has no offline_access" in warning and "sessions cannot refresh" in warning
    assert "XHR and POST requests get 401" in warning and "Add offline_access to scope" in warning


# -- plain http on a public host ---------------------------------------------------------------------------

def test_a_plain_http_base_url_on_a_public_host_refuses_to_start():
    """Before: one bare stderr line, and session cookies without ``Secure``."""
    with pytest.raises(ConfigError) as info:
        Config.from_settings({**SETTINGS, "base_url": "http://app.example.com"}, {})
    assert info.value.option == "base_url"
    message = str(info.value)
    assert "session cookies would travel unencrypted" in message
    assert "https also when TLS ends at a proxy" in message and "allow_insecure_base_url = true" in message


def test_allowed_explicitly_it_starts_with_a_warning(caplog):
    (warning,) = _start(caplog, base_url="http://app.example.com", allow_insecure_base_url="true")
    assert "plain http (allow_insecure_base_url = true)" in warning


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"])
def test_plain_http_on_loopback_needs_nothing(caplog, base_url):
    assert _start(caplog, base_url=base_url) == []


# -- Redis unreachable -------------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["session_store", "revocation_store"])
def test_an_unreachable_redis_is_named_at_start_up_without_its_password(caplog, option):
    """Before: start-up passed; the user logged in at the provider, then got a 503, and the log said
    "ConnectionError" without the URL."""
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/3"
    warnings = _start(caplog, **{option: url})  # it still starts: Redis may come up after the app
    (warning,) = [w for w in warnings if "PING" in w]
    assert f"{option} redis://:***@127.0.0.1:" in warning and "/3 does not answer a PING" in warning
    assert "hunter2-secret" not in caplog.text
    assert "503" in warning


def test_a_redis_that_goes_down_is_named_in_the_log_of_each_refused_request(fake, caplog):
    """Before: a request refused with 503 while Redis was down logged a bare "ConnectionError"."""
    server = RedisServer().start()
    try:
        redis.Redis(port=server.port).config_set("requirepass", "hunter2-secret")
        url = f"redis://:hunter2-secret@127.0.0.1:{server.port}/5"
        middleware = Auth0Middleware(echo_app, **settings_for(fake, session_store=url))
        app = webtest.TestApp(middleware, extra_environ={"HTTP_HOST": "app.test"})
        log_in(app)
    finally:
        server.stop()
    caplog.clear()
    caplog.set_level(logging.WARNING, "auth0_wsgi")
    assert app.get("/x", headers=JSON, status=503).json["error"] == "session_store_unavailable"
    assert f"Redis at 127.0.0.1:{server.port}/5 unavailable" in caplog.text
    assert "hunter2-secret" not in caplog.text


@pytest.mark.parametrize("option", ["session_store", "revocation_store"])
def test_a_reachable_redis_says_nothing(caplog, redis_url, option):
    assert _start(caplog, **{option: redis_url}) == []


# -- gunicorn with a bad option ----------------------------------------------------------------------------

BAD_INI = """\
[app:echo]
use = call:tests.support.apps:echo

[filter:auth0]
use = egg:auth0-wsgi
domain = tenant.us.auth0.com
client_id = my-client
client_secret = {secret}
secret = {secret}
audience = https://api.example.com
base_url = http://app.example.com

[pipeline:main]
pipeline = auth0 echo
"""
REFUSAL = ("auth0-wsgi: option 'base_url': 'http://app.example.com' is plain http on a host that is not "
           "loopback: session cookies would travel unencrypted; write the https URL users open (https also "
           "when TLS ends at a proxy in front of the app), or set allow_insecure_base_url = true on a "
           "network you trust")


def _gunicorn_start(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    ini = tmp_path / "bad.ini"
    ini.write_text(BAD_INI.format(secret="x" * 40), encoding="utf-8")
    command = [sys.executable, "-m", "gunicorn", "--paste", str(ini), "--bind", f"127.0.0.1:{free_port()}",
               "--no-control-socket", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.mark.slow
def test_gunicorn_with_a_bad_option_ends_with_one_clear_line(tmp_path):
    """Before: the clear ConfigError came after a 50-line traceback."""
    run = _gunicorn_start(tmp_path)
    lines = run.stderr.splitlines()
    assert run.returncode == 4  # gunicorn's "App failed to load": the master stops, no worker reboots
    assert "Traceback" not in run.stderr
    assert lines.count(REFUSAL) == 1
    # gunicorn's master adds its own records after any worker's end ("Shutting down: Master", the
    # reason): the last line of ours is the refusal, and nothing else of ours is there
    assert [line for line in lines if not GUNICORN_RECORD.match(line)] == [REFUSAL]
    assert lines[-1].endswith("Reason: App failed to load.")


@pytest.mark.slow
def test_gunicorn_preload_with_a_bad_option_ends_with_the_refusal_as_its_last_line(tmp_path):
    run = _gunicorn_start(tmp_path, "--preload")  # the app loads in the master: nothing comes after
    assert run.returncode == 4
    assert "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1] == REFUSAL
