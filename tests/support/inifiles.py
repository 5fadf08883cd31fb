"""Ini files as a deployment writes them: the login filter's (``auth0-wsgi check``), the API filter's."""

from __future__ import annotations

from pathlib import Path


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
