"""Redis URLs: Sentinel and Cluster forms parsed and refused at start-up; a password never echoed."""

from __future__ import annotations

import pytest

from auth0_wsgi.config import Config
from auth0_wsgi.errors import ConfigError
from auth0_wsgi.redis_urls import RedisTarget, parse, redact

BASE = {"domain": "tenant.us.auth0.com", "client_id": "my-client", "client_secret": "c" * 40,
        "base_url": "https://app.example.com", "secret": "s" * 40}

GOOD = [
    pytest.param("redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster",
                 RedisTarget("sentinel", False, (("10.0.0.1", 26379), ("10.0.0.2", 26380)), "mymaster"),
                 id="sentinel-two-hosts"),
    pytest.param("redis+sentinel://:pw@s1/mymaster/3",
                 RedisTarget("sentinel", False, (("s1", 26379),), "mymaster", 3, None, "pw"),
                 id="sentinel-default-port-db-password"),
    pytest.param("rediss+sentinel://app:p%40ss@s1:26379/cache",
                 RedisTarget("sentinel", True, (("s1", 26379),), "cache", 0, "app", "p@ss"),
                 id="sentinel-tls-user-quoted-password"),
    pytest.param("redis+cluster://n1:7000,n2:7001,[::1]:7002",
                 RedisTarget("cluster", False, (("n1", 7000), ("n2", 7001), ("::1", 7002))),
                 id="cluster-three-seeds-ipv6"),
    pytest.param("rediss+cluster://:pw@clustercfg.example.cache.amazonaws.com:6379",
                 RedisTarget("cluster", True, (("clustercfg.example.cache.amazonaws.com", 6379),),
                             password="pw"),
                 id="cluster-tls-configuration-endpoint"),
    pytest.param("redis+cluster://n1", RedisTarget("cluster", False, (("n1", 6379),)),
                 id="cluster-default-port"),
]


@pytest.mark.parametrize(("url", "expected"), GOOD)
def test_good_urls(url, expected):
    assert parse(url) == expected


BAD = [
    pytest.param("redis+sentinel:///mymaster", "names no host", id="sentinel-no-hosts"),
    pytest.param("redis+cluster://:hunter2@", "names no host", id="cluster-no-hosts"),
    pytest.param("redis+sentinel://s1:26379", "names no service", id="sentinel-no-service"),
    pytest.param("redis+sentinel://s1:26379/", "names no service", id="sentinel-empty-service"),
    pytest.param("redis+sentinel://:hunter2@s1:port/mymaster", "not a port number", id="sentinel-bad-port"),
    pytest.param("redis+cluster://n1:70000", "not a port number", id="cluster-port-too-big"),
    pytest.param("redis+cluster://n1:7000,:7001", "has no host name", id="cluster-empty-host"),
    pytest.param("redis+cluster://n1:7000/0", "has no path", id="cluster-with-db"),
    pytest.param("redis+sentinel://s1/mymaster/x", "database number", id="sentinel-bad-db"),
]


@pytest.mark.parametrize(("url", "fragment"), BAD)
@pytest.mark.parametrize("option", ["session_store", "revocation_store"])
def test_bad_urls_refuse_to_start_naming_the_option_and_the_fix(url, fragment, option):
    with pytest.raises(ConfigError) as info:
        Config.from_settings({**BASE, option: url})
    message = str(info.value)
    assert info.value.option == option
    assert fragment in message
    assert "redis+sentinel://" in message.partition("; ")[2]  # the fix shows the forms
    assert "hunter2" not in message


@pytest.mark.parametrize("url", [
    pytest.param("redis+sentinel://:hunter2@s1:1,s2:2/m/0", id="sentinel"),
    pytest.param("rediss+cluster://app:hunter2@n1:1,n2:2", id="cluster-user"),
    pytest.param("redis://:hunter2@h:6379/0", id="one-node"),
    pytest.param("redis://hunter2@h:6379/0", id="lone-word"),
    pytest.param("redis://:hunt/er2@h:6379/0", id="slash-in-password"),
])
def test_redact_never_shows_the_password(url):
    shown = redact(url)
    assert "hunter2" not in shown and "hunt" not in shown
    assert "***@" in shown


@pytest.mark.parametrize("url", [
    pytest.param("redis://h:6379/0?password=hunter2", id="query"),
    pytest.param("rediss://h:6379/0?db=1&ssl_password=hunter2", id="ssl-password"),
    pytest.param("redis://h:6379/0?Pass%77ord=hunter2", id="encoded-name"),
    pytest.param("redis://:x?password=y@h:6379/0?password=hunter2", id="question-mark-in-userinfo"),
])
def test_redact_masks_a_password_given_in_the_query_too(url):
    """redis-py reads ``?password=`` (and ``?ssl_password=``) from the query."""
    shown = redact(url)
    assert "hunter2" not in shown
    assert "=***" in shown


def test_auth0_wsgi_check_never_prints_a_query_password():
    from auth0_wsgi.checks import secret_values
    assert "hunter2" in secret_values({"session_store": "redis://h:6379/0?password=hunter2"}, {})
    assert "hunter 2" in secret_values({}, {"AUTH0_REVOCATION_STORE": "redis://h/0?ssl_password=hunter%202"})


def test_a_sentinel_or_cluster_url_is_accepted_as_given():
    url = "redis+sentinel://s1:26379,s2:26379/mymaster/1"
    assert Config.from_settings({**BASE, "session_store": url}).session_store == url
