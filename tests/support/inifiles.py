"""Ini files as a deployment writes them, for the tests of ``auth0-wsgi check``."""

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
