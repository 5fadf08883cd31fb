"""What ``auth0-wsgi check`` concludes from what it observed (``auth0_wsgi.checks``): pure tables,
one per check; the observations themselves are made for real in test_probes.py and test_e2e_check.py."""

from __future__ import annotations

import pytest

from auth0_wsgi import checks
from auth0_wsgi.checks import AuthorizeAnswer, Result
from auth0_wsgi.config import Config
from auth0_wsgi.errors import ConfigError, GrantRejected, ProviderError, ProviderUnavailable

CALLBACK = "https://app.example.com/callback"
LOGIN_REQUIRED = AuthorizeAnswer(302, True, "login_required", "End-User authentication is required")


def test_every_check_has_a_title():
    assert set(checks.TITLES) == {"configuration", "discovery", "jwks", "client_credentials", "callback_url",
                                  "audience", "offline_access", "session_store", "revocation_store",
                                  "lock_directory", "clock"}


# -- configuration --------------------------------------------------------------------------------
def test_a_config_error_is_one_failure_naming_the_option_and_where_to_set_it():
    error = ConfigError("base_url", "'x' is not an absolute http(s) URL", "write the app's external URL")
    result = checks.configuration_error(error, "[filter:auth0] of /srv/production.ini")
    assert result.ok is False
    assert result.detail == ("option 'base_url': 'x' is not an absolute http(s) URL; "
                             "write the app's external URL")
    assert result.fix == ("set 'base_url' in [filter:auth0] of /srv/production.ini, or as AUTH0_BASE_URL in "
                          "the environment")


def test_a_good_config_shows_its_stores_without_their_password():
    config = Config.from_settings({"domain": "t.auth0.com", "client_id": "abc", "client_secret": "cs-123",
                                   "base_url": "https://app.example.com", "secret": "s" * 40,
                                   "session_store": "redis://:hunter22@redis:6379/0"}, {})
    result = checks.configuration(config)
    assert result.ok is True
    assert "redis://:***@redis:6379/0" in result.detail and "hunter22" not in result.detail
    assert "https://app.example.com/callback" in result.detail


# -- discovery, keys ------------------------------------------------------------------------------
@pytest.mark.parametrize(("error", "ok", "fix"), [
    pytest.param(None, True, "", id="found"),
    pytest.param(ProviderError("names issuer 'x/'", code="issuer_mismatch"), False, "exact issuer",
                 id="issuer-mismatch"),
    pytest.param(ProviderUnavailable("cannot reach x: ConnectionError"), False, "spelled right",
                 id="unreachable"),
    pytest.param(ProviderError("x answered HTTP 404"), False, "provider's", id="not-a-provider"),
])
def test_discovery(error, ok, fix):
    result = checks.discovery("https://t/.well-known/openid-configuration", error, "https://t/")
    assert result.ok is ok
    assert fix in result.fix
    if error is not None:
        assert result.detail == error.message


RSA_SIG = ("RSA", "", "sig")
EC_P256 = ("EC", "P-256", None)


@pytest.mark.parametrize(("kinds", "alg", "ok"), [
    pytest.param([RSA_SIG], "RS256", True, id="rsa-for-rs256"),
    pytest.param([RSA_SIG], "PS256", True, id="rsa-for-ps256"),
    pytest.param([EC_P256], "RS256", False, id="only-ec-for-rs256"),
    pytest.param([EC_P256], "ES256", True, id="p256-for-es256"),
    pytest.param([EC_P256], "ES384", False, id="p256-for-es384"),
    pytest.param([("RSA", "", "enc")], "RS256", False, id="encryption-key-only"),
    pytest.param([], "RS256", False, id="empty"),
    pytest.param(None, "RS256", False, id="fetch-failed"),
    pytest.param(None, "HS256", None, id="hs256-does-not-use-it"),
])
def test_signing_keys(kinds, alg, ok):
    error = ProviderError("the provider's JWKS holds no usable keys") if kinds is None else None
    result = checks.signing_keys(kinds, error, alg, "https://t/.well-known/jwks.json")
    assert result.ok is ok
    assert (result.fix != "") is (ok is False)


# -- client credentials ---------------------------------------------------------------------------
@pytest.mark.parametrize(("error", "ok", "says"), [
    pytest.param(GrantRejected("refused", error="invalid_grant"), True, "accepted the client",
                 id="invalid-grant-means-good-credentials"),
    pytest.param(ProviderError("refused credentials", code="invalid_client"), False, "invalid_client",
                 id="invalid-client"),
    pytest.param(ProviderError("the token endpoint answered error access_denied"), False, "access_denied",
                 id="auth0-access-denied"),
    pytest.param(GrantRejected("refused", error="unauthorized_client"), False, "unauthorized_client",
                 id="grant-type-not-enabled"),
    pytest.param(ProviderUnavailable("the token endpoint answered HTTP 503"), False, "503", id="down"),
    pytest.param(None, False, "made-up code", id="tokens-for-a-made-up-code"),
])
def test_client_credentials(error, ok, says):
    result = checks.client_credentials(error, "client_secret_post")
    assert result.ok is ok
    assert says in result.detail


def test_a_refused_private_key_points_at_the_key_not_a_secret():
    result = checks.client_credentials(ProviderError("refused", code="invalid_client"), "private_key_jwt")
    assert "client_private_key" in result.fix and "client_secret" not in result.fix


# -- the authorization request --------------------------------------------------------------------
@pytest.mark.parametrize(("answer", "ok", "fix"), [
    pytest.param(LOGIN_REQUIRED, True, "", id="redirected-back-login-required"),
    pytest.param(AuthorizeAnswer(302, True), True, "", id="redirected-back-with-a-code"),
    pytest.param(AuthorizeAnswer(400, False, "invalid_redirect_uri", "redirect_uri did not match"), False,
                 "Allowed Callback URLs", id="error-page"),
    pytest.param(AuthorizeAnswer(302, False, "invalid_request", "Callback URL mismatch",
                                 "https://t.auth0.com/error"), False, "Allowed Callback URLs",
                 id="redirected-elsewhere"),
    pytest.param(AuthorizeAnswer(400, False, "invalid_client", "client is invalid"), False, "Client ID",
                 id="unknown-client"),
    pytest.param(AuthorizeAnswer(302, True, "unauthorized_client", "no code grant"), False, "Logs",
                 id="registered-but-refused"),
    pytest.param(AuthorizeAnswer(502, False), False, "provider is up", id="provider-error"),
    pytest.param(AuthorizeAnswer(0, False, "ConnectTimeout"), False, "provider is up", id="unreachable"),
    pytest.param(AuthorizeAnswer(200, False), None, "", id="a-login-page-despite-prompt-none"),
])
def test_callback_url(answer, ok, fix):
    result = checks.callback_url(answer, CALLBACK, "abc")
    assert result.ok is ok
    assert fix in result.fix


INVALID_TARGET = AuthorizeAnswer(303, True, "invalid_target", "unknown audience")
SERVICE_NOT_FOUND = AuthorizeAnswer(302, True, "access_denied", "Service not found: https://api")


@pytest.mark.parametrize(("value", "without", "ours", "unknown", "ok"), [
    pytest.param(None, LOGIN_REQUIRED, None, None, None, id="none-set"),
    pytest.param("https://api", LOGIN_REQUIRED, LOGIN_REQUIRED, INVALID_TARGET, True,
                 id="known-and-an-unknown-one-refused"),
    pytest.param("https://api", LOGIN_REQUIRED, SERVICE_NOT_FOUND, SERVICE_NOT_FOUND, False,
                 id="auth0-service-not-found"),
    pytest.param("https://api", LOGIN_REQUIRED, INVALID_TARGET, INVALID_TARGET, False, id="invalid-target"),
    pytest.param("https://api", LOGIN_REQUIRED, LOGIN_REQUIRED, LOGIN_REQUIRED, None,
                 id="provider-checks-only-after-login"),
    pytest.param("https://api", LOGIN_REQUIRED, LOGIN_REQUIRED, AuthorizeAnswer(400, False, "invalid_target"),
                 True, id="unknown-one-gets-an-error-page"),
    pytest.param("https://api", AuthorizeAnswer(400, False, "invalid_redirect_uri"), None, None, None,
                 id="callback-not-registered"),
])
def test_audience(value, without, ours, unknown, ok):
    result = checks.audience(value, without, ours, unknown)
    assert result.ok is ok
    if ok is False:
        assert "Applications > APIs" in result.fix and ours.description in result.detail


# -- this host ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("scope", "ok"), [
    pytest.param("openid profile email offline_access", True, id="present"),
    pytest.param("openid profile", False, id="missing"),
    pytest.param("openid offline_accessx", False, id="a-longer-word-is-not-it"),
])
def test_offline_access(scope, ok):
    result = checks.offline_access(scope)
    assert result.ok is ok
    if not ok:
        assert result.fix.startswith(f"scope = {scope} offline_access")


@pytest.mark.parametrize(("store", "problem", "ok"), [
    pytest.param("cookie", None, True, id="cookie"),
    pytest.param("memory", None, True, id="memory"),
    pytest.param("redis://:pw-1234@r:6379/0", None, True, id="redis-up"),
    pytest.param("redis://:pw-1234@r:6379/0", "ConnectionError: Error 111 connecting to r:6379.", False,
                 id="redis-down"),
])
def test_session_store(store, problem, ok):
    result = checks.session_store(store, problem)
    assert result.ok is ok
    assert "pw-1234" not in result.detail + result.fix
    if store == "memory":
        assert "each process" in result.detail


@pytest.mark.parametrize(("session", "revocation", "problem", "ok"), [
    pytest.param("cookie", "file", None, True, id="file"),
    pytest.param("cookie", "file", "is writable by other users (mode 777)", False, id="file-unusable"),
    pytest.param("cookie", "memory", None, True, id="memory"),
    pytest.param("cookie", "redis://r:6379/1", "ConnectionError", False, id="redis-down"),
    pytest.param("redis://r:6379/0", "file", None, None, id="not-used-with-server-side-sessions"),
])
def test_revocation_store(session, revocation, problem, ok):
    assert checks.revocation_store(session, revocation, problem).ok is ok


@pytest.mark.parametrize(("problem", "session", "ok"), [
    pytest.param(None, "cookie", True, id="usable"),
    pytest.param("belongs to another user (uid 0)", "cookie", False, id="not-ours"),
    pytest.param(None, "memory", None, id="not-used"),
])
def test_lock_directory(problem, session, ok):
    assert checks.lock_directory("/var/lib/app/auth0", problem, session).ok is ok


@pytest.mark.parametrize(("offset", "ok"), [
    pytest.param(None, None, id="no-date-header"),
    pytest.param(0.4, True, id="in-sync"),
    pytest.param(-60.9, True, id="at-the-limit-behind"),
    pytest.param(61.5, False, id="ahead"),
    pytest.param(-300.0, False, id="behind"),
])
def test_clock(offset, ok):
    result = checks.clock(offset, 60)
    assert result.ok is ok
    assert ("NTP" in result.fix) is (ok is False)


# -- never a secret -------------------------------------------------------------------------------
def test_every_secret_of_the_settings_and_the_environment_is_redacted():
    settings = {"client_secret": "cs:with/odd+chars", "session_store": "redis://:redis-pw@r:6379/0"}
    environ = {"AUTH0_SECRET": "first-session-secret second-session-secret", "AUTH0_CLIENT_SECRET": "unused",
               "AUTH0_REVOCATION_STORE": "rediss://user:other-pw@r:6380/0", "AUTH0_CLIENT_ID": "not-a-secret"}
    secrets = checks.secret_values(settings, environ)
    assert set(secrets) == {"cs:with/odd+chars", "cs%3Awith%2Fodd%2Bchars", "redis-pw", "other-pw",
                            "first-session-secret", "second-session-secret", "unused"}
    leaky = [Result("x", False, "got cs:with/odd+chars and first-session-secret",
                    "try cs%3Awith%2Fodd%2Bchars")]
    assert checks.redacted(leaky, secrets) == [Result("x", False, "got *** and ***", "try ***")]
