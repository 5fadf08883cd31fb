"""``organization`` (the option, or in authorization_params as before it): the ID token must name it,
at login and after each refresh."""

from __future__ import annotations

import pytest

from tests.support.flows import log_in, start_login
from tests.support.http import JSON, query_of


@pytest.fixture(params=["option", "authorization_params"])
def configured(request):
    """The organization's settings, either way it can be configured."""
    if request.param == "option":
        return lambda organization: {"organization": organization}
    return lambda organization: {"authorization_params": f"organization={organization}"}


def _with(**org_claims):
    return lambda claims: {**claims, **org_claims}


LOGINS = [
    pytest.param("org_W7aV3s", _with(org_id="org_W7aV3s"), True, id="org-id-issued"),
    pytest.param("org_W7aV3s", _with(org_id="org_Other1"), False, id="other-org-id-issued"),
    pytest.param("org_W7aV3s", _with(), False, id="no-org-claim-issued"),
    pytest.param("Acme", _with(org_id="org_1", org_name="acme"), True, id="org-name-issued"),
    pytest.param("acme", _with(org_name="acme-corp"), False, id="other-org-name-issued"),
    pytest.param("acme", _with(org_id="acme"), False, id="only-org-id-issued-for-a-name"),
    pytest.param("acme", _with(), False, id="no-org-name-issued"),
]


@pytest.mark.parametrize("organization, issued, accepted", LOGINS)
def test_callback_checks_the_organization(make_app, fake, configured, organization, issued, accepted):
    app = make_app(**configured(organization))
    fake.id_token_claims = issued
    callback, authorize_url = start_login(app)
    assert query_of(authorize_url)["organization"] == organization
    if accepted:
        assert app.get(callback).status_int == 302
        assert app.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"
        return
    response = app.get(callback, headers=JSON, status=400)
    assert response.json["error"] == "organization_mismatch"
    assert "auth0_session" not in app.cookies
    app.get("/x", headers=JSON, status=401)


def test_without_organization_any_org_claim_is_accepted(make_app, fake):
    fake.id_token_claims = _with(org_id="org_Whatever")
    assert log_in(make_app()).status_int == 302


def test_refreshed_id_token_for_another_organization_ends_the_session(make_app, fake, configured):
    fake.access_token_ttl = 30  # inside the leeway: the next request refreshes
    app = make_app(**configured("org_W7aV3s"))
    fake.id_token_claims = _with(org_id="org_W7aV3s")
    log_in(app)
    fake.id_token_claims = _with(org_id="org_Other1")
    app.get("/x", headers=JSON, status=401)
    assert fake.counts["grant:refresh_token"] == 1


def test_refreshed_id_token_for_the_same_organization_keeps_the_session(make_app, fake, configured):
    fake.access_token_ttl = 30
    app = make_app(**configured("org_W7aV3s"))
    fake.id_token_claims = _with(org_id="org_W7aV3s")
    log_in(app)
    assert app.get("/x", headers=JSON).json["REMOTE_USER"] == "auth0|alice"
    assert fake.counts["grant:refresh_token"] == 1


@pytest.mark.parametrize("refreshed, kept", [
    pytest.param(_with(org_id="org_Invited1"), True, id="same-org"),
    pytest.param(_with(org_id="org_Other1"), False, id="other-org"),
    pytest.param(_with(), False, id="org-dropped"),
])
def test_a_session_keeps_the_organization_it_logged_into_without_one_configured(make_app, fake, refreshed,
                                                                                kept):
    """An invitation's login (no organization configured): its refreshes must name the same one."""
    fake.access_token_ttl = 30
    app = make_app()
    fake.id_token_claims = _with(org_id="org_Invited1")
    log_in(app)
    fake.id_token_claims = refreshed
    app.get("/x", headers=JSON, status=200 if kept else 401)
    assert fake.counts["grant:refresh_token"] == 1


def test_a_session_without_an_organization_refreshed_into_one_ends(make_app, fake):
    fake.access_token_ttl = 30
    app = make_app()
    log_in(app)
    fake.id_token_claims = _with(org_id="org_Sneaky1")
    app.get("/x", headers=JSON, status=401)
