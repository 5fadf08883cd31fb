"""Auth0 Organizations: the ``organization`` option, and invitation links landing on /login.

The option's check of the ID token (``org_id`` or ``org_name``) is tested claim by claim in
``test_organization.py``; here: what reaches /authorize, what an invitation link may ask, and whole
logins against the fake provider (which knows one organization) and the real one.
"""

from __future__ import annotations

import pytest
import requests

from auth0_wsgi import Auth0Middleware
from tests.support.apps import echo_app
from tests.support.flows import BASE_URL, browser, provider_answer
from tests.support.http import HTML, JSON, query_of
from tests.support.real_idp import Client, LocalIdP, Organization, login_via_form, require_local_idp
from tests.support.servers import free_port, serve

ORG_ID, ORG_NAME = "org_W7aV3sQ2pLk9xZ1b", "acme"
INVITATION = "Ozhy6G1l9pYtIqLS6vBQ8tzK0aLxYqCD"
LINK = {"invitation": INVITATION, "organization": ORG_ID, "organization_name": ORG_NAME}


@pytest.fixture
def fake_org(fake):
    fake.organizations = {ORG_ID: ORG_NAME, "org_Other1": "other"}
    return fake


def _finish(client, to_provider):
    callback = provider_answer(to_provider.location)
    return client.get(callback[len(BASE_URL):], headers=HTML, expect_errors=True)


@pytest.mark.parametrize("organization", [ORG_ID, ORG_NAME, "ACME"])
def test_the_option_is_sent_on_every_login_and_the_user_sees_the_organization(fake_org, organization):
    client = browser(fake_org, organization=organization)
    to_provider = client.get("/login")
    assert query_of(to_provider.location)["organization"] == organization
    assert _finish(client, to_provider).status_int == 302
    user = client.get("/x", headers=JSON).json["auth0.user"]
    assert (user["org_id"], user["org_name"]) == (ORG_ID, ORG_NAME)


def test_an_id_token_for_another_organization_is_refused(fake_org):
    client = browser(fake_org, organization=ORG_ID)
    fake_org.id_token_claims = lambda claims: {**claims, "org_id": "org_Other1", "org_name": "other"}
    refused = _finish(client, client.get("/login"))
    assert refused.status_int == 400 and "organization_mismatch" in refused.text
    client.get("/x", headers=JSON, status=401)


def test_an_invitation_link_goes_to_authorize_with_organization_and_invitation(fake_org):
    client = browser(fake_org)
    to_provider = client.get("/login", {**LINK, "return_to": "/welcome"})
    asked = query_of(to_provider.location)
    assert (asked["organization"], asked["invitation"]) == (ORG_ID, INVITATION)
    assert "organization_name" not in asked  # Auth0's display hint: /authorize does not take it
    assert _finish(client, to_provider).location == f"{BASE_URL}/welcome"
    assert client.get("/welcome", headers=JSON).json["auth0.user"]["org_id"] == ORG_ID


def test_an_invitation_login_whose_id_token_names_another_organization_is_refused(fake_org):
    client = browser(fake_org)
    fake_org.id_token_claims = lambda claims: {**claims, "org_id": "org_Other1"}
    refused = _finish(client, client.get("/login", LINK))
    assert refused.status_int == 400 and "organization_mismatch" in refused.text
    client.get("/x", headers=JSON, status=401)


def test_without_an_invitation_the_login_asks_for_no_organization(fake_org):
    client = browser(fake_org)
    to_provider = client.get("/login", {"organization_name": ORG_NAME})
    assert "organization" not in query_of(to_provider.location)
    assert _finish(client, to_provider).status_int == 302
    assert "org_id" not in client.get("/x", headers=JSON).json["auth0.user"]


@pytest.mark.parametrize("query", [
    pytest.param({"invitation": INVITATION}, id="invitation-without-organization"),
    pytest.param({"organization": "", "invitation": INVITATION}, id="empty-organization"),
    pytest.param({"organization": "org_<script>"}, id="markup-in-organization"),
    pytest.param({"organization": "o" * 65}, id="organization-too-long"),
    pytest.param({"organization": ORG_ID, "invitation": "../../x"}, id="slashes-in-invitation"),
    pytest.param({"organization": ORG_ID, "invitation": "i" * 129}, id="invitation-too-long"),
    pytest.param({"organization": ORG_ID, "invitation": ""}, id="empty-invitation"),
    pytest.param({**LINK, "organization_name": "acme\r\nSet-Cookie: x=1"}, id="header-injection-in-name"),
    pytest.param({**LINK, "organization_name": "n" * 257}, id="name-too-long"),
    pytest.param({"organization": "org_\u00e9t\u00e9"}, id="non-ascii-organization"),
])
def test_a_malformed_invitation_link_is_a_clear_400(fake_org, query):
    response = browser(fake_org).get("/login", query, headers=JSON, status=400)
    assert response.json["error"] == "invalid_request"
    assert "invitation" in response.json["error_description"]
    assert fake_org.counts["/authorize"] == 0


def test_undecodable_bytes_in_an_invitation_link_are_a_400(fake_org):
    client = browser(fake_org)
    response = client.get(f"/login?organization=org_%ff%fe&invitation={INVITATION}", headers=JSON, status=400)
    assert response.json["error"] == "invalid_request"


@pytest.mark.parametrize("configured, linked, refused", [
    pytest.param(ORG_ID, "org_Other1", True, id="other-id"),
    pytest.param(ORG_NAME, "other", True, id="other-name"),
    pytest.param(ORG_ID, ORG_ID, False, id="same-id"),
    pytest.param(ORG_NAME, "ACME", False, id="same-name-other-case"),
    pytest.param(ORG_NAME, ORG_ID, False, id="name-configured-id-linked"),
])
def test_an_invitation_for_another_organization_than_the_configured_one_is_refused(
        fake_org, configured, linked, refused):
    client = browser(fake_org, organization=configured)
    response = client.get("/login", {"organization": linked, "invitation": INVITATION}, headers=JSON,
                          expect_errors=True)
    if refused:
        assert response.status_int == 400 and response.json["error"] == "organization_mismatch"
        return
    assert query_of(response.location)["organization"] == linked
    assert _finish(client, response).status_int == 302  # the callback checked the configured one too


def test_a_configured_name_and_a_linked_id_must_both_match_the_id_token(fake_org):
    client = browser(fake_org, organization=ORG_NAME)
    fake_org.id_token_claims = lambda claims: {**claims, "org_name": "other"}
    refused = _finish(client, client.get("/login", LINK))
    assert refused.status_int == 400 and "organization_mismatch" in refused.text


def test_an_unknown_organization_at_the_provider_is_an_error_page(fake_org):
    client = browser(fake_org)
    refused = _finish(client, client.get("/login", {"organization": "org_Nobody", "invitation": INVITATION}))
    assert refused.status_int == 400 and "invalid_request" in refused.text


# ------------------------------------------------------------------ against the real provider

ACME = Organization("org_abc123", "acme", ["inv_xyz"])


@pytest.fixture(scope="module")
def real_provider():
    require_local_idp()
    ports = {"open": free_port(), "acme": free_port()}
    clients = {name: Client(f"orgs-{name}", f"secret-{name}", [f"http://127.0.0.1:{port}/callback"])
               for name, port in ports.items()}
    with LocalIdP(list(clients.values()), organizations=[ACME]) as idp:
        def settings(name: str, **extra: str) -> dict[str, str]:
            client = clients[name]
            return {"issuer": idp.issuer, "client_id": client.client_id,
                    "client_secret": client.client_secret, "base_url": f"http://127.0.0.1:{ports[name]}",
                    "secret": "s" * 40, "audience": idp.audience, **extra}
        acme = Auth0Middleware(echo_app, **settings("acme", organization="acme"))
        with serve(Auth0Middleware(echo_app, **settings("open")), ports["open"]) as open_url, \
                serve(acme, ports["acme"]) as acme_url:
            yield {"open": open_url, "acme": acme_url}


@pytest.mark.e2e
@pytest.mark.slow
def test_real_provider_invitation_link_end_to_end(real_provider):
    http = requests.Session()
    link = f"{real_provider['open']}/login?invitation=inv_xyz&organization={ACME.id}&organization_name=acme"
    landed = login_via_form(http, http.get(link, headers=HTML, timeout=10))
    assert landed.url == real_provider["open"] + "/"
    user = landed.json()["auth0.user"]
    assert (user["org_id"], user["org_name"]) == (ACME.id, ACME.name)


@pytest.mark.e2e
@pytest.mark.slow
def test_real_provider_configured_organization_by_name(real_provider):
    http = requests.Session()
    landed = login_via_form(http, http.get(real_provider["acme"] + "/reports", headers=HTML, timeout=10))
    assert landed.json()["auth0.user"]["org_id"] == ACME.id
    # An invitation to another organization never reaches the provider.
    other = http.get(real_provider["acme"] + "/login?organization=beta&invitation=inv_1", headers=JSON,
                     timeout=10)
    assert other.status_code == 400 and other.json()["error"] == "organization_mismatch"


@pytest.mark.e2e
@pytest.mark.slow
def test_real_provider_unknown_invitation_is_an_error_page(real_provider):
    http = requests.Session()
    link = f"{real_provider['open']}/login?invitation=inv_forged&organization={ACME.id}"
    page = http.get(link, headers=HTML, timeout=10)
    assert page.status_code == 400 and "invalid_request" in page.text
