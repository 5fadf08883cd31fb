"""The login filter's options in a PasteDeploy ini file, read as ``gunicorn --paste`` reads them.

PasteDeploy itself does the reading (``loadwsgi.loadcontext``): ``[DEFAULT]``, ``%(here)s``,
``%(__file__)s``, ``set``/``get`` and ``use = config:…`` chains all mean what they mean at start-up,
and what comes out is the ``local_conf`` the filter factory would be called with. The filter is the
section whose factory is ours (``use = egg:auth0-wsgi``, or ``call:auth0_wsgi.paste:…``): the one
named, or the only one. Nothing is instantiated: no app, no middleware, no connection.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .paste import filter_app_factory

_KINDS = ("filter", "filter-app")


class IniError(Exception):
    """The ini file cannot be read, or names no login filter (or several): a usage error."""


@dataclass(frozen=True)
class FilterSettings:
    """What ``[filter:<name>]`` of ``path`` hands to the filter factory, as strings."""

    path: str
    section: str
    settings: dict[str, str]

    @property
    def where(self) -> str:
        return f"[{self.section}] of {self.path}"


def load(path: str, name: str | None = None, global_conf: Mapping[str, str] | None = None) -> FilterSettings:
    """The options of the login filter ``name`` (or of the only one) in the ini file at ``path``.

    :param global_conf: what ``gunicorn --paste-global KEY=VALUE`` would add to ``[DEFAULT]``.
    :raises IniError: saying what is wrong and what to pass instead.
    """
    loadwsgi = _pastedeploy()
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise IniError(f"{path}: no such file")
    sections = _filter_sections(loadwsgi, path)
    if name is not None:
        found = [(kind, n) for kind, n in sections if n == name]
        if not found:
            raise IniError(f"{path} has no [filter:{name}] section")
        kind, _ = found[0]
        context, problem = _context(loadwsgi, path, kind, name, global_conf)
        if context is None:
            raise IniError(f"[{kind}:{name}] of {path} cannot be loaded: {problem}")
        if context.object is not filter_app_factory:
            raise IniError(f"[{kind}:{name}] of {path} is not the auth0-wsgi login filter "
                           "(use = egg:auth0-wsgi); the API filter (#api) has nothing to check here")
        return FilterSettings(path, f"{kind}:{name}", dict(context.local_conf))
    return _only_one(loadwsgi, path, sections, global_conf)


def _only_one(loadwsgi: Any, path: str, sections: list[tuple[str, str]],
              global_conf: Mapping[str, str] | None) -> FilterSettings:
    ours: list[FilterSettings] = []
    problems: list[str] = []
    for kind, name in sections:
        context, problem = _context(loadwsgi, path, kind, name, global_conf)
        if context is None:
            problems.append(f"[{kind}:{name}]: {problem}")
        elif context.object is filter_app_factory:
            ours.append(FilterSettings(path, f"{kind}:{name}", dict(context.local_conf)))
    if len(ours) == 1:
        return ours[0]
    if ours:
        names = ", ".join(found.section.split(":", 1)[1] for found in ours)
        raise IniError(f"{path} has several auth0-wsgi login filters ({names}): "
                       "choose one with --filter NAME")
    unread = f" (sections that could not be loaded: {'; '.join(problems)})" if problems else ""
    raise IniError(f"{path} has no [filter:NAME] section with use = egg:auth0-wsgi{unread}")


def _pastedeploy() -> Any:
    try:
        from paste.deploy import loadwsgi  # type: ignore[import-untyped]
    except ImportError:
        raise IniError("PasteDeploy is not installed: pip install 'auth0-wsgi[paste]'") from None
    return loadwsgi


def _filter_sections(loadwsgi: Any, path: str) -> list[tuple[str, str]]:
    try:
        sections = loadwsgi.ConfigLoader(path).parser.sections()
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise IniError(f"{path} cannot be read: {_unquoted(exc)}") from None
    found = []
    for section in sections:
        kind, _, name = section.partition(":")
        if kind in _KINDS and name.strip():
            found.append((kind, name.strip()))
    return found


def _context(loadwsgi: Any, path: str, kind: str, name: str,
             global_conf: Mapping[str, str] | None) -> tuple[Any, str]:
    """PasteDeploy's context of one section (its factory and local_conf), or None and why not."""
    uri = "config:" + path
    conf = dict(global_conf) if global_conf else None
    try:
        if kind == "filter":
            return loadwsgi.loadcontext(loadwsgi.FILTER, uri, name=name, global_conf=conf), ""
        # [filter-app:NAME] is loaded as an app: the filter is its filter_context
        return loadwsgi.loadcontext(loadwsgi.APP, uri, name=name, global_conf=conf).filter_context, ""
    except (LookupError, ImportError, AttributeError, ValueError, configparser.Error) as exc:
        return None, _unquoted(exc)


def _unquoted(error: Exception) -> str:
    """What went wrong, without the text configparser quotes: that may be a line holding a secret."""
    if isinstance(error, configparser.InterpolationError):
        return (f"{type(error).__name__} in option '{error.option}': a '%' in a value must be written "
                "'%%' (or %(name)s for another value)")
    if isinstance(error, configparser.MissingSectionHeaderError):
        return f"line {error.lineno} comes before any [section]"
    if isinstance(error, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _ in error.errors)
        return f"line(s) {lines} are neither [section] nor key = value"
    if isinstance(error, configparser.Error):
        return f"{type(error).__name__} (line {getattr(error, 'lineno', '?')})"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text (byte {error.start})"
    return f"{type(error).__name__}: {error}"
