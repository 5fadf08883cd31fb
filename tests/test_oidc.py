"""How we talk to the token endpoint: our own POST, with Authlib's client authentication only."""

from __future__ import annotations

import json
import time

import pytest

from auth0_wsgi.config import Config
from auth0_wsgi.errors import GrantRejected, ProviderError, ProviderUnavailable
from auth0_wsgi.oidc import OIDCClient
from tests.support.fake_provider import CLIENT_SECRET
from tests.support.flows import settings_for
from tests.support.servers import serve


def _recording(answer_status: str, headers: list[tuple[str, str]], body: bytes, seen: list[dict[str, str]]):
    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        seen.append({"cookie": environ.get("HTTP_COOKIE", ""),
                     "body": environ["wsgi.input"].read(length).decode()})
        start_response(answer_status, [("Content-Type", "application/json"), *headers])
        return [body]
    return app


def test_a_cookie_the_token_endpoint_sets_is_never_sent_back(fake):
    """Token requests of every user share one HTTP session: a provider cookie (say, a device id)
    must not travel from one user's refresh to the next."""
    seen: list[dict[str, str]] = []
    refusal = json.dumps({"error": "invalid_grant"}).encode()
    app = _recording("400 Bad Request", [("Set-Cookie", "did=device-of-alice; Path=/")], refusal, seen)
    with serve(app) as url:
        fake.discovery_overrides["token_endpoint"] = url + "/oauth/token"
        client = OIDCClient(Config.from_settings(settings_for(fake)))
        for refresh_token in ("alice-refresh-token", "bob-refresh-token"):
            with pytest.raises(GrantRejected):
                client.refresh(refresh_token)
    assert [request["cookie"] for request in seen] == ["", ""]


@pytest.mark.parametrize("status", ["302 Found", "307 Temporary Redirect", "308 Permanent Redirect"])
def test_a_redirect_from_the_token_endpoint_is_not_followed_with_our_credentials(fake, status):
    elsewhere: list[dict[str, str]] = []
    with serve(_recording("200 OK", [], b"{}", elsewhere)) as other:
        redirecting: list[dict[str, str]] = []
        with serve(_recording(status, [("Location", other + "/steal")], b"{}", redirecting)) as url:
            fake.discovery_overrides["token_endpoint"] = url + "/oauth/token"
            client = OIDCClient(Config.from_settings(settings_for(fake)))
            with pytest.raises(ProviderError) as info:
                client.refresh("a-refresh-token")
    assert info.value.status == 502
    assert len(redirecting) == 1 and CLIENT_SECRET.split(":")[0] in redirecting[0]["body"]
    assert elsewhere == []  # neither the refresh token nor the client secret went anywhere else


def test_a_token_endpoint_that_trickles_is_given_up_after_about_http_timeout(fake):
    """Each byte arrives within http_timeout, so only a deadline on the whole answer ends it."""
    def trickle(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])

        def body():
            yield b"{"
            for _ in range(100):
                time.sleep(0.1)  # real time: the deadline on a body being read is the real monotonic clock
                yield b" "
        return body()

    with serve(trickle) as url:
        fake.discovery_overrides["token_endpoint"] = url + "/oauth/token"
        client = OIDCClient(Config.from_settings(settings_for(fake, http_timeout=0.5)))
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable):
            client.refresh("a-refresh-token")
        assert time.monotonic() - started < 2
