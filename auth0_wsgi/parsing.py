"""Strict converters from ini strings (or native Python values) to typed option values.

Each converter raises ``ValueError`` with a short problem statement; :mod:`options` adds the
option's name and the fix. What only one option accepts (a path, a secret, a store URL) is in
:mod:`converters`. Strict on purpose: ``cookie_secure = ture`` must refuse to start, not silently
mean false (PasteDeploy's ``asbool`` raises too; Pyramid's does not).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"{value!r} is not a boolean")


def as_int(value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"{value!r} is not a whole number")
    _check_range(number, minimum, maximum)
    return number


def as_float(value: Any, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if number != number:  # NaN
        raise ValueError("NaN is not a number")
    _check_range(number, minimum, maximum)
    return number


def _check_range(number: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and number < minimum:
        raise ValueError(f"{number} is below the minimum of {minimum}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{number} is above the maximum of {maximum}")


def as_words(value: Any) -> tuple[str, ...]:
    """Space- (or newline-) separated words, or an iterable of strings."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        words: list[str] = []
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"an item of type {type(item).__name__} is not a string")
            words.extend(item.split())
        return tuple(words)
    raise ValueError(f"a {type(value).__name__} is not a list of words")


def as_params(value: Any) -> dict[str, str]:
    """``key=value`` pairs separated by spaces, or a mapping."""
    if isinstance(value, Mapping):
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        pairs = []
        for word in as_words(value):
            key, sep, val = word.partition("=")
            if not sep or not key:
                raise ValueError(f"{word!r} is not of the form key=value")
            pairs.append((key, val))
    params: dict[str, str] = {}
    for key, val in pairs:
        if key in params:
            raise ValueError(f"{key!r} is given twice")
        params[key] = val
    return params


def as_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a {type(value).__name__} is not a string")  # never its value: a secret?
    return value.strip()


def as_required_text(value: Any) -> str:
    text = as_text(value)
    if not text:
        raise ValueError("is empty")
    return text


def as_optional_text(value: Any) -> str | None:
    """Text, or None for an empty value (an option that may be left blank in an ini file)."""
    return as_text(value) or None


def choice(*choices: str) -> Callable[[Any], str]:
    """A converter to one of ``choices``, matched case-insensitively and returned as spelt here."""
    def parse(value: Any) -> str:
        text = as_text(value)
        for option in choices:
            if text.lower() == option.lower():
                return option
        raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
    return parse


def whole_number(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A converter to a whole number from ``minimum`` to ``maximum`` (seconds, for most options)."""
    return lambda value: as_int(value, minimum=minimum, maximum=maximum)


def number(minimum: float, maximum: float) -> Callable[[Any], float]:
    return lambda value: as_float(value, minimum=minimum, maximum=maximum)
