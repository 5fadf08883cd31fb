"""The example apps under gunicorn, with the example API and the local provider: shared by
``test_examples.py``, ``test_browser.py`` and ``test_demo.py``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from tests.support.gunicorn import ROOT, gunicorn, server_process
from tests.support.real_idp import Client, LocalIdP

sys.path.insert(0, str(ROOT / "examples" / "api"))
from example_api import MESSAGES  # the API's answer, to find it in the pages

# name -> (ini file, or the module:app of a wsgi.py; the directory gunicorn needs on its path),
# relative to the repository root
EXAMPLES = {
    "pyramid": ("examples/pyramid_app/production.ini", "examples/pyramid_app"),
    "bottle": ("examples/bottle_app/bottle_app.ini", "examples/bottle_app"),
    "flask": ("examples/flask_app/flask_app.ini", "examples/flask_app"),
    "django": ("django_example.wsgi:application", "examples/django_app"),
}
SECRET = secrets.token_urlsafe(32)


def example_client(name: str, port: int) -> Client:
    """The provider's registration of an example app served on ``port``."""
    base = f"http://127.0.0.1:{port}"
    return Client(f"example-{name}", f"secret:{name}%+{secrets.token_hex(8)}", [base + "/callback"],
                  [base + "/"])


@contextmanager
def example_api(idp: LocalIdP, port: int) -> Iterator[str]:
    """``examples/api/api.ini`` under gunicorn, trusting ``idp``: yields its base URL."""
    env = {"AUTH0_ISSUER": idp.issuer, "AUTH0_AUDIENCE": idp.audience}
    with gunicorn("examples/api/api.ini", port, env, workers=1,
                  extra_args=("--pythonpath", "examples/api")) as url:
        yield url


@contextmanager
def example_app(name: str, idp: LocalIdP, client: Client, port: int, api_url: str, *,
                ini: str | None = None, **auth0: str) -> Iterator[str]:
    """One example's ini under gunicorn (2 workers), configured from the environment like the demo."""
    env = example_env(idp, client, port, api_url, **auth0)
    default_ini, pythonpath = EXAMPLES[name]
    with ExitStack() as stack:
        if name == "django":
            env.update(stack.enter_context(django_database(env)))
        with gunicorn(ini or default_ini, port, env, workers=2,
                      extra_args=("--pythonpath", pythonpath)) as url:
            yield url


@contextmanager
def flask_run(idp: LocalIdP, client: Client, port: int, api_url: str) -> Iterator[str]:
    """The Flask example under ``flask run`` (its own development server): ``create_app`` wraps
    ``app.wsgi_app``, so the command a Flask developer types works unchanged."""
    command = [sys.executable, "-m", "flask", "--app", "examples/flask_app/flask_example", "run",
               "--host", "127.0.0.1", "--port", str(port)]
    with server_process(command, port, example_env(idp, client, port, api_url)) as url:
        yield url


def example_env(idp: LocalIdP, client: Client, port: int, api_url: str, **auth0: str) -> dict[str, str]:
    """The environment an example reads its provider, client and secrets from, as the demo sets it."""
    return {"AUTH0_ISSUER": idp.issuer, "AUTH0_CLIENT_ID": client.client_id,
            "AUTH0_CLIENT_SECRET": client.client_secret, "AUTH0_SECRET": SECRET,
            "AUTH0_BASE_URL": f"http://127.0.0.1:{port}", "AUTH0_AUDIENCE": idp.audience,
            "API_URL": api_url, **{f"AUTH0_{key.upper()}": value for key, value in auth0.items()}}


@contextmanager
def django_database(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh SQLite database for the Django example, migrated as its README says (``manage.py
    migrate``): yields the variables that point the example at it."""
    with tempfile.TemporaryDirectory() as directory:
        django = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                  "DJANGO_DATABASE": f"{directory}/db.sqlite3"}
        subprocess.run([sys.executable, "examples/django_app/manage.py", "migrate", "--verbosity", "0"],
                       cwd=ROOT, env={**os.environ, **env, **django}, check=True, timeout=120)
        yield django


def assert_shows_the_api_answer(html: str, sub: str) -> None:
    for message in MESSAGES:
        assert f">{message['text']}</li>" in html
    assert f'<code class="api-sub">{sub}</code>' in html
    assert "read:messages" in html


