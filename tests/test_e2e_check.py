"""``auth0-wsgi check`` against the real provider (node-oidc-provider, configured like Auth0): a good
deployment passes; an unregistered callback, a wrong client secret, a wrong issuer, an unknown audience
and an unreachable Redis each fail on their own line; no secret is ever printed. Run in-process for
the verdicts, and once each as ``python -m auth0_wsgi`` and as the installed console script."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from auth0_wsgi import cli
from tests.support.inifiles import login_filter_ini
from tests.support.real_idp import Client, LocalIdP, require_local_idp
from tests.support.servers import free_port, require_component

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
PORT = free_port()  # the app's: nothing listens there, the check never calls the app
CLIENT_SECRET = f"check:secret%+{secrets.token_hex(8)}"
SESSION_SECRET = secrets.token_urlsafe(32)
REDIS_PASSWORD = f"redis-{secrets.token_hex(6)}"
ALL_PASS = {"configuration", "discovery", "jwks", "client_credentials", "callback_url", "audience",
            "offline_access", "session_store", "revocation_store", "lock_directory", "clock"}


@pytest.fixture(scope="module")
def idp():
    require_local_idp()
    client = Client("app-check", CLIENT_SECRET, [f"http://127.0.0.1:{PORT}/callback"])
    with LocalIdP([client]) as provider:
        yield provider


@pytest.fixture
def deployment(idp, tmp_path, monkeypatch):
    """An ini as production writes it: the client secret and session secret in the environment."""
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("AUTH0_SECRET", SESSION_SECRET)

    def write(**options: str) -> str:
        settings = {"issuer": idp.issuer, "client_id": "app-check", "base_url": f"http://127.0.0.1:{PORT}",
                    "audience": idp.audience, "http_timeout": "5"}
        settings.update(options)
        return login_filter_ini(tmp_path, raw={"refresh_lock_dir": "%(state)s/locks"}, **settings)
    return write


def _check(capsys, path: str, *extra: str) -> tuple[int, dict[str, dict]]:
    status = cli.main(["check", path, "--json", *extra])
    out, err = capsys.readouterr()
    _no_secret(out + err)
    return status, {item["name"]: item for item in json.loads(out)}


def _no_secret(text: str) -> None:
    for secret in (CLIENT_SECRET, SESSION_SECRET, REDIS_PASSWORD):
        assert secret not in text


def _failed(report: dict[str, dict]) -> set[str]:
    return {name for name, item in report.items() if item["ok"] is False}


def test_a_good_deployment_passes_every_check(deployment, capsys, tmp_path):
    status, report = _check(capsys, deployment())
    assert status == 0
    assert {name for name, item in report.items() if item["ok"]} == ALL_PASS
    assert "the provider knows https://api.example.com" in report["audience"]["detail"]
    assert report["lock_directory"]["detail"].startswith(f"{tmp_path}/state/locks:")  # %(here)s, [DEFAULT]


def test_server_side_sessions_in_a_real_redis(deployment, capsys, redis_url):
    status, report = _check(capsys, deployment(session_store=redis_url))
    assert status == 0
    assert report["session_store"]["ok"] is True
    assert report["revocation_store"]["ok"] is report["lock_directory"]["ok"] is None  # not used


def test_an_unregistered_callback(deployment, capsys):
    status, report = _check(capsys, deployment(base_url=f"http://127.0.0.1:{free_port()}"))
    assert status == 1 and _failed(report) == {"callback_url"}
    assert "invalid_redirect_uri" in report["callback_url"]["detail"]
    assert "Allowed Callback URLs" in report["callback_url"]["fix"]


def test_a_wrong_client_secret(deployment, capsys, monkeypatch):
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", CLIENT_SECRET + "-old")
    status, report = _check(capsys, deployment())
    assert status == 1 and _failed(report) == {"client_credentials"}
    assert "invalid_client" in report["client_credentials"]["detail"]


def test_a_wrong_issuer_names_the_right_one(deployment, idp, capsys):
    status, report = _check(capsys, deployment(issuer=idp.issuer.rstrip("/")))
    assert status == 1 and _failed(report) == {"discovery"}
    assert f"configure issuer = {idp.issuer} exactly" in report["discovery"]["detail"]


def test_an_unknown_audience(deployment, capsys):
    status, report = _check(capsys, deployment(audience="https://no-such-api.example.com"))
    assert status == 1 and _failed(report) == {"audience"}
    assert "invalid_target" in report["audience"]["detail"]


def test_an_unreachable_redis(deployment, capsys):
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"
    status, report = _check(capsys, deployment(session_store=url))
    assert status == 1 and _failed(report) == {"session_store"}
    assert "ConnectionError" in report["session_store"]["detail"]


def test_python_dash_m_prints_the_report(deployment):
    path = deployment(client_secret=CLIENT_SECRET)  # in the ini too: still never printed
    done = subprocess.run([sys.executable, "-m", "auth0_wsgi", "check", path], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stdout + done.stderr
    _no_secret(done.stdout + done.stderr)
    lines = done.stdout.splitlines()
    assert lines[0] == f"auth0-wsgi check: [filter:auth0] of {path}"
    assert all(line.startswith("✓ ") for line in lines[1:-1]) and len(lines) == 13
    assert lines[-1] == "All checks passed."


def test_the_console_script_exits_1_on_a_failure(deployment):
    script = Path(sys.executable).parent / "auth0-wsgi"
    require_component(script.exists(), "the auth0-wsgi console script (pip install -e .)")
    path = deployment(base_url=f"http://127.0.0.1:{free_port()}")
    done = subprocess.run([str(script), "check", path, "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stderr
    _no_secret(done.stdout + done.stderr)
    assert [item["name"] for item in json.loads(done.stdout) if item["ok"] is False] == ["callback_url"]
