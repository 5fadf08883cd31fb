"""The options of issues 13 and 14 are checked once at start-up, and the values they share are sound:
step-up rules (parsed, matched, met), a login transaction's own parameters, and the session record
that holds other APIs' tokens and its own claims (hostile records refused, old records still read)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auth0_wsgi import stepup
from auth0_wsgi.config import Config
from auth0_wsgi.cookies import CookieOptions
from auth0_wsgi.errors import AudienceRefused, ConfigError, StepUpRequired
from auth0_wsgi.resource_server import ResourceServerConfig
from auth0_wsgi.sealing import Sealer, b64encode
from auth0_wsgi.session import ApiToken, Session
from auth0_wsgi.stepup import MFA_POLICY, StepUpRule
from auth0_wsgi.transaction import LoginTransaction, Transactions
from tests.support.session_values import CLAIMS, ID_TOKEN, NOW, make_session

BASE: dict[str, Any] = {"domain": "tenant.us.auth0.com", "client_id": "my-client", "client_secret": "c" * 40,
                        "base_url": "https://app.example.com", "secret": "s" * 40,
                        "audience": "https://api.example.com"}


def build(**overrides: Any) -> Config:
    return Config.from_settings({**BASE, **overrides}, environ={})


def refused(option: str, **overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        build(**overrides)
    assert caught.value.option == option
    return str(caught.value)


# -- additional_audiences ----------------------------------------------------------------------
def test_additional_audiences_are_parsed_once_each():
    config = build(additional_audiences="https://billing.example.com https://b.example.com https://b.example.com")
    assert config.additional_audiences == ("https://billing.example.com", "https://b.example.com")


def test_additional_audiences_need_a_primary_audience():
    assert "set audience" in refused("additional_audiences", audience="", additional_audiences="https://b.x")


def test_additional_audiences_need_a_refresh_token():
    message = refused("additional_audiences", additional_audiences="https://b.x", scope="openid profile")
    assert "offline_access" in message


def test_additional_audiences_must_not_repeat_the_primary_one():
    assert "repeats" in refused("additional_audiences", additional_audiences="https://api.example.com")


# -- organization ------------------------------------------------------------------------------
def test_organization_comes_from_the_option_or_from_authorization_params():
    assert build(organization="org_abc123").organization == "org_abc123"
    assert build(authorization_params="organization=acme").organization == "acme"
    assert build().organization is None


def test_two_different_organizations_refuse_to_start():
    message = refused("organization", organization="org_a", authorization_params="organization=org_b")
    assert "one place" in message


@pytest.mark.parametrize("value", ["org a", "acme<script>", "x" * 65, "org_\u00e9"])
def test_an_organization_that_is_neither_an_id_nor_a_name_refuses_to_start(value):
    assert "org_" in refused("organization", organization=value)


# -- hooks -------------------------------------------------------------------------------------
def test_a_hook_is_imported_at_start_up():
    assert build(on_login="os.path:join").on_login.__name__ == "join"
    assert build(on_refresh="os.path:join").on_refresh.__name__ == "join"


def test_a_callable_hook_is_taken_as_it_is():
    def hook(*args: Any) -> None: ...
    assert build(on_logout=hook).on_logout is hook


@pytest.mark.parametrize("value, problem", [
    ("no_such_module_xyz:f", "cannot import"),
    ("json:no_such_function", "has no function"),
    ("json", "package.module:function"),
    (":f", "package.module:function"),
    ("json:__doc__", "has no function"),  # an attribute that is not callable
])
def test_a_hook_that_cannot_be_found_refuses_to_start_naming_the_option(value, problem):
    message = refused("on_login", on_login=value)
    assert problem in message and "--pythonpath" in message


def test_a_module_that_fails_while_importing_refuses_to_start(tmp_path, monkeypatch):
    (tmp_path / "broken_hooks_mod.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "RuntimeError" in refused("on_login", on_login="broken_hooks_mod:f")


# -- the other new options ---------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("TRUE", "true"), (False, "false"),
                                             ("no", "false"), (True, "true")])
def test_pushed_authorization_requests_is_auto_true_or_false(value, expected):
    assert build(pushed_authorization_requests=value).pushed_authorization_requests == expected


def test_pushed_authorization_requests_refuses_anything_else():
    assert "auto" in refused("pushed_authorization_requests", pushed_authorization_requests="sometimes")


def test_the_new_defaults():
    config = build()
    assert (config.fetch_userinfo, config.attempt_silent_login, config.session_claims, config.step_up,
            config.on_login, config.additional_audiences) == (False, False, (), (), None, ())


# -- step-up rules -----------------------------------------------------------------------------
RULES = f"""
    # comments and blank lines are fine
    /admin    acr_values={MFA_POLICY}
    /billing  max_age=300
    /admin/payouts  acr_values={MFA_POLICY},gold max_age=600
"""


def test_step_up_rules_are_parsed_in_both_filters():
    rules = build(step_up=RULES).step_up
    assert rules == (StepUpRule((MFA_POLICY,), None, "/admin"), StepUpRule((), 300, "/billing"),
                     StepUpRule((MFA_POLICY, "gold"), 600, "/admin/payouts"))
    api_settings = {"domain": "t.auth0.com", "audience": "https://a", "step_up": RULES}
    api = ResourceServerConfig.from_settings(api_settings, environ={})
    assert api.step_up == rules


@pytest.mark.parametrize("line, problem", [
    ("admin acr_values=x", "absolute path"),
    ("/admin", "neither"),
    ("/admin max_age=-1", "whole number"),
    ("/admin max_age=ten", "whole number"),
    ("/admin max_age=99999999999", "whole number"),
    ("/admin acr_values=", "commas"),
    ('/admin acr_values=a"b', "commas"),
    ("/admin acr_values=a acr_values=b", "at most once"),
    ("/admin colour=blue", "acr_values"),
    ("/admin?x=1 max_age=5", "absolute path"),
    ("/a max_age=5\n/a max_age=6", "two rules"),
])
def test_a_wrong_step_up_rule_refuses_to_start_naming_the_line(line, problem):
    message = refused("step_up", step_up=line)
    assert problem in message and "PATH_PREFIX" in message


def test_the_longest_prefix_wins_by_whole_segments():
    rules = build(step_up=RULES).step_up
    assert stepup.rule_for("/admin/payouts/7", rules).prefix == "/admin/payouts"
    assert stepup.rule_for("/admin/users", rules).prefix == "/admin"
    assert stepup.rule_for("/administrator", rules) is None
    assert stepup.rule_for("/", rules) is None


@pytest.mark.parametrize("path", ["/public/..;/admin", "/x/%2e%2e/admin", "/x/..%5cadmin",
                                  "/x/%252e%252e/admin"])
def test_a_path_another_layer_could_resolve_elsewhere_gets_every_rule_at_once(path):
    rule = stepup.rule_for(path, build(step_up=RULES).step_up)
    assert rule is not None and rule.max_age == 300
    assert rule.acr_values == (MFA_POLICY,)  # the only value every acr rule accepts


def test_rules_that_no_acr_value_can_meet_at_once_are_unmeetable_for_such_paths():
    rules = build(step_up="/a acr_values=gold\n/b acr_values=silver").step_up
    rule = stepup.rule_for("/a/..;/b", rules)
    assert stepup.unmet({"acr": "gold"}, rule, now=NOW) == "acr"
    assert stepup.unmet({"acr": "silver"}, rule, now=NOW) == "acr"


@pytest.mark.parametrize("claims, reason", [
    ({"acr": MFA_POLICY, "auth_time": NOW - 10}, None),
    ({"amr": ["pwd", "mfa"], "auth_time": NOW - 10}, None),  # Auth0's MFA: amr, not always acr
    ({"amr": "mfa", "auth_time": NOW - 10}, "acr"),  # amr must be a list
    ({"acr": "urn:other", "auth_time": NOW - 10}, "acr"),
    ({"acr": MFA_POLICY}, "auth_time missing"),
    ({"acr": MFA_POLICY, "auth_time": True}, "auth_time missing"),
    ({"acr": MFA_POLICY, "auth_time": "1700000000"}, "auth_time missing"),
    ({"acr": MFA_POLICY, "auth_time": NOW - 601}, "auth_time too old"),
    ({"acr": MFA_POLICY, "auth_time": NOW - 600}, None),
    ({"acr": MFA_POLICY, "auth_time": float("nan")}, "auth_time missing"),
    ({"acr": MFA_POLICY, "auth_time": float("-inf")}, "auth_time missing"),
    ({"acr": MFA_POLICY, "auth_time": NOW + 3600}, "auth_time in the future"),
    ({"acr": MFA_POLICY, "auth_time": NOW}, None),
])
def test_whether_claims_meet_a_rule(claims, reason):
    rule = StepUpRule((MFA_POLICY,), 600, "/x")
    assert stepup.unmet(claims, rule, now=NOW) == reason


def test_amr_mfa_meets_only_the_multi_factor_policy():
    assert stepup.unmet({"amr": ["mfa"]}, StepUpRule(("urn:gold",)), now=NOW) == "acr"


def test_a_rule_asks_the_provider_for_itself():
    assert StepUpRule((MFA_POLICY, "gold"), 60).authorize_params() == {"acr_values": f"{MFA_POLICY} gold",
                                                                       "max_age": "60"}
    assert StepUpRule((), 0).authorize_params() == {"max_age": "0"}


# -- the exceptions ----------------------------------------------------------------------------
def test_step_up_required_carries_what_it_asks_for():
    error = StepUpRequired(acr_values=[MFA_POLICY, "gold"], max_age=60)
    assert (error.acr_values, error.max_age, error.status, error.code) == (
        f"{MFA_POLICY} gold", 60, 401, "insufficient_user_authentication")
    assert StepUpRequired(max_age=0).acr_values is None


@pytest.mark.parametrize("kwargs", [{}, {"max_age": -1}, {"max_age": True}, {"max_age": 1.5},
                                    {"acr_values": [""]}, {"acr_values": [3]}])
def test_step_up_required_refuses_what_asks_for_nothing_sound(kwargs):
    with pytest.raises(TypeError):
        StepUpRequired(**kwargs)


def test_audience_refused_names_the_audience():
    error = AudienceRefused("no token for it", audience="https://b.x", code="audience_not_allowed")
    assert (error.audience, error.code, error.status) == ("https://b.x", "audience_not_allowed", 403)


# -- a login's own /authorize parameters ---------------------------------------------------------
def transactions() -> Transactions:
    return Transactions(Sealer(("k" * 40,), "transaction"), CookieOptions("/callback", True, "Lax"),
                        lambda: NOW)


def test_a_transaction_keeps_its_own_parameters_through_its_cookie():
    txs = transactions()
    tx, headers = txs.begin("/admin", {}, "/login", {"acr_values": MFA_POLICY, "max_age": "0"})
    cookie = headers[0][1].split(";")[0]
    assert txs.consume({"HTTP_COOKIE": cookie}, tx.state).params == {"acr_values": MFA_POLICY, "max_age": "0"}


def test_a_transaction_written_before_params_existed_still_reads():
    tx = LoginTransaction("s" * 43, "n", "v" * 43, "/", NOW)
    assert tx.params == {}


# -- the session record --------------------------------------------------------------------------
API = ApiToken("https://billing.example.com", "read:invoices", "billing-SECRET-token", NOW + 60)


def test_a_plain_session_keeps_the_plain_record():
    assert len(json.loads(make_session().to_bytes())) == 7


def test_other_apis_tokens_round_trip():
    session = make_session(apis=(API, ApiToken("https://b", None, "b-token", None)))
    assert Session.from_bytes(session.to_bytes()).apis == session.apis


def test_own_claims_round_trip_and_keep_the_logins_sid():
    user = {"sub": "auth0|123", "plan": "gold"}
    session = make_session(id_token="", user=user, own_claims=True, sid="sid-9")
    loaded = Session.from_bytes(session.to_bytes())
    assert loaded.user == {"sub": "auth0|123", "plan": "gold", "sid": "sid-9"} and loaded.own_claims


def test_a_refresh_keeps_own_claims_and_other_apis():
    session = make_session(user={"sub": "auth0|123", "plan": "gold"}, own_claims=True, apis=(API,))
    after = session.with_tokens(access_token="new", expires_at=NOW + 99, refresh_token=None,
                                id_token=ID_TOKEN, now=NOW + 1)
    assert after.user == {"sub": "auth0|123", "plan": "gold"} and after.apis == (API,)


def _record(extensions: Any) -> bytes:
    return json.dumps([ID_TOKEN, "a", NOW, "r", NOW, NOW, None, extensions]).encode()


@pytest.mark.parametrize("extensions", [
    [], "x", 3, None,
    {"apis": 3}, {"apis": "abc"}, {"apis": [[1, 2, 3, 4]]}, {"apis": [["a", None, "t"]]},
    {"apis": [["a", None, "t", "soon"]]}, {"apis": [["a", None, "t", True]]},
    {"user": {"email": "no-sub"}}, {"user": {"sub": 5}},
])
def test_a_record_whose_extensions_are_not_ours_is_refused(extensions):
    assert Session.from_bytes(_record(extensions)) is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                 max_size=4), max_leaves=20))
def test_any_extension_value_is_read_or_refused_never_raised(extensions):
    session = Session.from_bytes(_record(extensions))
    assert session is None or isinstance(session.user.get("sub"), str)


def test_a_user_from_the_id_token_needs_its_sub_too():
    no_sub = ID_TOKEN.split(".")
    payload = json.dumps({k: v for k, v in CLAIMS.items() if k != "sub"}).encode()
    token = ".".join([no_sub[0], b64encode(payload), no_sub[2]])
    assert Session.from_bytes(json.dumps([token, "a", NOW, "r", NOW, NOW, None]).encode()) is None


@pytest.mark.parametrize("public, rule", [("/docs", "/docs/admin"), ("/docs", "/docs"), ("/", "/")])
def test_a_step_up_rule_a_public_path_would_void_refuses_to_start(public, rule):
    message = refused("step_up", public_paths=public, step_up=f"{rule} max_age=60")
    assert "public_paths" in message and f"remove {rule} from public_paths" in message


def test_a_public_page_inside_a_step_up_prefix_is_the_operators_choice():
    assert build(public_paths="/admin/help", step_up="/admin max_age=60").step_up


@pytest.mark.parametrize("settings, warned", [
    ({"attempt_silent_login": True}, True),
    ({"attempt_silent_login": True, "public_paths": "/"}, False),
    ({"attempt_silent_login": True, "require_auth": False}, False),
    ({}, False),
])
def test_silent_login_where_no_page_is_public_says_it_does_nothing(caplog, settings, warned):
    caplog.set_level("WARNING", "auth0_wsgi")
    build(**settings)
    assert any("attempt_silent_login" in r.getMessage() for r in caplog.records) is warned


def _two(environ, claims): ...
def _three(environ, claims, tokens): ...
def _flexible(*args, **kwargs): ...
def _keyword_only(*, environ, claims, tokens): ...


@pytest.mark.parametrize("option, hook, fits", [
    ("on_login", _three, True), ("on_login", _flexible, True), ("on_login", _two, False),
    ("on_login", _keyword_only, False), ("on_logout", _two, True), ("on_logout", _three, False),
    ("on_refresh", _three, True), ("on_refresh", _two, False), ("on_login", print, True),
])
def test_a_hook_that_cannot_take_its_arguments_refuses_to_start(option, hook, fits):
    if fits:
        assert getattr(build(**{option: hook}), option) is hook
        return
    message = refused(option, **{option: hook})
    assert "cannot be called with" in message and f"def {option}(environ, claims" in message


@pytest.mark.parametrize("apis, store, warned", [(3, "cookie", True), (2, "cookie", False),
                                                 (3, "memory", False)])
def test_more_apis_than_one_cookie_holds_warns_with_the_cookie_store(caplog, apis, store, warned):
    caplog.set_level("WARNING", "auth0_wsgi")
    audiences = " ".join(f"https://api{i}.example.com" for i in range(apis))
    build(additional_audiences=audiences, session_store=store)
    assert any("additional_audiences lists" in r.getMessage() for r in caplog.records) is warned
