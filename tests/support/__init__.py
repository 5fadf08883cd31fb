"""Helpers shared by the tests, and the only place they live (a conftest holds fixtures only).

- ``flows``: the middleware set up for the fake provider, and a login (``start_login``, ``log_in``)
- ``http``: the header constants ``HTML`` and ``JSON``; URL and cookie helpers
- ``wsgi``: a raw WSGI call as a real server makes it
- ``fake_provider``, ``logout_tokens``: the fake provider and what it signs
- ``clocks``: moving time without sleeping
- ``session_values``: a session value without a login
- ``servers``, ``redis_server``, ``gunicorn``, ``real_idp``, ``examples``: real components on free
  loopback ports, stopped afterwards
- ``redis_sets``, ``tracking``: a real Redis Cluster and Sentinel set; polling for what a tracking
  cache hears
- ``browser``, ``demo``: Chromium through Playwright (a fresh page, step screenshots); ``scripts/demo``
  on free ports
- ``mrrt``, ``login_hooks``: several APIs on one session; hooks a test names in an ini file
- ``apps``, ``memory``, ``logs``: echo apps, a peak-memory probe, log capture
"""
