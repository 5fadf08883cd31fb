"""Helpers shared by the tests, and the only place they live (a conftest holds fixtures only).

- ``flows``: the middleware set up for the fake provider, and a login (``start_login``, ``log_in``)
- ``http``: the header constants ``HTML`` and ``JSON``; URL and cookie helpers
- ``wsgi``: a raw WSGI call as a real server makes it
- ``fake_provider``, ``logout_tokens``: the fake provider and what it signs
- ``clocks``: moving time without sleeping
- ``servers``, ``redis_server``, ``gunicorn``, ``real_idp``, ``examples``: real components on free
  loopback ports, stopped afterwards
- ``apps``, ``memory``, ``logs``: echo apps, a peak-memory probe, log capture
"""
