"""Start and drive the local, Auth0-like OpenID provider (``server.mjs``).

Library use (tests)::

    with LocalIdP([Client("app", "secret", ["http://127.0.0.1:8000/callback"])]) as idp:
        ...  # idp.issuer == "http://127.0.0.1:<port>/"

Command line (the demo), runs in the foreground until Ctrl-C; the client secret comes from the
environment, so that it never shows in ``ps``::

    LOCAL_IDP_CLIENT_SECRET=secret python examples/local_idp/local_idp.py --port 9400 \\
        --client-id app --redirect-uri http://127.0.0.1:8000/callback \\
        --post-logout-redirect-uri http://127.0.0.1:8000/ \\
        --api https://api.example.com="read:messages write:messages" \\
        --api https://billing.example.com=read:invoices --organization org_abc123:acme

Needs Node.js and ``npm ci`` run once in this directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import IO
from urllib.parse import urljoin

import requests

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.mjs"
READY_PREFIX = "LOCAL_IDP_READY "
DEFAULT_AUDIENCE = "https://api.example.com"
ANY_PASSWORD = "any password"  # the development login form accepts every password
ONE_TIME_CODE = "123456"  # the step-up (MFA) page accepts any 6 digits
MFA_POLICY = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"  # acr_values for step-up
SECRET_VARIABLE = "LOCAL_IDP_CLIENT_SECRET"  # the CLI's client secret, kept out of its command line


@dataclass
class Api:
    """An Auth0 API (resource server): its identifier (the audience) and its scopes."""

    identifier: str
    scopes: str = ""


@dataclass
class Organization:
    """An Auth0 Organization; invitations are the tickets accepted with its id."""

    id: str
    name: str
    invitations: list[str] = field(default_factory=list)


@dataclass
class Client:
    """A registered relying party (OAuth client metadata, snake_case as on the wire)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    token_endpoint_auth_method: str = "client_secret_post"
    id_token_signed_response_alg: str = "RS256"
    backchannel_logout_uri: str | None = None
    jwks: dict[str, object] | None = None  # the client's public keys, for private_key_jwt
    apis: list[str] | None = None  # MRRT policy: API identifiers it may refresh for (None: all)

    def metadata(self) -> dict[str, object]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def ensure_installed(node: str = "node") -> None:
    """Raise a RuntimeError saying what to do when Node or the npm deps are missing."""
    if shutil.which(node) is None:
        raise RuntimeError(f"Node.js executable {node!r} not found; install Node.js to run the local IdP")
    if not (HERE / "node_modules" / "oidc-provider" / "package.json").is_file():
        raise RuntimeError("oidc-provider is not installed: run `npm ci` in examples/local_idp")


class LocalIdP:
    """The provider as a child process; a context manager that starts and stops it."""

    issuer: str
    port: int
    audience: str

    def __init__(
        self,
        clients: list[Client],
        *,
        audience: str = DEFAULT_AUDIENCE,
        access_token_ttl: int = 3600,
        port: int = 0,
        node: str = "node",
        echo_stderr: bool = False,
        apis: list[Api] | None = None,
        organizations: list[Organization] | None = None,
        require_par: bool = False,
    ) -> None:
        self.clients = clients
        self.audience = audience  # the first API; `apis` adds more (see server.mjs)
        self.apis = apis or []
        self.organizations = organizations or []
        self.require_par = require_par
        self.access_token_ttl = access_token_ttl
        self.port = port
        self.issuer = ""
        self.node = node
        # echo_stderr shows the provider's log on our stderr (the CLI); by
        # default it is kept, and shown in the error if the provider dies.
        self.echo_stderr = echo_stderr
        self._process: subprocess.Popen[bytes] | None = None
        self._files = ExitStack()  # the temp files below live from start() to stop()
        self._stdout: IO[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    def config(self) -> dict[str, object]:
        """The JSON handed to server.mjs in LOCAL_IDP_CONFIG."""
        return {
            "port": self.port,
            "audience": self.audience,
            "access_token_ttl": self.access_token_ttl,
            "apis": [asdict(api) for api in self.apis],
            "organizations": [asdict(org) for org in self.organizations],
            "require_par": self.require_par,
            "clients": [client.metadata() for client in self.clients],
        }

    def start(self, timeout: float = 30.0, attempts: int = 2) -> LocalIdP:
        """Start node and wait for its READY line; one that hangs is started again.

        A provider that neither prints READY nor exits within ``timeout`` seconds is stopped and
        started once more (``attempts`` in all), after a line on stderr saying what its process
        was doing (state, CPU time, kernel wait channel): a start that hangs has been seen once
        in CI, and this line is how the next one gets explained.
        """
        ensure_installed(self.node)
        for attempt in range(1, attempts + 1):
            try:
                self.issuer = self._start_once(timeout)
                break
            except _NotReady as hung:
                message = f"local IdP not ready after {timeout}s ({hung.diagnosis})"
                if attempt == attempts:
                    raise RuntimeError(f"{message}:\n{hung.stderr}") from None
                print(f"{message}; starting it again", file=sys.stderr, flush=True)
        self.port = int(self.issuer.rstrip("/").rsplit(":", 1)[1])
        return self

    def _start_once(self, timeout: float) -> str:
        # Files, not pipes: nobody reads a pipe once the provider is up, and a
        # full pipe would block it. They stay open until stop().
        self._stdout = self._files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        if not self.echo_stderr:
            self._stderr = self._files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
        env = {**os.environ, "LOCAL_IDP_CONFIG": json.dumps(self.config())}
        env.pop("NODE_ENV", None)  # "production" would make oidc-provider refuse plain http
        self._process = subprocess.Popen(
            [self.node, str(SERVER)],
            cwd=HERE,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
        )
        try:
            return self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, timeout: float) -> str:
        assert self._process is not None and self._stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in _read_all(self._stdout).splitlines():
                if line.startswith(READY_PREFIX):
                    return line.removeprefix(READY_PREFIX).strip()
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"local IdP exited with code {self._process.returncode} before it was ready:\n"
                    f"{self._stderr_text()}"
                )
            time.sleep(0.05)
        raise _NotReady(process_diagnosis(self._process.pid), self._stderr_text())

    def _stderr_text(self) -> str:
        return _read_all(self._stderr) if self._stderr else "(its log is above, on stderr)"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; always reaps the child and closes files."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            process.wait()
        self._files.close()
        self._stdout = self._stderr = None

    def wait(self) -> int:
        """Block until the provider exits (the CLI's foreground mode)."""
        assert self._process is not None, "not started"
        return self._process.wait()

    def url(self, path: str) -> str:
        return urljoin(self.issuer, path.lstrip("/"))

    def stats(self) -> dict[str, int]:
        """Token-endpoint request counts per grant_type, plus "<grant_type>_errors"."""
        response = requests.get(self.url("__stats"), timeout=10)
        response.raise_for_status()
        stats: dict[str, int] = response.json()
        return stats

    def reset_stats(self) -> None:
        requests.post(self.url("__stats/reset"), timeout=10).raise_for_status()

    def __enter__(self) -> LocalIdP:
        """Starts it, unless ``start()`` (with its own timeout) already did."""
        return self if self._process is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _NotReady(Exception):
    """The provider neither printed READY nor exited in time."""

    def __init__(self, diagnosis: str, stderr: str) -> None:
        super().__init__(diagnosis)
        self.diagnosis, self.stderr = diagnosis, stderr


def process_diagnosis(pid: int) -> str:
    """What a process is doing, from /proc: its state, CPU seconds and kernel wait channel.

    Running with its CPU time growing is busy work; sleeping in ``ep_poll`` is an event loop
    waiting for something that never comes; another wait channel is a blocking system call.
    """
    proc = Path("/proc") / str(pid)
    try:
        # Fields after the command name, which may hold spaces: state is the 1st, utime and
        # stime the 12th and 13th (man 5 proc), in clock ticks.
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        threads = len(list((proc / "task").iterdir()))
        wchan = (proc / "wchan").read_text().strip()
    except (OSError, IndexError, ValueError):
        return f"pid {pid}: no /proc details"
    waiting = f", waiting in {wchan}" if wchan not in ("", "0") else ""  # "0": on a CPU
    return f"pid {pid}: state {fields[0]}, {cpu:.2f} s of CPU, {threads} threads{waiting}"


def _read_all(stream: IO[bytes]) -> str:
    stream.seek(0)
    return stream.read().decode("utf-8", "replace")


# --------------------------------------------------------- browser helpers


class _FormParser(HTMLParser):
    """Collects the first <form>'s action and its hidden inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
            self._in_form = True
        elif tag == "input" and self._in_form and attributes.get("type") == "hidden":
            self.fields[attributes.get("name", "")] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def _parse_form(response: requests.Response) -> tuple[str, dict[str, str]]:
    parser = _FormParser()
    parser.feed(response.text)
    if not parser.action:
        raise ValueError(f"no form in the response from {response.url} (HTTP {response.status_code})")
    return urljoin(response.url, parser.action), parser.fields


def follow_redirects(
    http: requests.Session, response: requests.Response, stop_at_redirect_to: str | None = None
) -> requests.Response:
    """Follow redirects with GET; return the first one whose Location starts with
    stop_at_redirect_to (unfollowed), or the first non-redirect response."""
    for _ in range(30):
        if not response.is_redirect:
            return response
        location = urljoin(response.url, response.headers["Location"])
        if stop_at_redirect_to is not None and location.startswith(stop_at_redirect_to):
            return response
        response = http.get(location, allow_redirects=False, timeout=10)
    raise RuntimeError("too many redirects")


def _submit_form(
    http: requests.Session,
    page: requests.Response,
    fields: dict[str, str],
    stop_at_redirect_to: str | None,
) -> requests.Response:
    action, hidden = _parse_form(page)
    response = http.post(action, data={**hidden, **fields}, allow_redirects=False, timeout=10)
    return follow_redirects(http, response, stop_at_redirect_to)


def login_via_form(
    http: requests.Session,
    response: requests.Response,
    user: str = "alice",
    *,
    stop_at_redirect_to: str | None = None,
) -> requests.Response:
    """Given the response that landed on the provider's login page (after following
    redirects from the app's /login or the /authorize URL), fill in the
    devInteractions form and follow redirects; return the final response.

    With stop_at_redirect_to (a URL prefix, e.g. the client's redirect_uri), the
    redirect whose Location starts with it is returned unfollowed."""
    fields = {"prompt": "login", "login": user, "password": ANY_PASSWORD}
    return _submit_form(http, response, fields, stop_at_redirect_to)


def submit_one_time_code(
    http: requests.Session,
    response: requests.Response,
    code: str = ONE_TIME_CODE,
    *,
    stop_at_redirect_to: str | None = None,
) -> requests.Response:
    """Given the step-up page that login_via_form returned (after acr_values asked for
    MFA_POLICY), submit the one-time code and follow redirects like login_via_form."""
    return _submit_form(http, response, {"otp": code}, stop_at_redirect_to)


def confirm_logout(
    http: requests.Session, response: requests.Response, stop_at_redirect_to: str | None = None
) -> requests.Response:
    """Submit the end-session page's self-submitting form (a browser's script
    does this on its own) and follow redirects like login_via_form."""
    return _submit_form(http, response, {"logout": "yes"}, stop_at_redirect_to)


# --------------------------------------------------------------------- CLI


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the local Auth0-like OpenID provider.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", default=os.environ.get(SECRET_VARIABLE),
                        help=f"better given as {SECRET_VARIABLE} in the environment: "
                             "a command line is visible to every user of the machine")
    parser.add_argument("--redirect-uri", action="append", required=True)
    parser.add_argument("--post-logout-redirect-uri", action="append", default=[])
    parser.add_argument(
        "--token-endpoint-auth-method",
        default="client_secret_post",
        choices=["client_secret_post", "client_secret_basic"],
    )
    parser.add_argument("--access-token-ttl", type=int, default=3600)
    parser.add_argument("--audience", default=None,
                        help=f"the login's API (default: the first --api, else {DEFAULT_AUDIENCE})")
    parser.add_argument("--api", action="append", default=[], type=_api, metavar="IDENTIFIER[=SCOPES]",
                        help="an API (repeatable), e.g. https://billing.example.com=read:invoices; "
                             "several scopes separated by spaces")
    parser.add_argument("--organization", action="append", default=[], type=_organization,
                        metavar="ID:NAME", help="an Organization (repeatable), e.g. org_abc123:acme")
    parser.add_argument("--require-par", action="store_true",
                        help="/authorize takes only a pushed authorization request's request_uri")
    args = parser.parse_args(argv)
    if not args.client_secret:
        parser.error(f"set {SECRET_VARIABLE} in the environment (or pass --client-secret)")
    if args.audience is None:
        args.audience = args.api[0].identifier if args.api else DEFAULT_AUDIENCE
    return args


def _api(value: str) -> Api:
    # An identifier is a URI without "=" in practice: the first "=" starts the scopes.
    identifier, _, scopes = value.partition("=")
    if not identifier:
        raise argparse.ArgumentTypeError(f"{value!r} is not IDENTIFIER[=SCOPES]")
    return Api(identifier, " ".join(scopes.split()))


def _organization(value: str) -> Organization:
    org_id, sep, name = value.partition(":")
    if not (org_id and sep and name):
        raise argparse.ArgumentTypeError(f"{value!r} is not ID:NAME")
    return Organization(org_id, name)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    client = Client(
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=args.redirect_uri,
        post_logout_redirect_uris=args.post_logout_redirect_uri,
        token_endpoint_auth_method=args.token_endpoint_auth_method,
    )
    idp = LocalIdP(
        [client],
        audience=args.audience,
        access_token_ttl=args.access_token_ttl,
        port=args.port,
        echo_stderr=True,
        apis=args.api,
        organizations=args.organization,
        require_par=args.require_par,
    )
    # Python's default SIGTERM handling skips `finally`, which would orphan node.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        # 25 s per attempt, two attempts: the demo waits 60 s for the provider's address.
        idp.start(timeout=25.0)
        print(f"Local IdP ready: issuer {idp.issuer} (log in as anyone). Ctrl-C to stop.", flush=True)
        return idp.wait()
    except KeyboardInterrupt:
        return 0
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        idp.stop()


if __name__ == "__main__":
    sys.exit(main())
