"""SECURITY.md names the test that proves each defence: every name it gives must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?)(?:::(\w+)(?:\[[^\]]*\])?)?`")


def _references() -> list[tuple[str, str | None]]:
    """(file, test name or None) for every `tests/….py::test` and `::test` (same file as the last)."""
    found: list[tuple[str, str | None]] = []
    current = ""
    for line in (ROOT / "SECURITY.md").read_text().splitlines():
        for path, name in REFERENCE.findall(line):
            if not path and not name:
                continue
            current = path or current
            assert current, f"{line[:60]}…: '::{name}' without a file before it"
            found.append((current, name or None))
    return found


REFERENCES = _references()


def test_security_md_names_tests_at_all():
    assert len({name for _, name in REFERENCES if name}) > 60


@pytest.mark.parametrize("path, name", REFERENCES, ids=[f"{p}::{n}" if n else p for p, n in REFERENCES])
def test_every_test_named_in_security_md_exists(path, name):
    source = ROOT / path
    assert source.is_file(), f"SECURITY.md names {path}, which does not exist"
    if name:
        assert re.search(rf"^def {name}\(", source.read_text(), re.MULTILINE), f"{path} has no {name}"
