"""The observations of ``auth0-wsgi check`` (``auth0_wsgi.probes``), made for real: against the fake
provider over loopback HTTP (for the answers a certified provider will not give), a real redis-server
and real directories. The real provider's answers are in test_e2e_check.py."""

from __future__ import annotations

import os
import time

import pytest
import redis
from joserfc.jwk import RSAKey

from auth0_wsgi import probes
from tests.support.flows import settings_for
from tests.support.servers import free_port

BASE_URL = "https://app.test"
CALLBACK = BASE_URL + "/callback"


def _settings(fake, **overrides):
    return settings_for(fake, **{"base_url": BASE_URL, **overrides})


def _run(fake, clock=time.time, **overrides):
    results = probes.run(_settings(fake, **overrides), os.environ, where="[filter:auth0] of test.ini",
                         clock=clock)
    return {result.name: result for result in results}


def test_every_check_runs_in_order_against_a_provider_that_answers(fake):
    results = probes.run(_settings(fake, session_store="memory"), os.environ, where="here")
    assert [r.name for r in results] == ["configuration", "discovery", "jwks", "client_credentials",
                                         "callback_url", "audience", "offline_access", "session_store",
                                         "revocation_store", "lock_directory", "clock"]
    assert {r.name: r.ok for r in results} == {
        "configuration": True, "discovery": True, "jwks": True, "client_credentials": True,
        "callback_url": True, "offline_access": True, "session_store": True, "clock": True,
        # the fake provider accepts any audience before a login: nothing to conclude
        "audience": None,
        # server-side sessions use neither
        "revocation_store": None, "lock_directory": None}


def test_the_made_up_code_is_exchanged_like_a_real_one(fake):
    _run(fake)
    form = fake.last_token_request
    assert form["grant_type"] == "authorization_code" and form["redirect_uri"] == CALLBACK
    assert form["code"].startswith("auth0-wsgi-check.") and form["code_verifier"]


def test_the_authorization_request_asks_for_no_user_with_pkce(fake):
    _run(fake, audience=None)
    asked = fake.last_authorize
    assert asked["prompt"] == "none" and asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == CALLBACK and "audience" not in asked


@pytest.mark.parametrize("method", ["client_secret_post", "client_secret_basic"])
def test_client_credentials_use_the_configured_method(fake, method):
    fake.auth_method = method
    assert _run(fake, token_endpoint_auth_method=method)["client_credentials"].ok is True
    assert ("client_secret" in fake.last_token_request) is (method == "client_secret_post")


def test_private_key_jwt_credentials(fake):
    key = RSAKey.generate_key(2048)
    fake.auth_method, fake.client_public_key = "private_key_jwt", key
    results = _run(fake, token_endpoint_auth_method="private_key_jwt", client_secret=None,
                   client_private_key=key.as_pem(private=True).decode())
    assert results["client_credentials"].ok is True


def test_a_wrong_client_secret(fake):
    result = _run(fake, client_secret="not-the-secret")["client_credentials"]
    assert result.ok is False and "invalid_client" in result.detail


def test_an_issuer_mismatch_skips_what_needs_discovery(fake):
    fake.discovery_overrides = {"issuer": fake.issuer + "other/"}
    results = _run(fake)
    assert results["discovery"].ok is False and "other/" in results["discovery"].detail
    assert {results[name].ok for name in ("jwks", "client_credentials", "callback_url", "audience")} == {None}
    assert results["offline_access"].ok is True  # the rest still runs


def test_an_unreachable_provider(fake):
    result = _run(fake, issuer=f"http://127.0.0.1:{free_port()}/")["discovery"]
    assert result.ok is False and "cannot reach" in result.detail and "spelled right" in result.fix


def test_a_jwks_that_fails(fake):
    fake.jwks_status = 404
    assert _run(fake)["jwks"].ok is False


def test_an_error_page_at_the_authorization_endpoint(fake):
    page = b'{"error": "invalid_redirect_uri", "error_description": "no\\nmatch"}'
    fake.raw_answers["/authorize"] = (400, page)
    result = _run(fake)["callback_url"]
    assert result.ok is False
    assert "invalid_redirect_uri: no\\nmatch" in result.detail  # the provider's words, on one line


def test_a_clock_ten_minutes_ahead(fake):
    result = _run(fake, clock=lambda: time.time() + 600)["clock"]
    assert result.ok is False and "ahead" in result.detail


def test_a_redis_store_gets_a_probe_key_and_gives_it_back(fake, redis_url):
    client = redis.Redis.from_url(redis_url)
    seen: list[object] = []
    original = redis.Redis.set

    def spy(self, name, value, *args, **kwargs):
        seen.append((name, kwargs.get("ex")))
        return original(self, name, value, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redis.Redis, "set", spy)
        assert probes.redis_problem(redis_url, "auth0wsgi:ns:", 2) is None
    [(key, ttl)] = seen
    assert key.startswith("auth0wsgi:ns:check:") and ttl == probes.PROBE_TTL
    assert client.exists(key) == 0


def test_a_sentinel_set_or_a_cluster_is_checked_like_one_redis(fake, any_redis_url):
    result = _run(fake, session_store=any_redis_url)["session_store"]
    assert result.ok is True, result.detail


@pytest.mark.parametrize("url", [
    pytest.param("redis+sentinel://:pass-w0rd@127.0.0.1:{port}/mymaster", id="sentinel"),
    pytest.param("redis+cluster://:pass-w0rd@127.0.0.1:{port}", id="cluster"),
])
def test_an_unreachable_sentinel_set_or_cluster(fake, url):
    result = _run(fake, session_store=url.format(port=free_port()))["session_store"]
    assert result.ok is False and "pass-w0rd" not in result.detail + result.fix
    assert "redis+sentinel://" in result.fix


def test_an_unreachable_redis(fake):
    url = f"redis://:pass-w0rd@127.0.0.1:{free_port()}/0"
    result = _run(fake, session_store=url)["session_store"]
    assert result.ok is False and "ConnectionError" in result.detail and "pass-w0rd" not in result.detail


def test_cookie_sessions_check_the_lock_directory_and_leave_nothing_in_it(fake, tmp_path):
    directory = tmp_path / "locks"
    results = _run(fake, refresh_lock_dir=str(directory))
    assert results["lock_directory"].ok is results["revocation_store"].ok is True
    assert list(directory.iterdir()) == []  # the probe file is gone


def test_a_lock_directory_others_can_write_to(fake, tmp_path):
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    results = _run(fake, refresh_lock_dir=str(directory))
    assert results["lock_directory"].ok is False
    assert results["lock_directory"].detail == f"{directory}: is writable by other users (mode 777)"
    assert results["revocation_store"].ok is False  # revocation_store = file lives there


def test_a_bad_option_is_the_only_result(fake):
    [result] = probes.run(_settings(fake, scope="profile"), os.environ, where="[filter:auth0] of x.ini")
    assert result.name == "configuration" and result.ok is False and "'scope'" in result.detail


def test_with_params_sets_and_removes():
    url = "https://t/authorize?client_id=a&prompt=login&audience=x&scope=openid+profile"
    assert probes.with_params(url, prompt="none", audience=None) == (
        "https://t/authorize?client_id=a&scope=openid+profile&prompt=none")


def test_the_authorization_url_is_the_middlewares(fake):
    """The probe's request is the one a login sends (OIDCClient.authorization_url), so the
    organization, connection or other authorization_params a deployment sets are in it."""
    _run(fake, authorization_params="connection=google-oauth2 prompt=login")
    asked = fake.last_authorize
    assert asked["connection"] == "google-oauth2" and asked["prompt"] == "none"
