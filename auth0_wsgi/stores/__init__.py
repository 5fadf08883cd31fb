"""Session stores: each implements :class:`auth0_wsgi.session.SessionStore`."""
