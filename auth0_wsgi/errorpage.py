"""The HTML of error pages: a small, styled, self-contained default, or the app's ``error_template``.

A page is a template with the placeholders ``{title}``, ``{message}``, ``{code}``, ``{retry_url}``
(and ``{details}``, empty unless ``debug = true``), each filled HTML-escaped. Braces that are not a
placeholder (CSS rules) are left alone, so a template needs no escaping. Each page goes out with a
``Content-Security-Policy`` that allows nothing but its own ``<style>`` elements (by hash), and for
an app's template its own origin's stylesheets, images and fonts: a reflected string that slipped
through escaping still could not run a script or load anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
from dataclasses import dataclass, field
from typing import Any

# Where the operator looks first, logged with each error of that code (never shown without debug).
OPERATOR_HINTS = {
    "provider_unavailable": "check that domain (or issuer) names the tenant, and that this host reaches it",
    "provider_error": "check domain (or issuer): the provider's answers are not an OpenID provider's",
    "invalid_client": "check client_id and client_secret (or client_private_key and "
                      "token_endpoint_auth_method)",
    "session_store_unavailable": "check session_store (or revocation_store): its Redis does not answer",
    "session_too_large": "the new session does not fit the cookie store's five cookies: keep fewer claims "
                         "(session_claims, an on_login hook), or use session_store = redis://…",
}

PLACEHOLDERS = ("title", "message", "code", "retry_url", "details")
MAX_TEMPLATE_BYTES = 64 * 1024
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_LOCKED = "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

_STYLE = (
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1f2328;background:#f3f4f6}"
    "main{box-sizing:border-box;max-width:34rem;margin:12vh auto;padding:2rem;background:#fff;"
    "border:1px solid #d8dee4;border-radius:10px;box-shadow:0 1px 3px rgba(0,0,0,.06)}"
    "h1{font-size:1.35rem;line-height:1.3;margin:0 0 .75rem}"
    "p{margin:0 0 1rem}"
    "a{display:inline-block;padding:.55rem 1.1rem;border-radius:6px;background:#0b5cd5;color:#fff;"
    "font-weight:600;text-decoration:none}"
    "a:hover,a:focus{background:#0847a6}"
    "small,code{color:#59636e}"
    "pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;border:1px solid #d8dee4;"
    "border-radius:6px;padding:.75rem;font-size:.85rem}"
    "@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}"
    "main{background:#161b22;border-color:#30363d}small,code{color:#9198a1}"
    "pre{background:#0d1117;border-color:#30363d}}"
)
_DEFAULT = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    f"<style>{_STYLE}</style></head>\n"
    "<body><main><h1>{title}</h1><p>{message}</p>{details}\n"
    '<p><a href="{retry_url}">{link}</a></p>{code_line}</main></body></html>\n'
)


def _style_hashes(text: str) -> tuple[str, ...]:
    """CSP source expressions for each ``<style>`` element's exact text (what browsers hash)."""
    return tuple(f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"
                 for css in _STYLE_ELEMENT.findall(text))


@dataclass(frozen=True)
class ErrorTemplate:
    """The app's own error page (``error_template``): read and checked once, at start-up."""

    path: str
    text: str = field(repr=False)
    content_security_policy: str = field(repr=False)

    @classmethod
    def load(cls, value: Any) -> ErrorTemplate:
        """Read and check the file at start-up; ValueError says what is wrong (options names it)."""
        try:
            path = os.path.abspath(os.fspath(value))
        except TypeError:
            raise ValueError(f"{value!r} is not a file path") from None
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_TEMPLATE_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
        if len(data) > MAX_TEMPLATE_BYTES:
            raise ValueError(f"{path} is larger than {MAX_TEMPLATE_BYTES // 1024} KB")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text") from None
        unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in PLACEHOLDERS})
        if unknown:
            known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            raise ValueError(f"{path} has the unknown placeholder {{{unknown[0]}}} (known: {known})")
        styles = " ".join(("'self'", *_style_hashes(text)))
        policy = (f"default-src 'none'; style-src {styles}; img-src 'self' data:; font-src 'self'; "
                  f"{_LOCKED}")
        return cls(path, text, policy)

    def render(self, *, title: str, message: str, code: str, retry_url: str, details: str = "") -> str:
        values = {"title": title, "message": message, "code": code, "retry_url": retry_url,
                  "details": details}
        return _fill(self.text, {name: html.escape(value) for name, value in values.items()})


DEFAULT_POLICY = f"default-src 'none'; style-src {' '.join(_style_hashes(_DEFAULT))}; {_LOCKED}"


def render_default(*, title: str, message: str, code: str, retry_url: str, details: str = "",
                   link: str = "Try again") -> str:
    """The built-in page; ``code`` empty leaves out the "Error code" line (the signed-out page)."""
    escaped = {name: html.escape(value) for name, value in
               {"title": title, "message": message, "retry_url": retry_url, "link": link}.items()}
    escaped["details"] = f"<pre>{html.escape(details)}</pre>" if details else ""
    code_line = f"<p><small>Error code: <code>{html.escape(code)}</code></small></p>"
    escaped["code_line"] = "\n" + code_line if code else ""
    return _fill(_DEFAULT, escaped)


def _fill(text: str, escaped: dict[str, str]) -> str:
    """One pass, so that a value holding ``{title}`` is never filled in turn."""
    return _PLACEHOLDER.sub(lambda match: escaped.get(match[1], match[0]), text)
