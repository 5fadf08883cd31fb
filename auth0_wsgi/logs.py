"""Our loggers: every line we write has its control characters escaped.

Log lines carry values from outside (a provider's ``error_description``, a token's header, a path):
a newline in one of them would start a forged line in the operator's log. Escaping the formatted
message covers every argument of every call, present and future, instead of trusting each call site.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (split lines in some viewers).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """``text`` with each control character written as a visible escape (``\\n``, ``\\x1b``...)."""
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(lambda match: repr(match.group())[1:-1], text)


class _EscapeControls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped is not message:
            record.msg, record.args = escaped, None
        return True


_FILTER = _EscapeControls()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the escaping filter (filters do not pass to child loggers,
    so each module's logger gets its own)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
