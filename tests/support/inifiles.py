"""Ini files as a deployment writes them: the login filter's (``auth0-wsgi check``), the API filter's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_provider import CLIENT_ID, CLIENT_SECRET
from tests.support.flows import SECRET


def login_filter_ini(directory: Path, raw: dict[str, str] | None = None, **options: str) -> str:
    """``production.ini`` in ``directory``: the login filter with ``options`` (written as the ini needs:
    ``%`` doubled) in a pipeline before the echo app, as ``gunicorn --paste`` would load it; returns
    its path. ``raw`` options are written as they are, for PasteDeploy to interpolate (``%(state)s``
    is ``%(here)s/state``)."""
    lines = [f"{name} = {value.replace('%', '%%')}" for name, value in options.items()]  # ini escaping
    lines += [f"{name} = {value}" for name, value in (raw or {}).items()]  # %(here)s and friends
    text = "\n".join([
        "[DEFAULT]", "state = %(here)s/state", "",
        "[filter:auth0]", "use = egg:auth0-wsgi", *lines, "",
        "[pipeline:main]", "pipeline = auth0 echo", "",
        "[app:echo]", "use = call:tests.support.apps:echo", "",
    ])
    path = directory / "production.ini"
    path.write_text(text)
    return str(path)


def api_filter_ini(directory: Path, **options: str) -> str:
    """``api.ini`` in ``directory``: the resource-server filter with ``options`` (a value of several
    lines is written as an indented continuation) before the echo app; returns its path."""
    lines = [f"{name} = {value}".replace("\n", "\n    ") for name, value in options.items()]
    text = "\n".join([
        "[app:echo]", "use = call:tests.support.apps:echo", "",
        "[filter:auth]", "use = egg:auth0-wsgi#api", *lines, "",
        "[pipeline:main]", "pipeline = auth echo", "",
    ])
    path = directory / "api.ini"
    path.write_text(text)
    return str(path)


@pytest.fixture
def ini(tmp_path: Path, fake: Any) -> Callable[..., str]:
    """Writes the login filter's ini for ``auth0-wsgi check`` against the fake provider, with these
    options over a working set (an empty value leaves an option out); returns its path."""
    def write(**options: str) -> str:
        settings = {"issuer": fake.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                    "base_url": "https://app.test", "secret": SECRET, "session_store": "memory",
                    "http_timeout": "2"}
        settings.update(options)
        return login_filter_ini(tmp_path, **{k: v for k, v in settings.items() if v})
    return write
