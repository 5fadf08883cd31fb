"""On error paths, neither the page nor any log line holds a token, code, state, verifier, secret or cookie.

tests/test_log_hygiene.py covers the happy path (login, refresh, logout) and one provider error; this
runs every kind of failure — provider errors, dropped connections, bad ID and logout tokens, refused
refreshes, Redis down (with a password in its URL) — and checks both what the browser gets and every log
record (tracebacks included) at DEBUG, third-party libraries included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import webtest
from joserfc.jwk import RSAKey

from tests.support.fake_provider import CLIENT_SECRET
from tests.support.flows import SECRET, browser, start_login
from tests.support.http import HTML, JSON, cookie_header, query
from tests.support.logout_tokens import logout_token
from tests.support.logs import quiet_urllib3
from tests.support.servers import free_port

REDIS_PASSWORD = "redis-pass-7f3a9c1e"


@dataclass
class Tools:
    dropping_server: Callable[[str], Any]
    stranger: RSAKey  # a key of our own, with the provider's kid


@dataclass
class Run:
    """What a scenario produced: the responses the browser got and the secrets that were in play."""

    fake: Any
    responses: list[Any] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)

    def begin(self, app: webtest.TestApp) -> str:
        with quiet_urllib3():
            callback, authorize_url = start_login(app)
        params = query(authorize_url)
        self.secrets.update({"code": query(callback)["code"], "state": params["state"],
                             "nonce": params["nonce"]})
        self.secrets.update({f"login cookie {k}": v for k, v in app.cookies.items() if k.startswith("a0tx.")})
        return callback

    def login(self, app: webtest.TestApp) -> None:
        callback = self.begin(app)
        assert app.get(callback).status_int == 302
        self.secrets.update({f"cookie {k}": v for k, v in app.cookies.items()})
        self.secrets.update({f"refresh token {i}": t for i, t in enumerate(self.fake.refresh_tokens)})

    def get(self, app: webtest.TestApp, url: str, status: int | str = "*", **kwargs: Any) -> Any:
        response = app.get(url, status=status, **kwargs)
        self.responses.append(response)
        return response


Setup = Callable[[Any, "Tools"], None]


def _callback_failing(setup: Setup, accept: dict[str, str] = JSON, *, before_login: bool = False):
    def scenario(run: Run, tools: Tools) -> None:
        if before_login:  # e.g. an endpoint in discovery, which the login reads (and caches)
            setup(run.fake, tools)
        app = browser(run.fake)
        callback = run.begin(app)
        if not before_login:
            setup(run.fake, tools)
        run.get(app, callback, headers=accept)
        run.secrets["verifier"] = run.fake.last_token_request.get("code_verifier", "no-token-request")
    return scenario


def _set(**knobs: Any) -> Setup:
    return lambda fake, tools: [setattr(fake, k, v) for k, v in knobs.items()]


def _claims(change: Callable[[dict], dict]) -> Setup:
    return lambda fake, tools: setattr(fake, "id_token_claims", change)


def _drop_token_endpoint(fake: Any, tools: Tools) -> None:
    fake.discovery_overrides["token_endpoint"] = tools.dropping_server("reset").url + "/token"


def _refresh_failing(setup: Setup, *, ttl: int):
    def scenario(run: Run, tools: Tools) -> None:
        run.fake.access_token_ttl = ttl  # 30: due but valid; 0: expired
        app = browser(run.fake, public_paths="/public")
        run.login(app)
        setup(run.fake, tools)
        run.get(app, "/x", headers=JSON)
        run.get(app, "/public/x", headers=HTML)
    return scenario


def _backchannel(make_token: Callable[[Any, Tools], str], times: int = 1):
    def scenario(run: Run, tools: Tools) -> None:
        app = browser(run.fake)
        token = make_token(run.fake, tools)
        run.secrets["logout token"] = token
        for _ in range(times):
            response = app.post("/backchannel-logout", {"logout_token": token}, status="*")
            run.responses.append(response)
    return scenario


def _dead_redis(kind: str) -> str:
    """A Redis URL of ``kind`` (one node, Sentinel, Cluster) with a password, where nothing listens."""
    if kind == "sentinel":
        return f"redis+sentinel://:{REDIS_PASSWORD}@127.0.0.1:{free_port()},127.0.0.1:{free_port()}/mymaster"
    if kind == "cluster":
        return f"redis+cluster://:{REDIS_PASSWORD}@127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{free_port()}/0"


def _redis_down(kind: str) -> Callable[[Run, Tools], None]:
    def scenario(run: Run, tools: Tools) -> None:
        memory = browser(run.fake, session_store="memory")
        run.login(memory)
        run.secrets["redis password"] = REDIS_PASSWORD
        down = browser(run.fake, session_store=_dead_redis(kind))
        cookies = cookie_header(dict(memory.cookies))
        run.get(down, "/x", headers={**JSON, "Cookie": cookies})
        run.get(down, "/page", headers={**HTML, "Cookie": cookies})
        run.get(down, "/logout", headers={"Cookie": cookies})
    return scenario


def _revocations_in_redis_down(kind: str) -> Callable[[Run, Tools], None]:
    def scenario(run: Run, tools: Tools) -> None:
        """Only the POST: loading a cookie session would start the revocation poller (a thread)."""
        run.secrets["redis password"] = REDIS_PASSWORD
        app = browser(run.fake, revocation_store=_dead_redis(kind))
        token = logout_token(run.fake)
        run.secrets["logout token"] = token
        run.responses.append(app.post("/backchannel-logout", {"logout_token": token}, status="*"))
    return scenario


SCENARIOS = [
    pytest.param(_callback_failing(_set(token_mode="500")), id="token-endpoint-500"),
    pytest.param(_callback_failing(_set(token_mode="html"), HTML), id="token-endpoint-html"),
    pytest.param(_callback_failing(_set(token_mode="truncated")), id="token-endpoint-truncated-json"),
    pytest.param(_callback_failing(_set(token_mode="error:server_error"), HTML),
                 id="token-endpoint-server-error"),
    pytest.param(_callback_failing(_set(token_mode="error:invalid_grant")),
                 id="token-endpoint-invalid-grant"),
    pytest.param(_callback_failing(_set(auth_method="client_secret_basic")),
                 id="token-endpoint-invalid-client"),
    pytest.param(_callback_failing(_drop_token_endpoint, before_login=True),
                 id="token-endpoint-connection-reset"),
    pytest.param(_callback_failing(_claims(lambda c: {**c, "nonce": "other"}), HTML),
                 id="id-token-wrong-nonce"),
    pytest.param(_callback_failing(_claims(lambda c: {**c, "aud": "other"})), id="id-token-wrong-audience"),
    pytest.param(_callback_failing(_claims(lambda c: {**c, "exp": c["iat"] - 3600})), id="id-token-expired"),
    pytest.param(_callback_failing(lambda fake, tools: setattr(fake, "sign_with", tools.stranger)),
                 id="id-token-wrong-signature"),
    pytest.param(_refresh_failing(_set(token_mode="error:invalid_grant"), ttl=30), id="refresh-refused"),
    pytest.param(_refresh_failing(_set(token_mode="500"), ttl=0), id="refresh-provider-500-token-expired"),
    pytest.param(_refresh_failing(_set(token_mode="html"), ttl=0), id="refresh-provider-html-token-expired"),
    pytest.param(_refresh_failing(_set(refresh_sub="auth0|mallory"), ttl=30),
                 id="refresh-id-token-for-another-user"),
    pytest.param(_backchannel(lambda fake, tools: logout_token(fake, key=tools.stranger)),
                 id="backchannel-wrong-signature"),
    pytest.param(_backchannel(lambda fake, tools: logout_token(fake, iat=1, exp=2)),
                 id="backchannel-expired"),
    pytest.param(_backchannel(lambda fake, tools: logout_token(fake, aud="other")),
                 id="backchannel-wrong-audience"),
    pytest.param(_backchannel(lambda fake, tools: logout_token(fake), times=2), id="backchannel-replayed"),
    pytest.param(_backchannel(lambda fake, tools: "secret-looking-garbage-" + "x" * 40),
                 id="backchannel-not-a-jwt"),
    pytest.param(_redis_down("one-node"), id="redis-session-store-down"),
    pytest.param(_redis_down("sentinel"), id="redis-sentinel-session-store-down"),
    pytest.param(_redis_down("cluster"), id="redis-cluster-session-store-down"),
    pytest.param(_revocations_in_redis_down("one-node"), id="redis-revocation-store-down"),
    pytest.param(_revocations_in_redis_down("sentinel"), id="redis-sentinel-revocation-store-down"),
    pytest.param(_revocations_in_redis_down("cluster"), id="redis-cluster-revocation-store-down"),
]


@pytest.fixture(scope="module")
def stranger() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid as the real key, other key


@pytest.fixture
def run_scenario(fake, issued, caplog, dropping_server, stranger):
    def run(scenario: Callable[[Run, Tools], None]) -> tuple[Run, str]:
        caplog.set_level(logging.DEBUG)  # everything, third-party libraries included
        run = Run(fake)
        scenario(run, Tools(dropping_server, stranger))
        run.secrets.update({"client secret": CLIENT_SECRET, "session secret": SECRET})
        run.secrets.update({f"id token {i}": t for i, t in enumerate(issued.id_tokens)})
        run.secrets.update({f"access token {i}": t for i, t in enumerate(issued.access_tokens)})
        formatter = logging.Formatter("%(message)s %(args)s")
        logs = "\n".join(formatter.format(record) for record in caplog.records)
        return run, logs
    return run


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_error_pages_hold_no_traceback_token_code_state_or_secret(run_scenario, scenario):
    run, _ = run_scenario(scenario)
    pages = [r for r in run.responses if r.status_int >= 400]
    assert pages, "the scenario produced no error page: it proves nothing"
    for page in pages:
        shown = page.text + "\n".join(f"{k}: {v}" for k, v in page.headerlist)
        assert "Traceback" not in shown and 'File "' not in shown
        for name, value in run.secrets.items():
            assert value and value not in shown, f"the {name} is on a {page.status} page"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_error_paths_log_no_token_code_state_or_secret(run_scenario, scenario):
    run, logs = run_scenario(scenario)
    assert logs, "nothing was logged at all: the test would prove nothing"
    for name, value in run.secrets.items():
        assert value and value not in logs, f"the {name} reached a log line"
