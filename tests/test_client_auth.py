"""How the client authenticates at the token endpoint (``auth0_wsgi.client_auth``):
``client_secret_basic`` form-encodes the secret first; ``private_key_jwt`` (RFC 7523) sends no shared
secret at all."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from auth0_wsgi.client_auth import ASSERTION_LIFETIME
from tests.support.flows import log_in, start_login
from tests.support.http import JSON


def test_client_secret_basic_form_encodes_odd_secrets(make_app, fake):
    fake.auth_method = "client_secret_basic"
    app = make_app(token_endpoint_auth_method="client_secret_basic")
    assert log_in(app).status_int == 302
    assert fake.last_authorization_header.startswith("Basic ")
    assert "client_secret" not in fake.last_token_request


# -- private_key_jwt ---------------------------------------------------------------------------------------

@pytest.fixture(params=["RSA", "EC"])
def client_key(request, fake):
    key = RSAKey.generate_key(2048) if request.param == "RSA" else ECKey.generate_key("P-256")
    fake.auth_method = "private_key_jwt"
    fake.client_public_key = key
    return key


def test_login_and_refresh_authenticate_with_a_signed_assertion(build_app, fake, client_key):
    pem = client_key.as_pem(private=True).decode()
    app = build_app(token_endpoint_auth_method="private_key_jwt", client_private_key=pem,
                    client_private_key_id="app-key-1", client_secret=None)
    log_in(app)
    assert fake.counts["grant:authorization_code"] == 1
    form = fake.last_token_request
    assert "client_secret" not in form and not fake.last_authorization_header
    claims = jwt.decode(form["client_assertion"], client_key).claims
    header = jwt.decode(form["client_assertion"], client_key).header
    assert claims["aud"] == fake.issuer and claims["iss"] == claims["sub"] == form["client_id"]
    assert claims["exp"] - claims["iat"] == ASSERTION_LIFETIME
    assert header["kid"] == "app-key-1"
    fake.access_token_ttl = 30  # the refresh grant authenticates the same way, with a new jti
    log_in(app)
    app.get("/x", headers=JSON, status=200)
    assert fake.counts["grant:refresh_token"] == 1
    assert len(fake.seen_assertion_ids) == 3


def test_the_key_may_come_from_a_file(build_app, fake, client_key, tmp_path):
    path = tmp_path / "client.pem"
    path.write_bytes(client_key.as_pem(private=True))
    app = build_app(token_endpoint_auth_method="private_key_jwt", client_private_key=str(path),
                    client_secret=None)
    assert log_in(app).status_int == 302


def test_a_key_the_provider_does_not_know_is_refused(build_app, fake, client_key):
    other = RSAKey.generate_key(2048).as_pem(private=True).decode()
    app = build_app(token_endpoint_auth_method="private_key_jwt", client_private_key=other,
                    client_secret=None)
    callback, _ = start_login(app)
    response = app.get(callback, headers=JSON, status=502)  # our configuration, not the user's doing
    assert response.json["error"] == "invalid_client"
    assert "auth0_session" not in app.cookies


def test_a_public_key_is_refused_at_start_up(build_app, client_key):
    from auth0_wsgi import ConfigError
    with pytest.raises(ConfigError, match=r"option 'client_private_key'.*public key"):
        build_app(token_endpoint_auth_method="private_key_jwt",
                  client_private_key=client_key.as_pem(private=False).decode())


@pytest.mark.parametrize("curve", ["secp256k1"])
def test_an_ec_key_on_a_curve_we_cannot_sign_with_is_refused_at_start_up(build_app, curve):
    """Found by mypy: such a key passed the start-up check, then raised KeyError at the first login."""
    from auth0_wsgi import ConfigError
    key = ECKey.generate_key(curve)
    with pytest.raises(ConfigError, match=r"option 'client_private_key'.*P-256, P-384 or P-521"):
        build_app(token_endpoint_auth_method="private_key_jwt",
                  client_private_key=key.as_pem(private=True).decode())
