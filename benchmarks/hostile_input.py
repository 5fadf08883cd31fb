"""How long the parsers of untrusted headers take on attack-shaped input, against a plain one.

    .venv/bin/python benchmarks/hostile_input.py

Each parser must stay linear in its (bounded) input: a ratio far above the input-size ratio is a
quadratic scan. Printed per case: µs per call and the ratio to a well-formed header of the same kind.
"""

from __future__ import annotations

import string
import timeit

from auth0_wsgi.stepup import from_challenge

PLAIN = ('Bearer error="insufficient_user_authentication", error_description="MFA needed", '
         'acr_values="http://schemas.openid.net/pape/policies/2007/06/multi-factor", max_age="300"')
HOSTILE = {
    "letters": string.ascii_letters * 80,
    "names-and-equals": "a=" * 2000,
    "unclosed-quotes-and-escapes": 'a="\\' * 1300,
    "two-long-names": "a" * 2000 + " " + "b" * 2000,
    "tabs": "a\t" * 2000,
}


def per_call(header: str, number: int = 200) -> float:
    """Best of five runs, in µs per call of ``from_challenge``."""
    return min(timeit.repeat(lambda: from_challenge(header), number=number, repeat=5)) / number * 1e6


def main() -> None:
    plain = per_call(PLAIN)
    print(f"{'RFC 9470 challenge (plain)':40} {plain:8.1f} µs  ({len(PLAIN)} bytes)")
    for name, body in HOSTILE.items():
        header = "Bearer " + body
        took = per_call(header)
        size = len(header) / len(PLAIN)
        print(f"{'  ' + name:40} {took:8.1f} µs  x{took / plain:5.1f} for x{size:4.1f} the bytes")


if __name__ == "__main__":
    main()
