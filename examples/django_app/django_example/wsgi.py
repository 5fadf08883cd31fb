"""The WSGI application: Django's, with the auth0 filter in front of it.

    python examples/django_app/manage.py migrate        # once: the users and sessions tables
    gunicorn django_example.wsgi --pythonpath examples/django_app --bind 127.0.0.1:8000 --workers 3

The filter logs the user in and keeps the access token fresh, then hands Django the environ with
``auth0.user``, ``auth0.access_token`` and ``REMOTE_USER`` set: Django's ``request.META`` is that
environ. Its options are ``settings.AUTH0``; provider, client and secrets come from ``AUTH0_*`` in
the environment.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from auth0_wsgi import Auth0Middleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_example.settings")

application = Auth0Middleware(get_wsgi_application(), **settings.AUTH0)
