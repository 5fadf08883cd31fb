"""The option tables of the docs list exactly the options the code accepts, with the code's defaults.

README's "Configuration reference" for the login filter, docs/resource-server.md's "Options" for the
API filter. A documented default is read through the option's own converter and compared with the
Config field's default; a default computed at start-up is matched by how the docs describe it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from auth0_wsgi import options
from auth0_wsgi.config import Config
from auth0_wsgi.resource_server import ResourceServerConfig

ROOT = Path(__file__).resolve().parent.parent
NO_VALUE = {"none", "—", ""}  # a default of None or empty
REQUIRED = "required"

# How the docs describe what has no plain default: checked word for word, so that the text and
# the code are changed together (and test_config.py checks the behaviour each describes).
LOGIN_DESCRIBED = {
    "domain": "— (this or `issuer` is required)",
    "issuer": "—",
    "client_secret": "required (unless `private_key_jwt`)",
    "client_private_key": "— (required with `private_key_jwt`)",
    "post_logout_redirect": "`base_url` + `/`",
    "cookie_secure": "`true` when `base_url` is `https`",
}
API_DESCRIBED = {
    "domain": "(one of the two is required)",
    "issuer": "",
    "audience": "(required)",
}
# The one default that depends on the machine: <tempdir> and <uid> stand for it in the README.
PLACEHOLDERS = {"<tempdir>": tempfile.gettempdir(), "<uid>": str(os.geteuid())}


def option_table(document: str, heading: str) -> dict[str, str]:
    """``option → default cell`` of the first table under ``heading`` (up to the next heading)."""
    text = (ROOT / document).read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    section = re.split(r"\n#{1,6} ", section, maxsplit=1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z_]+)`", cells[0]) if line.startswith("|") else None
        if match and len(cells) >= 2:
            assert match[1] not in rows, f"{document}: option {match[1]} is listed twice"
            rows[match[1]] = cells[1]
    return rows


LOGIN_TABLE = option_table("README.md", "## Configuration reference")
API_TABLE = option_table("docs/resource-server.md", "## Options")
FIELDS = {
    "login": {field.name: field for field in dataclasses.fields(Config)},
    "api": {field.name: field for field in dataclasses.fields(ResourceServerConfig)},
}


def field_default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def unquoted(cell: str) -> str:
    value = cell.strip()
    if re.fullmatch(r"`[^`]*`", value):
        value = value[1:-1]
    for placeholder, real in PLACEHOLDERS.items():
        value = value.replace(placeholder, real)
    return value


@pytest.mark.parametrize(("documented", "table"), [
    pytest.param(LOGIN_TABLE, options.LOGIN, id="README-configuration-reference"),
    pytest.param(API_TABLE, options.API, id="resource-server-options"),
])
def test_the_docs_list_exactly_the_accepted_options(documented, table):
    assert set(documented) - table.names == set(), "documented but not accepted"
    assert table.names - set(documented) == set(), "accepted but not documented"


def cases() -> list[Any]:
    found = []
    for name, (documented, table, described, fields) in {
        "login": (LOGIN_TABLE, options.LOGIN, LOGIN_DESCRIBED, FIELDS["login"]),
        "api": (API_TABLE, options.API, API_DESCRIBED, FIELDS["api"]),
    }.items():
        for option in sorted(table.names):
            found.append(pytest.param(option, documented.get(option), table, described, fields,
                                      id=f"{name}-{option}"))
    return found


@pytest.mark.parametrize(("option", "cell", "table", "described", "fields"), cases())
def test_each_documented_default_is_the_code_default(option, cell, table, described, fields):
    assert cell is not None, f"{option} is not documented"
    if option in described:
        assert cell == described[option]
        return
    default = field_default(fields[option])
    if cell == REQUIRED:
        assert default is dataclasses.MISSING, f"{option} is documented as required but has a default"
        assert option in table.required
        return
    assert default is not dataclasses.MISSING, f"{option} has no default: document it as required"
    value = unquoted(cell)
    if value.lower() in NO_VALUE:
        assert default in (None, "", (), {}), f"{option} is documented without a default, but has {default!r}"
        return
    assert table.parsers[option](value) == default


def test_computed_login_defaults_behave_as_described():
    https = Config.from_settings({"domain": "t.auth0.com", "client_id": "c", "client_secret": "s" * 40,
                                  "base_url": "https://app.example.com/app", "secret": "x" * 32}, {})
    http = Config.from_settings({"domain": "t.auth0.com", "client_id": "c", "client_secret": "s" * 40,
                                 "base_url": "http://localhost:8000", "secret": "x" * 32}, {})
    assert https.post_logout_redirect == https.base_url + "/"
    assert (https.cookie_secure, http.cookie_secure) == (True, False)
