"""Log capture helpers for the log-hygiene tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_urllib3() -> Iterator[None]:
    """The test's own hop to the provider plays the browser: its URL logging is not ours."""
    logger = logging.getLogger("urllib3.connectionpool")
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = False
