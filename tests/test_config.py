"""Config.from_settings, the option pipeline and the parsing converters: good values, bad values,
environment, derived values; the typed settings and the routes that must match the option tables."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import pytest

from auth0_wsgi import options, parsing
from auth0_wsgi.config import DEFAULT_SCOPE, Config
from auth0_wsgi.errors import ConfigError
from auth0_wsgi.middleware import HANDLERS, Auth0Middleware
from auth0_wsgi.resource_server import ResourceServerConfig, ResourceServerMiddleware
from auth0_wsgi.settings import Auth0Settings, ResourceServerSettings

DROP = object()  # an override that removes the option
LONG_SECRET = "s" * 40
OLD_SECRET = "o" * 40
CLIENT_SECRET = "c" * 40
BASE: dict[str, Any] = {
    "domain": "tenant.us.auth0.com",
    "client_id": "my-client",
    "client_secret": CLIENT_SECRET,
    "base_url": "https://app.example.com",
    "secret": LONG_SECRET,
}


def settings(**overrides: Any) -> dict[str, Any]:
    merged = {**BASE, **overrides}
    return {k: v for k, v in merged.items() if v is not DROP}


def build(environ: dict[str, str] | None = None, **overrides: Any) -> Config:
    return Config.from_settings(settings(**overrides), environ=environ or {})


# -- good values -------------------------------------------------------------------------------

GOOD = [
    # booleans: ini words, native values, defaults
    ("require_auth-default", {}, "require_auth", True),
    ("require_auth-ini-true", {"require_auth": "true"}, "require_auth", True),
    ("require_auth-ini-no", {"require_auth": "no"}, "require_auth", False),
    ("require_auth-ini-YES", {"require_auth": "YES"}, "require_auth", True),
    ("require_auth-ini-off-padded", {"require_auth": " off "}, "require_auth", False),
    ("require_auth-ini-1", {"require_auth": "1"}, "require_auth", True),
    ("require_auth-ini-0", {"require_auth": "0"}, "require_auth", False),
    ("require_auth-native-False", {"require_auth": False}, "require_auth", False),
    ("require_auth-native-int-1", {"require_auth": 1}, "require_auth", True),
    ("require_auth-native-int-0", {"require_auth": 0}, "require_auth", False),
    ("require_auth-None-means-default", {"require_auth": None}, "require_auth", True),
    ("cookie_secure-ini-false", {"cookie_secure": "false"}, "cookie_secure", False),
    ("cookie_secure-ini-on", {"cookie_secure": "on"}, "cookie_secure", True),
    ("cookie_secure-native-True", {"cookie_secure": True}, "cookie_secure", True),
    ("cookie_secure-default-https", {}, "cookie_secure", True),
    ("cookie_secure-default-http", {"base_url": "http://app.example.com", "allow_insecure_base_url": "true"},
     "cookie_secure", False),
    ("cookie_secure-default-http-loopback", {"base_url": "http://localhost:8000"}, "cookie_secure", False),
    ("cookie_secure-explicit-true-on-http", {"base_url": "http://localhost:8000", "cookie_secure": "true"},
     "cookie_secure", True),
    ("cookie_secure-explicit-false-on-https", {"cookie_secure": "no"}, "cookie_secure", False),
    ("set_remote_user-default", {}, "set_remote_user", True),
    ("set_remote_user-ini-no", {"set_remote_user": "no"}, "set_remote_user", False),
    # whole numbers
    ("clock_skew-default", {}, "clock_skew", 60),
    ("clock_skew-ini-60", {"clock_skew": "60"}, "clock_skew", 60),
    ("clock_skew-ini-0-minimum", {"clock_skew": "0"}, "clock_skew", 0),
    ("clock_skew-ini-600-maximum-padded", {"clock_skew": " 600 "}, "clock_skew", 600),
    ("clock_skew-ini-plus-sign", {"clock_skew": "+5"}, "clock_skew", 5),
    ("clock_skew-native-int", {"clock_skew": 30}, "clock_skew", 30),
    ("refresh_leeway-default", {}, "refresh_leeway", 60),
    ("refresh_leeway-ini-0", {"refresh_leeway": "0"}, "refresh_leeway", 0),
    ("refresh_leeway-ini-3600", {"refresh_leeway": "3600"}, "refresh_leeway", 3600),
    ("session_rolling_duration-default", {}, "session_rolling_duration", 86400),
    ("session_rolling_duration-ini", {"session_rolling_duration": "3600"}, "session_rolling_duration", 3600),
    ("session_rolling_duration-minimum", {"session_rolling_duration": 60}, "session_rolling_duration", 60),
    ("session_absolute_duration-default", {}, "session_absolute_duration", 604800),
    ("session_absolute_duration-ini", {"session_absolute_duration": "7200"}, "session_absolute_duration",
     7200),
    # floats
    ("http_timeout-default", {}, "http_timeout", 5.0),
    ("http_timeout-ini-2.5", {"http_timeout": "2.5"}, "http_timeout", 2.5),
    ("http_timeout-ini-minimum", {"http_timeout": "0.1"}, "http_timeout", 0.1),
    ("http_timeout-native-int", {"http_timeout": 2}, "http_timeout", 2.0),
    ("http_timeout-native-maximum", {"http_timeout": 120}, "http_timeout", 120.0),
    # words
    ("scope-default", {}, "scope", DEFAULT_SCOPE),
    ("scope-openid-only", {"scope": "openid"}, "scope", "openid"),
    ("scope-whitespace-normalised", {"scope": " openid  profile\nemail "}, "scope", "openid profile email"),
    ("scope-duplicates-dropped", {"scope": "openid openid profile"}, "scope", "openid profile"),
    ("scope-native-list", {"scope": ["openid", "email"]}, "scope", "openid email"),
    ("public_paths-default", {}, "public_paths", ()),
    ("public_paths-ini-spaces", {"public_paths": "/static /health"}, "public_paths", ("/static", "/health")),
    ("public_paths-ini-newlines", {"public_paths": "\n/static\n/health\n"}, "public_paths",
     ("/static", "/health")),
    ("public_paths-native-list-trailing-slash", {"public_paths": ["/a", "/b/"]}, "public_paths",
     ("/a", "/b")),
    ("public_paths-root", {"public_paths": "/"}, "public_paths", ("/",)),
    ("secret-exactly-32", {"secret": "x" * 32}, "secret", ("x" * 32,)),
    ("secret-rotation-ini", {"secret": f"{LONG_SECRET} {OLD_SECRET}"}, "secret", (LONG_SECRET, OLD_SECRET)),
    ("secret-rotation-list", {"secret": [LONG_SECRET, OLD_SECRET]}, "secret", (LONG_SECRET, OLD_SECRET)),
    # key=value pairs
    ("authorization_params-default", {}, "authorization_params", {}),
    ("authorization_params-ini-one", {"authorization_params": "prompt=login"}, "authorization_params",
     {"prompt": "login"}),
    ("authorization_params-ini-two", {"authorization_params": "prompt=login connection=github"},
     "authorization_params", {"prompt": "login", "connection": "github"}),
    ("authorization_params-ini-empty-value", {"authorization_params": "ui_locales="}, "authorization_params",
     {"ui_locales": ""}),
    ("authorization_params-ini-value-with-equals", {"authorization_params": "a=b=c"}, "authorization_params",
     {"a": "b=c"}),
    ("authorization_params-native-dict", {"authorization_params": {"prompt": "login", "max_age": 0}},
     "authorization_params", {"prompt": "login", "max_age": "0"}),
    # paths
    ("login_path-default", {}, "login_path", "/login"),
    ("login_path-trailing-slash-stripped", {"login_path": "/auth/login/"}, "login_path", "/auth/login"),
    ("callback_path-default", {}, "callback_path", "/callback"),
    ("callback_path-custom", {"callback_path": "/auth/cb"}, "callback_path", "/auth/cb"),
    ("logout_path-default", {}, "logout_path", "/logout"),
    # choices, case-insensitive, canonical spelling
    ("cookie_samesite-default", {}, "cookie_samesite", "Lax"),
    ("session_cache-default", {}, "session_cache", "tracking"),
    ("session_cache-off-uppercase", {"session_cache": "OFF"}, "session_cache", "off"),
    ("cookie_samesite-strict-lowercase", {"cookie_samesite": "strict"}, "cookie_samesite", "Strict"),
    ("cookie_samesite-none-with-secure", {"cookie_samesite": "none", "cookie_secure": "true"},
     "cookie_samesite", "None"),
    ("token_endpoint_auth_method-default", {}, "token_endpoint_auth_method", "client_secret_post"),
    ("token_endpoint_auth_method-basic-uppercase", {"token_endpoint_auth_method": "CLIENT_SECRET_BASIC"},
     "token_endpoint_auth_method", "client_secret_basic"),
    ("id_token_signing_alg-default", {}, "id_token_signing_alg", "RS256"),
    ("id_token_signing_alg-lowercase", {"id_token_signing_alg": "rs256"}, "id_token_signing_alg", "RS256"),
    ("id_token_signing_alg-ES256", {"id_token_signing_alg": "ES256"}, "id_token_signing_alg", "ES256"),
    ("id_token_signing_alg-HS256-long-client-secret", {"id_token_signing_alg": "HS256"},
     "id_token_signing_alg", "HS256"),
    ("session_cookie_name-default", {}, "session_cookie_name", "auth0_session"),
    ("session_cookie_name-custom", {"session_cookie_name": "sess"}, "session_cookie_name", "sess"),
    ("refresh_lock_dir-absolute", {"refresh_lock_dir": "/var/lib/app-locks"}, "refresh_lock_dir",
     "/var/lib/app-locks"),
    # text
    ("client_id-stripped", {"client_id": "  my-client  "}, "client_id", "my-client"),
    ("audience-default", {}, "audience", None),
    ("audience-set", {"audience": "https://api.example.com"}, "audience", "https://api.example.com"),
    ("audience-empty-is-None", {"audience": ""}, "audience", None),
    ("audience-blank-is-None", {"audience": "   "}, "audience", None),
    # issuer from domain or issuer
    ("issuer-from-domain", {}, "issuer", "https://tenant.us.auth0.com/"),
    ("issuer-from-domain-padded", {"domain": " tenant.us.auth0.com "}, "issuer", "https://tenant.us.auth0.com/"),
    ("issuer-from-domain-with-port", {"domain": "localhost:3000"}, "issuer", "https://localhost:3000/"),
    ("issuer-explicit-kept-exactly", {"domain": DROP, "issuer": "https://login.example.com/"}, "issuer",
     "https://login.example.com/"),
    ("issuer-explicit-without-slash-kept", {"domain": DROP, "issuer": "https://idp.example.com"}, "issuer",
     "https://idp.example.com"),
    ("issuer-http-localhost", {"domain": DROP, "issuer": "http://localhost:3000/"}, "issuer",
     "http://localhost:3000/"),
    ("issuer-http-127.0.0.1", {"domain": DROP, "issuer": "http://127.0.0.1:8080/"}, "issuer",
     "http://127.0.0.1:8080/"),
    ("issuer-http-ipv6-loopback", {"domain": DROP, "issuer": "http://[::1]:8080/"}, "issuer",
     "http://[::1]:8080/"),
    # base_url and what derives from it
    ("base_url-kept", {}, "base_url", "https://app.example.com"),
    ("base_url-trailing-slash-stripped", {"base_url": "https://app.example.com/"}, "base_url",
     "https://app.example.com"),
    ("base_url-with-path-trailing-slash-stripped", {"base_url": "https://app.example.com/app/"}, "base_url",
     "https://app.example.com/app"),
    ("redirect_uri-derived", {}, "redirect_uri", "https://app.example.com/callback"),
    ("redirect_uri-with-base-path-and-custom-callback",
     {"base_url": "https://app.example.com/app/", "callback_path": "/auth/cb"}, "redirect_uri",
     "https://app.example.com/app/auth/cb"),
    ("base_path-root", {}, "base_path", ""),
    ("base_path-prefix", {"base_url": "https://app.example.com/app/"}, "base_path", "/app"),
    ("cookie_path-root", {}, "cookie_path", "/"),
    ("cookie_path-prefix", {"base_url": "https://app.example.com/app"}, "cookie_path", "/app"),
    ("post_logout_redirect-default", {}, "post_logout_redirect", "https://app.example.com/"),
    ("post_logout_redirect-default-with-base-path", {"base_url": "https://app.example.com/app/"},
     "post_logout_redirect", "https://app.example.com/app/"),
    ("post_logout_redirect-path-made-absolute", {"post_logout_redirect": "/bye"}, "post_logout_redirect",
     "https://app.example.com/bye"),
    ("post_logout_redirect-absolute-kept", {"post_logout_redirect": "https://www.example.com/"},
     "post_logout_redirect", "https://www.example.com/"),
    # plain http off loopback only when allowed; error pages
    ("allow_insecure_base_url-default", {}, "allow_insecure_base_url", False),
    ("base_url-http-public-host-allowed", {"base_url": "http://app.example.com",
                                           "allow_insecure_base_url": "yes"}, "base_url", "http://app.example.com"),
    ("base_url-http-loopback-needs-nothing", {"base_url": "http://127.0.0.1:8000"}, "base_url",
     "http://127.0.0.1:8000"),
    ("base_url-http-ipv6-loopback", {"base_url": "http://[::1]:8000"}, "base_url", "http://[::1]:8000"),
    ("debug-default", {}, "debug", False),
    ("debug-ini-true", {"debug": "true"}, "debug", True),
    ("error_template-default", {}, "error_template", None),
]


@pytest.mark.parametrize(("overrides", "attribute", "expected"), [g[1:] for g in GOOD],
                         ids=[g[0] for g in GOOD])
def test_good_value(overrides, attribute, expected):
    config = build(**overrides)
    value = getattr(config, attribute)
    assert value == expected
    assert type(value) is type(expected)


# -- bad values ----------------------------------------------------------------------------------

BAD = [
    # (id, overrides, option named in the message, fragment of the problem or the fix)
    ("cookie_secure-typo-ture", {"cookie_secure": "ture"}, "cookie_secure", "use true or false"),
    ("cookie_secure-int-2", {"cookie_secure": 2}, "cookie_secure", "use true or false"),
    ("cookie_secure-empty", {"cookie_secure": ""}, "cookie_secure", "is not a boolean"),
    ("require_auth-maybe", {"require_auth": "maybe"}, "require_auth", "use true or false"),
    ("set_remote_user-float", {"set_remote_user": 1.0}, "set_remote_user", "use true or false"),
    ("clock_skew-negative", {"clock_skew": "-1"}, "clock_skew", "below the minimum of 0"),
    ("clock_skew-not-a-number", {"clock_skew": "abc"}, "clock_skew", "not a whole number"),
    ("clock_skew-fraction", {"clock_skew": "1.5"}, "clock_skew", "not a whole number"),
    ("clock_skew-bool", {"clock_skew": True}, "clock_skew", "not a whole number"),
    ("clock_skew-above-maximum", {"clock_skew": "601"}, "clock_skew", "above the maximum of 600"),
    ("refresh_leeway-above-maximum", {"refresh_leeway": 3601}, "refresh_leeway", "above the maximum"),
    ("session_rolling_duration-below-minimum", {"session_rolling_duration": "59"}, "session_rolling_duration",
     "below the minimum of 60"),
    ("http_timeout-zero", {"http_timeout": "0"}, "http_timeout", "below the minimum of 0.1"),
    ("http_timeout-not-a-number", {"http_timeout": "abc"}, "http_timeout", "not a number"),
    ("http_timeout-nan", {"http_timeout": "nan"}, "http_timeout", "NaN"),
    ("http_timeout-inf", {"http_timeout": "inf"}, "http_timeout", "above the maximum"),
    ("http_timeout-bool", {"http_timeout": True}, "http_timeout", "not a number"),
    ("scope-without-openid", {"scope": "profile email"}, "scope", "for example: openid"),
    ("scope-openid-glued", {"scope": "openidprofile"}, "scope", "must contain 'openid'"),
    ("scope-empty", {"scope": ""}, "scope", "must contain 'openid'"),
    ("authorization_params-state", {"authorization_params": "state=abc"}, "authorization_params",
     "state cannot be overridden"),
    ("authorization_params-redirect_uri", {"authorization_params": "redirect_uri=https://evil.com/"},
     "authorization_params", "redirect_uri cannot be overridden"),
    ("authorization_params-dict-nonce", {"authorization_params": {"nonce": "x"}}, "authorization_params",
     "nonce cannot be overridden"),
    ("authorization_params-scope", {"authorization_params": "scope=admin"}, "authorization_params",
     "scope cannot be overridden"),
    ("authorization_params-malformed-a", {"authorization_params": "a"}, "authorization_params",
     "key=value pairs separated by spaces"),
    ("authorization_params-empty-key", {"authorization_params": "=x"}, "authorization_params",
     "not of the form key=value"),
    ("authorization_params-duplicate", {"authorization_params": "prompt=login prompt=none"},
     "authorization_params", "given twice"),
    ("unknown-clientid", {"clientid": "x"}, "clientid", "did you mean 'client_id'?"),
    ("unknown-cookie_secrue", {"cookie_secrue": "true"}, "cookie_secrue", "did you mean 'cookie_secure'?"),
    ("unknown-callback_url", {"callback_url": "/cb"}, "callback_url", "did you mean 'callback_path'?"),
    ("unknown-no-close-match", {"xyzzy": "1"}, "xyzzy", "see the configuration reference"),
    ("domain-with-https", {"domain": "https://tenant.us.auth0.com"}, "domain", "no https://"),
    ("domain-with-path", {"domain": "tenant.us.auth0.com/authorize"}, "domain", "not a bare host name"),
    ("domain-with-space", {"domain": "tenant us.auth0.com"}, "domain", "not a bare host name"),
    ("domain-and-issuer", {"issuer": "https://tenant.us.auth0.com/"}, "domain", "set only one of them"),
    ("domain-missing", {"domain": DROP}, "domain", "AUTH0_DOMAIN"),
    ("issuer-http-non-loopback", {"domain": DROP, "issuer": "http://idp.example.com/"}, "issuer",
     "use https"),
    ("issuer-http-localhost-lookalike", {"domain": DROP, "issuer": "http://localhost.evil.com/"}, "issuer",
     "plain http is allowed only on loopback"),
    ("issuer-no-scheme", {"domain": DROP, "issuer": "idp.example.com"}, "issuer",
     "not an absolute http(s) URL"),
    ("issuer-with-query", {"domain": DROP, "issuer": "https://idp.example.com/?x=1"}, "issuer",
     "write the provider's issuer exactly"),
    ("issuer-with-empty-query", {"domain": DROP, "issuer": "https://idp.example.com/?"}, "issuer",
     "not an absolute"),
    ("issuer-ftp", {"domain": DROP, "issuer": "ftp://idp.example.com/"}, "issuer", "not an absolute"),
    ("base_url-with-query", {"base_url": "https://app.example.com/?next=/"}, "base_url", "without query"),
    ("base_url-with-empty-query", {"base_url": "https://app.example.com?"}, "base_url", "without query"),
    ("base_url-with-fragment", {"base_url": "https://app.example.com/#top"}, "base_url", "without query"),
    ("base_url-with-empty-fragment", {"base_url": "https://app.example.com/#"}, "base_url", "without query"),
    ("base_url-no-scheme", {"base_url": "app.example.com"}, "base_url", "e.g. https://app.example.com"),
    ("base_url-no-host", {"base_url": "https://"}, "base_url", "not an absolute"),
    ("base_url-empty", {"base_url": ""}, "base_url", "is empty"),
    ("secret-31-chars", {"secret": "x" * 31}, "secret", "at least 32 characters"),
    ("secret-short-gives-fix", {"secret": "short"}, "secret", "secrets.token_urlsafe(32)"),
    ("secret-rotation-with-short-old", {"secret": f"{LONG_SECRET} short"}, "secret", "at least 32"),
    ("secret-empty", {"secret": ""}, "secret", "is empty"),
    ("secret-empty-list", {"secret": []}, "secret", "is empty"),
    ("client_id-empty", {"client_id": ""}, "client_id", "is empty"),
    ("client_id-not-text", {"client_id": 123}, "client_id", "not a string"),
    ("client_id-missing", {"client_id": DROP}, "client_id", "AUTH0_CLIENT_ID"),
    ("client_secret-missing", {"client_secret": DROP}, "client_secret", "AUTH0_CLIENT_SECRET"),
    ("secret-missing", {"secret": DROP}, "secret", "AUTH0_SECRET"),
    ("login_path-equals-callback_path", {"login_path": "/callback"}, "login_path",
     "give each route its own path"),
    ("logout_path-equals-login_path", {"logout_path": "/login"}, "login_path", "must differ"),
    ("paths-equal-after-trailing-slash", {"login_path": "/auth/", "callback_path": "/auth"}, "login_path",
     "must differ"),
    ("login_path-relative", {"login_path": "login"}, "login_path", "not an absolute path"),
    ("login_path-double-slash", {"login_path": "//login"}, "login_path", "not an absolute path"),
    ("callback_path-with-query", {"callback_path": "/cb?x=1"}, "callback_path", "not an absolute path"),
    ("logout_path-with-space", {"logout_path": "/log out"}, "logout_path", "not an absolute path"),
    ("cookie_samesite-None-with-secure-false", {"cookie_samesite": "None", "cookie_secure": "false"},
     "cookie_samesite", "use Lax, or serve the app over https"),
    ("cookie_samesite-None-on-http-default-secure", {"cookie_samesite": "none",
                                                     "base_url": "http://localhost:8000"},
     "cookie_samesite", "None needs cookie_secure = true"),
    ("session_cache-unknown", {"session_cache": "seconds"}, "session_cache", "use tracking"),
    ("cookie_samesite-unknown", {"cookie_samesite": "Relaxed"}, "cookie_samesite",
     "not one of Lax, Strict, None"),
    ("session_cookie_name-transaction-prefix", {"session_cookie_name": "a0tx.session"}, "session_cookie_name",
     "collides with the login cookies"),
    ("session_cookie_name-a0tx", {"session_cookie_name": "a0tx"}, "session_cookie_name",
     "choose another name"),
    ("session_cookie_name-space", {"session_cookie_name": "my session"}, "session_cookie_name",
     "not a valid cookie name"),
    ("session_cookie_name-empty", {"session_cookie_name": ""}, "session_cookie_name",
     "not a valid cookie name"),
    ("session_cookie_name-too-long", {"session_cookie_name": "x" * 65}, "session_cookie_name",
     "not a valid cookie name"),
    ("id_token_signing_alg-none", {"id_token_signing_alg": "none"}, "id_token_signing_alg",
     "is not one of RS256"),
    ("id_token_signing_alg-HS512", {"id_token_signing_alg": "HS512"}, "id_token_signing_alg",
     "is not one of"),
    ("id_token_signing_alg-HS256-short-client-secret",
     {"id_token_signing_alg": "HS256", "client_secret": "short"}, "id_token_signing_alg", "use RS256"),
    ("token_endpoint_auth_method-unsupported", {"token_endpoint_auth_method": "tls_client_auth"},
     "token_endpoint_auth_method", "not one of client_secret_post, client_secret_basic, private_key_jwt"),
    ("private_key_jwt-without-key", {"token_endpoint_auth_method": "private_key_jwt"},
     "client_private_key", "is required with private_key_jwt"),
    ("client_private_key-not-a-key", {"token_endpoint_auth_method": "private_key_jwt",
                                      "client_private_key": "-----BEGIN PRIVATE KEY-----\nxx\n"},
     "client_private_key", "holds no RSA or EC private key"),
    ("client_private_key-relative-path", {"client_private_key": "keys/app.pem"},
     "client_private_key", "absolute path"),
    ("public_paths-relative", {"public_paths": "static"}, "public_paths",
     "absolute paths separated by spaces"),
    ("public_paths-one-bad-in-list", {"public_paths": ["/ok", "bad"]}, "public_paths", "'bad'"),
    ("public_paths-with-query", {"public_paths": "/a?x=1"}, "public_paths", "not an absolute path"),
    ("public_paths-non-string-item", {"public_paths": [1]}, "public_paths", "not a string"),
    ("public_paths-mapping", {"public_paths": {"/a": 1}}, "public_paths", "not a list of words"),
    ("post_logout_redirect-bare-word", {"post_logout_redirect": "bye"}, "post_logout_redirect",
     "use a path like /"),
    ("post_logout_redirect-javascript", {"post_logout_redirect": "javascript:alert(1)"},
     "post_logout_redirect", "neither a path nor an absolute URL"),
    ("refresh_lock_dir-relative", {"refresh_lock_dir": "locks"}, "refresh_lock_dir",
     "not an absolute directory path"),
    ("audience-not-text", {"audience": 5}, "audience", "not a string"),
    ("base_url-http-public-host", {"base_url": "http://app.example.com"}, "base_url",
     "set allow_insecure_base_url = true"),
    ("base_url-http-says-https-behind-a-proxy", {"base_url": "http://app.example.com"}, "base_url",
     "https also when TLS ends at a proxy"),
    ("base_url-http-localhost-lookalike", {"base_url": "http://localhost.evil.com"}, "base_url",
     "plain http on a host that is not loopback"),
    ("allow_insecure_base_url-typo", {"allow_insecure_base_url": "yess"}, "allow_insecure_base_url",
     "use true or false"),
    ("debug-typo", {"debug": "ture"}, "debug", "use true or false"),
    ("error_template-missing-file", {"error_template": "/nonexistent/auth0-error.html"}, "error_template",
     "cannot read /nonexistent/auth0-error.html"),
    ("error_template-not-a-path", {"error_template": 5}, "error_template", "not a file path"),
]


@pytest.mark.parametrize(("overrides", "option", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_value_names_option_and_fix(overrides, option, fragment):
    with pytest.raises(ConfigError) as info:
        build(**overrides)
    message = str(info.value)
    assert info.value.option == option
    assert message.startswith(f"auth0-wsgi: option '{option}': ")
    assert fragment in message
    _problem, sep, fix = message.partition("; ")
    assert sep, f"no fix in {message!r}"
    assert fix.strip()
    assert info.value.code == "configuration_error"
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("secret", ["short", "y" * 31], ids=["short", "31-chars"])
def test_short_secret_is_not_echoed(secret):
    with pytest.raises(ConfigError) as info:
        build(secret=secret)
    assert secret not in str(info.value)


# -- environment fallback ------------------------------------------------------------------------

def test_environment_supplies_a_missing_option():
    config = build(environ={"AUTH0_CLIENT_SECRET": "from-env-" + "e" * 30}, client_secret=DROP)
    assert config.client_secret == "from-env-" + "e" * 30


def test_environment_alone_is_enough():
    environ = {"AUTH0_DOMAIN": "env.auth0.com", "AUTH0_CLIENT_ID": "env-client",
               "AUTH0_CLIENT_SECRET": CLIENT_SECRET, "AUTH0_BASE_URL": "https://env.example.com/",
               "AUTH0_SECRET": f"{LONG_SECRET} {OLD_SECRET}"}
    config = Config.from_settings({}, environ=environ)
    assert config.issuer == "https://env.auth0.com/"
    assert config.client_id == "env-client"
    assert config.base_url == "https://env.example.com"
    assert config.secret == (LONG_SECRET, OLD_SECRET)


def test_settings_none_uses_environment():
    environ = {"AUTH0_DOMAIN": "env.auth0.com", "AUTH0_CLIENT_ID": "c", "AUTH0_CLIENT_SECRET": CLIENT_SECRET,
               "AUTH0_BASE_URL": "https://env.example.com", "AUTH0_SECRET": LONG_SECRET}
    assert Config.from_settings(None, environ=environ).client_id == "c"


@pytest.mark.parametrize(
    ("env_name", "env_value", "attribute", "expected"),
    [
        ("AUTH0_CLOCK_SKEW", "10", "clock_skew", 10),
        ("AUTH0_COOKIE_SECURE", "false", "cookie_secure", False),
        ("AUTH0_PUBLIC_PATHS", "/a /b/", "public_paths", ("/a", "/b")),
        ("AUTH0_AUTHORIZATION_PARAMS", "prompt=login", "authorization_params", {"prompt": "login"}),
        ("AUTH0_AUDIENCE", "https://api.example.com", "audience", "https://api.example.com"),
        ("AUTH0_HTTP_TIMEOUT", "1.5", "http_timeout", 1.5),
    ],
    ids=["clock_skew", "cookie_secure", "public_paths", "authorization_params", "audience", "http_timeout"],
)
def test_environment_values_are_parsed(env_name, env_value, attribute, expected):
    assert getattr(build(environ={env_name: env_value}), attribute) == expected


@pytest.mark.parametrize(
    ("overrides", "environ", "attribute", "expected"),
    [
        ({"client_id": "explicit"}, {"AUTH0_CLIENT_ID": "from-env"}, "client_id", "explicit"),
        ({"clock_skew": "5"}, {"AUTH0_CLOCK_SKEW": "99"}, "clock_skew", 5),
        ({"cookie_secure": False}, {"AUTH0_COOKIE_SECURE": "true"}, "cookie_secure", False),
        ({"client_id": None}, {"AUTH0_CLIENT_ID": "from-env"}, "client_id", "from-env"),
        ({"domain": DROP, "issuer": "https://idp.example.com/"}, {"AUTH0_DOMAIN": "env.auth0.com"}, "issuer",
         "https://idp.example.com/"),
        ({}, {"AUTH0_ISSUER": "https://env-issuer.example.com/"}, "issuer", "https://tenant.us.auth0.com/"),
        ({}, {"AUTH0_DOMAIN": "env.auth0.com"}, "issuer", "https://tenant.us.auth0.com/"),
        ({"domain": DROP}, {"AUTH0_ISSUER": "https://env-issuer.example.com/"}, "issuer",
         "https://env-issuer.example.com/"),
        ({"clock_skew": DROP}, {"AUTH0_CLOCK_SKEW": ""}, "clock_skew", 60),
        ({}, {"AUTH0_UNKNOWN_THING": "x"}, "client_id", "my-client"),
    ],
    ids=["explicit-client_id-wins", "explicit-clock_skew-wins", "explicit-false-wins",
         "None-falls-back-to-env",
         "explicit-issuer-beats-AUTH0_DOMAIN", "explicit-domain-beats-AUTH0_ISSUER",
         "explicit-domain-beats-AUTH0_DOMAIN", "AUTH0_ISSUER-used-without-domain", "empty-env-value-ignored",
         "unknown-env-variable-ignored"],
)
def test_environment_precedence(overrides, environ, attribute, expected):
    assert getattr(build(environ=environ, **overrides), attribute) == expected


@pytest.mark.parametrize(
    ("overrides", "environ", "option"),
    [
        ({}, {"AUTH0_COOKIE_SECURE": "ture"}, "cookie_secure"),
        ({"client_secret": DROP}, {"AUTH0_CLIENT_SECRET": ""}, "client_secret"),
        ({"domain": DROP}, {"AUTH0_DOMAIN": "a.auth0.com", "AUTH0_ISSUER": "https://a.auth0.com/"}, "domain"),
        ({"domain": DROP}, {"AUTH0_DOMAIN": "https://a.auth0.com"}, "domain"),
    ],
    ids=["env-value-parsed-strictly", "empty-env-does-not-satisfy-required", "both-domain-and-issuer-in-env",
         "env-domain-validated"],
)
def test_environment_errors(overrides, environ, option):
    with pytest.raises(ConfigError) as info:
        build(environ=environ, **overrides)
    assert info.value.option == option
    assert f"option '{option}'" in str(info.value)


# -- the Config object ---------------------------------------------------------------------------

def test_config_is_frozen():
    config = build()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.cookie_secure = False  # type: ignore[misc]
    assert config.cookie_secure is True


def test_settings_mapping_is_not_mutated():
    given = settings(clock_skew="5", audience=None)
    before = dict(given)
    build(**given)
    assert given == before


def test_same_settings_give_equal_configs():
    assert build() == build()
    assert build() != build(clock_skew=5)


# -- the option tables, the typed settings and the routes agree ----------------------------------

FILTERS = [
    pytest.param(options.LOGIN, Auth0Settings, Config, id="login-filter"),
    pytest.param(options.API, ResourceServerSettings, ResourceServerConfig, id="api-filter"),
]


@pytest.mark.parametrize(("table", "typed_settings", "config_class"), FILTERS)
def test_typed_settings_list_exactly_the_options_the_parser_accepts(table, typed_settings, config_class):
    assert set(typed_settings.__annotations__) == set(table.names)
    assert typed_settings.__required_keys__ == frozenset()  # every option may be left out
    typing.get_type_hints(typed_settings)  # every annotation names a real type


@pytest.mark.parametrize(("table", "typed_settings", "config_class"), FILTERS)
def test_every_parsed_option_is_a_config_field(table, typed_settings, config_class):
    fields = {field.name for field in dataclasses.fields(config_class)}
    assert fields == {*table.parsers, "issuer"}
    assert set(table.required) <= set(table.parsers)
    assert set(table.fixes) <= set(table.parsers)


@pytest.mark.parametrize("middleware", [Auth0Middleware, ResourceServerMiddleware],
                         ids=["Auth0Middleware", "ResourceServerMiddleware"])
def test_app_and_config_are_positional_only(middleware):
    parameters = list(inspect.signature(middleware.__init__).parameters.values())[1:]
    assert [(p.name, p.kind) for p in parameters] == [
        ("app", inspect.Parameter.POSITIONAL_ONLY), ("config", inspect.Parameter.POSITIONAL_ONLY),
        ("clock", inspect.Parameter.KEYWORD_ONLY),  # no option: the PasteDeploy factory refuses it
        ("settings", inspect.Parameter.VAR_KEYWORD)]


def test_every_route_has_a_handler():
    assert set(HANDLERS) == set(build().routes)


def test_routes_follow_their_path_options():
    config = build(login_path="/auth/in", callback_path="/auth/cb", logout_path="/auth/out",
                   backchannel_logout_path="/auth/bcl")
    assert config.routes == {"login": "/auth/in", "callback": "/auth/cb", "logout": "/auth/out",
                             "backchannel_logout": "/auth/bcl"}


def test_two_routes_on_one_path_name_every_route_option():
    with pytest.raises(ConfigError, match="login_path, callback_path, logout_path and "
                                          "backchannel_logout_path must differ"):
        build(backchannel_logout_path="/logout")


# -- parsing converters --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("Yes", True), (" ON ", True), ("1", True), ("false", False), ("no", False),
     ("OFF", False), ("0", False), (True, True), (False, False), (1, True), (0, False)],
    ids=["true", "Yes", "ON-padded", "str-1", "false", "no", "OFF", "str-0", "True", "False", "int-1",
         "int-0"],
)
def test_as_bool_good(value, expected):
    assert parsing.as_bool(value) is expected


@pytest.mark.parametrize("value", ["ture", "", "y", "2", 2, -1, 1.0, None, [], b"true"],
                         ids=["ture", "empty", "y", "str-2", "int-2", "int-neg", "float", "None", "list",
                              "bytes"])
def test_as_bool_bad(value):
    with pytest.raises(ValueError, match="is not a boolean"):
        parsing.as_bool(value)


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [("60", {}, 60), (" 7 ", {}, 7), ("+3", {}, 3), ("-3", {}, -3), (5, {}, 5), ("0", {"minimum": 0}, 0),
     ("10", {"maximum": 10}, 10)],
    ids=["str", "padded", "plus", "minus", "int", "at-minimum", "at-maximum"],
)
def test_as_int_good(value, kwargs, expected):
    assert parsing.as_int(value, **kwargs) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [("abc", {}, "not a whole number"), ("1.5", {}, "not a whole number"), ("", {}, "not a whole number"),
     ("-", {}, "not a whole number"), (True, {}, "not a whole number"), (1.0, {}, "not a whole number"),
     (None, {}, "not a whole number"), ("-1", {"minimum": 0}, "below the minimum"),
     ("11", {"maximum": 10}, "above the maximum")],
    ids=["letters", "fraction", "empty", "sign-only", "bool", "float", "None", "below", "above"],
)
def test_as_int_bad(value, kwargs, message):
    with pytest.raises(ValueError, match=message):
        parsing.as_int(value, **kwargs)


@pytest.mark.parametrize(
    ("value", "expected"), [("2.5", 2.5), (3, 3.0), (" 1e1 ", 10.0), (0.1, 0.1)],
    ids=["str", "int", "exponent-padded", "at-minimum"],
)
def test_as_float_good(value, expected):
    assert parsing.as_float(value, minimum=0.1, maximum=120) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("abc", "not a number"), (None, "not a number"), (False, "not a number"), ("nan", "NaN"),
     ("0.09", "below the minimum"), ("inf", "above the maximum"), ("-inf", "below the minimum")],
    ids=["letters", "None", "bool", "nan", "below", "inf", "minus-inf"],
)
def test_as_float_bad(value, message):
    with pytest.raises(ValueError, match=message):
        parsing.as_float(value, minimum=0.1, maximum=120)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a b\nc", ("a", "b", "c")), ("", ()), (["a b", "c"], ("a", "b", "c")), (("x",), ("x",)), ([], ())],
    ids=["str", "empty-str", "list-with-spaces", "tuple", "empty-list"],
)
def test_as_words_good(value, expected):
    assert parsing.as_words(value) == expected


@pytest.mark.parametrize("value", [5, None, b"a b", {"a": "b"}, ["a", 1]],
                         ids=["int", "None", "bytes", "mapping", "non-str-item"])
def test_as_words_bad(value):
    with pytest.raises(ValueError):
        parsing.as_words(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a=1 b=2", {"a": "1", "b": "2"}), ("a=", {"a": ""}), ({"a": 1}, {"a": "1"}), ("", {}),
     (["a=1", "b=2"], {"a": "1", "b": "2"})],
    ids=["str", "empty-value", "mapping", "empty", "list"],
)
def test_as_params_good(value, expected):
    assert parsing.as_params(value) == expected


@pytest.mark.parametrize(("value", "message"),
                         [("a", "key=value"), ("=1", "key=value"), ("a=1 a=2", "twice")],
                         ids=["no-equals", "no-key", "duplicate"])
def test_as_params_bad(value, message):
    with pytest.raises(ValueError, match=message):
        parsing.as_params(value)


@pytest.mark.parametrize(("value", "expected"), [(" x ", "x"), ("", "")], ids=["stripped", "empty"])
def test_as_text_good(value, expected):
    assert parsing.as_text(value) == expected


@pytest.mark.parametrize("value", [1, None, b"x", ["x"]], ids=["int", "None", "bytes", "list"])
def test_as_text_bad(value):
    with pytest.raises(ValueError, match="is not a string"):
        parsing.as_text(value)


@pytest.mark.parametrize(
    ("parse", "value", "expected"),
    [
        pytest.param(parsing.as_required_text, " x ", "x", id="required-text-stripped"),
        pytest.param(parsing.as_optional_text, " x ", "x", id="optional-text-stripped"),
        pytest.param(parsing.as_optional_text, "  ", None, id="optional-text-blank-is-None"),
        pytest.param(parsing.choice("Lax", "Strict"), "STRICT", "Strict", id="choice-canonical-spelling"),
        pytest.param(parsing.whole_number(0, 10), "10", 10, id="whole-number-at-maximum"),
        pytest.param(parsing.number(0.1, 2), "0.1", 0.1, id="number-at-minimum"),
    ],
)
def test_converter_combinators_good(parse, value, expected):
    assert parse(value) == expected


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        pytest.param(parsing.as_required_text, "  ", "is empty", id="required-text-blank"),
        pytest.param(parsing.as_optional_text, 5, "not a string", id="optional-text-int"),
        pytest.param(parsing.choice("Lax", "Strict"), "None", "is not one of Lax, Strict", id="choice-other"),
        pytest.param(parsing.whole_number(0, 10), "11", "above the maximum of 10", id="whole-number-above"),
        pytest.param(parsing.number(0.1, 2), "3", "above the maximum of 2", id="number-above"),
    ],
)
def test_converter_combinators_bad(parse, value, message):
    with pytest.raises(ValueError, match=message):
        parse(value)
