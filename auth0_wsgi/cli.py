"""``auth0-wsgi check production.ini``: is this deployment's login filter ready to serve?

The command line only: arguments, finding the filter (:mod:`pasteini`), running the checks
(:mod:`probes`) and printing what :mod:`checks` concluded, as text or ``--json``. Exit status 0
when nothing fails, 1 when a check fails, 2 for a usage error (no such file, no login filter).
No secret is printed: every value of one is replaced by ``***`` before anything is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TextIO

from . import __version__, checks, pasteini, probes
from .checks import Result
from .logs import get_logger

USAGE_ERROR = 2
_MARKS = {True: "✓", False: "✗", None: "○"}
_PLAIN_MARKS = {True: "ok", False: "FAIL", None: "--"}  # for a terminal that cannot show the others


def main(argv: Sequence[str] | None = None) -> int:
    """The ``auth0-wsgi`` console script (and ``python -m auth0_wsgi``); returns the exit status."""
    args = _parser().parse_args(argv)  # exits 2 for a usage error, as argparse does
    try:
        found = pasteini.load(args.ini, args.filter, _global_conf(args.paste_global))
    except (pasteini.IniError, ValueError) as error:
        [said] = checks.redacted([Result("usage", False, str(error))], checks.secret_values({}, os.environ))
        print(f"auth0-wsgi check: {said.detail}", file=sys.stderr)
        return USAGE_ERROR
    with _logging(args.verbose):
        results = probes.run(found.settings, os.environ, where=found.where)
    results = checks.redacted(results, checks.secret_values(found.settings, os.environ))
    if args.json:
        print(json.dumps([asdict(result) for result in results], indent=2))
    else:
        _print_text(found, results, sys.stdout)
    return 1 if any(result.ok is False for result in results) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="auth0-wsgi", description="Tools for the auth0-wsgi middleware.")
    parser.add_argument("--version", action="version", version=f"auth0-wsgi {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check", help="check a deployment's configuration, provider, stores and clock",
        description="Load the login filter from a PasteDeploy ini file as gunicorn --paste does (the "
                    "AUTH0_* environment included), then check the configuration, the provider and "
                    "the stores. Exit status: 0 all passed, 1 a check failed, 2 usage error.")
    check.add_argument("ini", help="the ini file gunicorn --paste is given, e.g. production.ini")
    check.add_argument("--filter", metavar="NAME",
                       help="the [filter:NAME] section to check (needed only when there are several)")
    check.add_argument("--paste-global", metavar="KEY=VALUE", action="append", default=[],
                       help="as gunicorn's --paste-global: a [DEFAULT] value (repeatable)")
    check.add_argument("--json", action="store_true", help="print a JSON list of {name, ok, detail, fix}")
    check.add_argument("-v", "--verbose", action="store_true", help="also show auth0-wsgi's log on stderr")
    return parser


def _global_conf(pairs: Sequence[str]) -> dict[str, str]:
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--paste-global {pair!r} is not KEY=VALUE")
        conf[key] = value
    return conf


@contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """The checks report what the log would say; the log itself only when asked for."""
    logger = get_logger("auth0_wsgi")
    level = logger.level
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.setLevel(logging.DEBUG)
    else:
        handler = logging.NullHandler()  # keeps Python's last-resort handler from printing warnings
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _print_text(found: pasteini.FilterSettings, results: Sequence[Result], out: TextIO) -> None:
    unicode = _can_show("".join(_MARKS.values()), out)
    marks = _MARKS if unicode else _PLAIN_MARKS
    width = max(len(checks.TITLES[result.name]) for result in results)
    mark_width = max(len(mark) for mark in marks.values())
    lines = [f"auth0-wsgi check: {found.where}"]
    for result in results:
        title = checks.TITLES[result.name]
        lines.append(f"{marks[result.ok]:<{mark_width}} {title:<{width}}  {result.detail}")
        if result.ok is False and result.fix:
            lines.append(f"{'':<{mark_width}} {'':<{width}}  fix: {result.fix}")
    failed = sum(result.ok is False for result in results)
    unchecked = sum(result.ok is None for result in results)
    summary = f"{failed} of {len(results)} checks failed" if failed else "All checks passed"
    lines.append(summary + (f" ({unchecked} not checked or not used)." if unchecked else "."))
    for line in lines:  # a provider's words may hold what an ASCII terminal cannot show either
        print(line if unicode else line.encode("ascii", "replace").decode("ascii"), file=out)


def _can_show(text: str, out: TextIO) -> bool:
    try:
        text.encode(out.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return False
    return True
