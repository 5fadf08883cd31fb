"""``scripts/demo`` as a newcomer runs it: it comes up, a login works through it, and Ctrl-C
(SIGINT) stops every process it started; no secret shows in a command line (``ps``); with
``--provider-only`` it starts the local provider alone, and what it prints logs one's own app in.
Its second API (``/billing``, ``additional_audiences``) and its MFA page (``/admin``, ``step_up``)
work after a login; without a billing audience ``/billing`` says so."""

from __future__ import annotations

import base64
import json
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from paste.deploy import loadapp

from auth0_wsgi import Auth0Middleware, get_access_token
from tests.support.apps import echo_app
from tests.support.demo import SECRET_VARIABLES, Demo, descendants
from tests.support.demo import ports as ports  # fixtures, re-exported for pytest
from tests.support.demo import start_demo as start_demo
from tests.support.examples import assert_shows_the_api_answer
from tests.support.gunicorn import ROOT
from tests.support.http import HTML
from tests.support.real_idp import Client, LocalIdP, login_via_form, require_local_idp, submit_one_time_code
from tests.support.servers import free_port, serve

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PROVIDER_READY = "ready: the local provider alone"
BILLING = "https://billing.example.com"  # the demo's second API, with the local provider


@pytest.fixture
def demo(start_demo: Callable[..., Demo]) -> Demo:
    return start_demo()


def test_demo_serves_a_login_and_ctrl_c_stops_everything(demo: Demo, ports: dict[str, int]) -> None:
    url = demo.wait_for_url()
    assert url == f"http://127.0.0.1:{ports['DEMO_APP_PORT']}"
    assert "Log in with any user name (e.g. alice) and any password" in demo.output()

    http = requests.Session()
    login_page = http.get(url + "/profile", headers=HTML, timeout=10)
    assert login_page.url.startswith(f"http://127.0.0.1:{ports['DEMO_IDP_PORT']}/")
    profile = login_via_form(http, login_page, "alice")
    assert '<strong class="name">Alice Example</strong>' in profile.text
    assert_shows_the_api_answer(http.get(url + "/messages", headers=HTML, timeout=10).text, "alice")

    started = descendants(demo.process.pid)
    commands = [_command(pid) for pid in started]
    app_workers = [c for c in commands if "development.ini" in c and "--workers 3" in c]
    assert len(app_workers) == 4, commands  # the gunicorn master and its 3 workers
    assert any("examples/api/api.ini" in c for c in commands)
    assert any("server.mjs" in c for c in commands)  # node, the provider
    _assert_no_secret_in_a_command_line(demo.secrets(), set(SECRET_VARIABLES))

    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(30) == 130
    assert _still_running(started, within=5) == []
    for port in ports.values():
        with pytest.raises(ConnectionRefusedError):  # nobody listens any more
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert demo.output().rstrip().endswith("demo: stopped.")


def test_provider_only_prints_what_logs_ones_own_app_in(start_demo: Callable[..., Demo],
                                                       ports: dict[str, int]) -> None:
    demo = start_demo("--provider-only")
    demo.wait_for(lambda output: PROVIDER_READY if PROVIDER_READY in output else None)
    printed = dict(re.findall(r"^    ([A-Za-z ]+):\s+(\S+)", demo.output(), re.MULTILINE))
    app_url = f"http://127.0.0.1:{ports['DEMO_APP_PORT']}"
    assert printed["issuer"] == f"http://127.0.0.1:{ports['DEMO_IDP_PORT']}/"
    assert printed["redirect URIs"] == f"{app_url}/callback"  # the first; localhost's follows
    assert f"http://localhost:{ports['DEMO_APP_PORT']}/callback" in demo.output()
    commands = [_command(pid) for pid in descendants(demo.process.pid)]
    assert any("server.mjs" in c for c in commands)
    assert not any("gunicorn" in c for c in commands)  # the provider alone
    assert demo.secrets() == {"LOCAL_IDP_CLIENT_SECRET": printed["client secret"]}
    _assert_no_secret_in_a_command_line(demo.secrets(), {"LOCAL_IDP_CLIENT_SECRET"})

    own_app = Auth0Middleware(echo_app, issuer=printed["issuer"], client_id=printed["client id"],
                              client_secret=printed["client secret"], audience=printed["audience"],
                              base_url=app_url, secret="x" * 32, http_timeout=5)
    with serve(own_app, ports["DEMO_APP_PORT"]):
        http = requests.Session()
        login_page = http.get(app_url + "/anything", headers=HTML, timeout=10)
        assert login_page.url.startswith(printed["issuer"])
        landed = login_via_form(http, login_page, "alice")
        assert landed.url == app_url + "/anything"
        assert landed.json()["REMOTE_USER"] == "alice"

    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(30) == 130
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports["DEMO_IDP_PORT"]), timeout=2).close()


@pytest.mark.parametrize("app", ["pyramid", "bottle"])
def test_the_billing_page_calls_the_second_api_and_the_admin_page_asks_for_mfa(
        app: str, start_demo: Callable[..., Demo], ports: dict[str, int]) -> None:
    demo = start_demo(DEMO_APP=app)
    url = demo.wait_for_url()
    assert "/billing calls the second API" in demo.output()
    assert "/admin asks for a second factor" in demo.output()
    billing_api = f"http://127.0.0.1:{ports['DEMO_BILLING_PORT']}"
    assert requests.get(billing_api + "/health", timeout=10).json() == {"status": "ok"}

    http = requests.Session()
    home = login_via_form(http, http.get(url + "/login?return_to=/", headers=HTML, timeout=10), "alice")
    assert 'href="/billing"' in home.text and 'href="/admin"' in home.text

    billing = http.get(url + "/billing", headers=HTML, timeout=10)
    assert billing.status_code == 200, billing.text
    assert f'<code class="api-audience">{BILLING}</code>' in billing.text
    assert f"at {billing_api}/messages answered" in billing.text
    assert '<code class="api-sub">alice</code>' in billing.text
    scopes = re.search(r'<code class="api-scopes">([^<]*)</code>', billing.text)
    assert scopes and "read:invoices" in scopes.group(1).split()  # the billing API's token, not the login's
    assert "read:messages" not in scopes.group(1).split()

    # /admin: the provider's password page again, then its one-time-code page, then back to /admin
    login_page = http.get(url + "/admin", headers=HTML, timeout=10)
    assert login_page.url.startswith(f"http://127.0.0.1:{ports['DEMO_IDP_PORT']}/")
    code_page = login_via_form(http, login_page, "alice")
    assert 'name="otp"' in code_page.text, code_page.text
    admin = submit_one_time_code(http, code_page)
    assert admin.url == url + "/admin"
    assert '<code class="amr">mfa</code>' in admin.text
    assert "You signed in with a second factor" in admin.text


@pytest.mark.parametrize(("app", "served"), [("flask", "examples/flask_app/flask_app.ini"),
                                             ("django", "django_example.wsgi")])
def test_demo_app_runs_the_flask_and_django_examples_too(
        app: str, served: str, start_demo: Callable[..., Demo], ports: dict[str, int],
        tmp_path: Path) -> None:
    demo = start_demo(DEMO_APP=app, DJANGO_DATABASE=str(tmp_path / "db.sqlite3"))  # not the repository's
    url = demo.wait_for_url()
    commands = [_command(pid) for pid in descendants(demo.process.pid)]
    assert len([c for c in commands if served in c and "--workers 3" in c]) == 4  # master and workers
    ready = demo.output().split("==> ready")[1]
    assert "/messages" in ready and "/billing" not in ready  # no /billing or /admin page: no billing API
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", ports["DEMO_BILLING_PORT"]), timeout=2).close()

    http = requests.Session()
    login_via_form(http, http.get(url + "/profile", headers=HTML, timeout=10), "alice")
    assert_shows_the_api_answer(http.get(url + "/messages", headers=HTML, timeout=10).text, "alice")


def test_provider_only_serves_the_second_api_too(start_demo: Callable[..., Demo],
                                                 ports: dict[str, int]) -> None:
    """The printed second API is one the provider issues tokens for, from the login's refresh token."""
    demo = start_demo("--provider-only")
    demo.wait_for(lambda output: PROVIDER_READY if PROVIDER_READY in output else None)
    printed = dict(re.findall(r"^    ([A-Za-z ]+):\s+(\S+)", demo.output(), re.MULTILINE))
    assert printed["second API"] == BILLING

    def billing_claims(environ: dict, start_response: Callable[..., object]) -> list[bytes]:
        token = get_access_token(environ, audience=BILLING)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(_claims(token or "")).encode()]

    app_url = f"http://127.0.0.1:{ports['DEMO_APP_PORT']}"
    own_app = Auth0Middleware(billing_claims, issuer=printed["issuer"], client_id=printed["client id"],
                              client_secret=printed["client secret"], audience=printed["audience"],
                              additional_audiences=BILLING, scope="openid profile email offline_access",
                              base_url=app_url, secret="x" * 32, http_timeout=5)
    with serve(own_app, ports["DEMO_APP_PORT"]):
        http = requests.Session()
        claims = login_via_form(http, http.get(app_url + "/", headers=HTML, timeout=10), "alice").json()
    assert claims["sub"] == "alice"
    assert BILLING in claims["aud"] and printed["audience"] not in claims["aud"]
    assert "read:invoices" in claims["scope"].split()


@pytest.mark.parametrize("ini", ["examples/pyramid_app/development.ini",
                                 "examples/bottle_app/bottle_app.ini"])
@pytest.mark.parametrize(("billing_audience", "status", "says"), [
    ("", 200, "No billing API is configured"),  # the demo against a tenant without AUTH0_BILLING_AUDIENCE
    ("https://unknown.example.com", 403, "the sign-in service refused an access token for it"),
])
def test_the_billing_page_without_a_usable_second_api(ini: str, billing_audience: str, status: int, says: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The app loaded as the demo starts it, ``--paste-global billing_audience=...``, with a provider
    that knows the login's API only; the rest of the site works on."""
    require_local_idp()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    client = Client("billing-less", "billing-less-secret", [base_url + "/callback"], [base_url + "/"])
    with LocalIdP([client]) as idp:
        monkeypatch.syspath_prepend(str(ROOT / Path(ini).parent))
        for name, value in {"ISSUER": idp.issuer, "CLIENT_ID": client.client_id, "AUDIENCE": idp.audience,
                            "CLIENT_SECRET": client.client_secret, "SECRET": "s" * 40,
                            "BASE_URL": base_url}.items():
            monkeypatch.setenv(f"AUTH0_{name}", value)
        app = loadapp(f"config:{ini}", relative_to=str(ROOT),
                      global_conf={"billing_audience": billing_audience})
        with serve(app, port) as url:
            http = requests.Session()
            login_via_form(http, http.get(url + "/login?return_to=/", headers=HTML, timeout=10), "alice")
            page = http.get(url + "/billing", headers=HTML, timeout=10)
            assert page.status_code == status
            assert says in page.text
            assert http.get(url + "/profile", headers=HTML, timeout=10).status_code == 200  # still logged in


def _claims(token: str) -> dict[str, object]:
    """A JWT's payload, unverified: what the provider put in the token it issued to the test."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_the_demo_installs_the_runtime_only_not_the_test_tools() -> None:
    installs = [line for line in (ROOT / "scripts" / "demo").read_text().splitlines()
                if "pip install" in line and not line.lstrip().startswith("#")]
    packages = [line for line in installs if "--upgrade pip" not in line]
    assert packages, "the demo installs nothing: this test would prove nothing"
    for line in packages:
        assert "[test" not in line and "pytest" not in line and "playwright" not in line, line
    assert any("'.[paste]'" in line for line in packages)


def _assert_no_secret_in_a_command_line(secrets: dict[str, str], expected: set[str]) -> None:
    """What ``ps`` shows every user of the machine: the command lines of all its processes."""
    assert set(secrets) == expected, secrets
    listing = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "server.mjs" in listing  # ps sees the demo's processes
    for name, value in secrets.items():
        assert value not in listing, f"{name} shows in a command line"
        assert not any(value in _command(pid) for pid in _all_pids()), f"{name} shows in /proc/*/cmdline"


def _all_pids() -> list[int]:
    return [int(path.name) for path in Path("/proc").iterdir() if path.name.isdigit()]


def _command(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _still_running(pids: list[int], within: float) -> list[int]:
    """The pids that have not ended (zombies count as ended) after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = [pid for pid in pids if _running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)  # real time: waiting for processes to exit


def _running(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
