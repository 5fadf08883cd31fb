"""``python -m auth0_wsgi check production.ini``: the ``auth0-wsgi`` console script without its script."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
