"""Hooks the tests name as ``package.module:function`` (``on_login = tests.support.login_hooks:…``)
or pass as callables, and what they saw."""

from __future__ import annotations

from typing import Any

from auth0_wsgi import LoginRefused

SECRET_WORD = "claim-value-that-must-not-leak"
# (event, environ, claims, tokens) of each call
calls: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = []


def reset() -> None:
    calls.clear()


def record(environ: dict[str, Any], claims: dict[str, Any], tokens: dict[str, Any]) -> None:
    calls.append(("on_login", environ, claims, tokens))


def refuse_contractors(environ: dict[str, Any], claims: dict[str, Any], tokens: dict[str, Any]) -> None:
    if claims["sub"].startswith("contractor|"):
        raise LoginRefused("Contractors sign in at https://contractors.example.com.")


def keep_name_and_role(environ: dict[str, Any], claims: dict[str, Any], tokens: dict[str, Any]
                       ) -> dict[str, Any]:
    return {"sub": claims["sub"], "name": claims.get("name"), "role": "editor"}


def broken(environ: dict[str, Any], claims: dict[str, Any], tokens: dict[str, Any]) -> None:
    calls.append(("on_login", environ, claims, tokens))
    raise ValueError(f"no role for {claims.get('email')} {SECRET_WORD} {tokens['access_token']}")


def on_refresh(environ: dict[str, Any], claims: dict[str, Any], tokens: dict[str, Any]) -> None:
    calls.append(("on_refresh", environ, claims, tokens))


def on_refresh_broken(environ: dict[str, Any], claims: dict[str, Any], tokens: dict[str, Any]) -> None:
    calls.append(("on_refresh", environ, claims, tokens))
    raise RuntimeError(f"audit log down {tokens['access_token']}")


def on_logout(environ: dict[str, Any], claims: dict[str, Any]) -> None:
    calls.append(("on_logout", environ, claims, {}))
