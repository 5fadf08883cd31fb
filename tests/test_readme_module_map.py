"""README's module map (section "Development") names every module of the package: a new module
without its line there fails here, so the map a newcomer reads first cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "auth0_wsgi"
MODULES = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py"))


def _module_map() -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Development\n", 1)[1]
    return section.split("```", 2)[1]


def test_the_map_is_found_and_lists_the_package():
    assert _module_map().lstrip("\n").startswith("auth0_wsgi/")
    assert "middleware.py" in MODULES and "stores/server.py" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_in_the_map(module):
    name = "stores/" if module == "stores/__init__.py" else module.rpartition("/")[2]
    assert re.search(rf"(?<![\w/]){re.escape(name)}", _module_map()), f"README's module map lacks {module}"
