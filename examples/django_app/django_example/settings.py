"""Django settings for the example: the smallest project that gives views ``request.user``.

The auth0 filter (``wsgi.py``) sets ``REMOTE_USER`` to the user's ``sub``; Django's
``RemoteUserMiddleware`` turns it into ``request.user`` through ``RemoteUserBackend`` (here a
subclass that copies the email from the ID token). ``RemoteUserMiddleware``, not
``PersistentRemoteUserMiddleware``: the filter sets the header on *every* request of a logged-in
user, so a request without it means the auth0 session is over, and Django's login must end too.
Secrets come from the environment, never from this file.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

HERE = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "set DJANGO_SECRET_KEY in the environment, e.g. to the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1 localhost").split()

# auth0-wsgi's options (README, "Configuration reference"), passed to the filter by wsgi.py. The
# others (domain or issuer, client_id, client_secret, secret, base_url, audience) come from AUTH0_*.
AUTH0 = {
    # read:messages is the scope the example API asks for on GET /messages
    "scope": "openid profile email offline_access read:messages",
    # "/" is the home page only (a path prefix covers whole segments; "/" covers just the root)
    "public_paths": "/ /health",
}
API_URL = (os.environ.get("API_URL") or "http://127.0.0.1:8001").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django_example",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # after AuthenticationMiddleware, as Django's "How to authenticate using REMOTE_USER" says
    "django.contrib.auth.middleware.RemoteUserMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
# Only this backend: there are no passwords here, the provider checked who the user is.
AUTHENTICATION_BACKENDS = ["django_example.auth.Auth0RemoteUserBackend"]

ROOT_URLCONF = "django_example.urls"
WSGI_APPLICATION = "django_example.wsgi.application"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [HERE / "templates"],
    "OPTIONS": {"context_processors": ["django.template.context_processors.request",
                                       "django.contrib.auth.context_processors.auth",
                                       "django_example.views.auth0"]},
}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("DJANGO_DATABASE") or HERE.parent / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's own cookies are Secure whenever the site is (the filter's follow base_url by itself).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = os.environ.get("AUTH0_BASE_URL", "").startswith("https://")
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"auth0_wsgi": {"handlers": ["console"], "level": "INFO"},
                "django_example": {"handlers": ["console"], "level": "INFO"}},
}
