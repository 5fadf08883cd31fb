"""Finding the login filter's options in an ini file as ``gunicorn --paste`` would (``auth0_wsgi.pasteini``):
PasteDeploy's own loader, so ``[DEFAULT]``, ``%(here)s`` and ``--paste-global`` mean what they mean there."""

from __future__ import annotations

import textwrap

import pytest

from auth0_wsgi.pasteini import IniError, load

APP = "[app:main]\nuse = call:tests.support.apps:echo\n"


def _ini(tmp_path, text: str) -> str:
    path = tmp_path / "production.ini"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_the_only_login_filter_with_defaults_and_here_interpolated(tmp_path):
    path = _ini(tmp_path, """
        [DEFAULT]
        state = %(here)s/state
        http_timeout = 3

        [filter:auth0]
        use = egg:auth0-wsgi
        base_url = https://app.example.com
        refresh_lock_dir = %(state)s/locks
        """ + APP)
    found = load(path)
    assert found.section == "filter:auth0"
    assert found.where == f"[filter:auth0] of {path}"
    # a [DEFAULT] key is global: PasteDeploy does not hand it to the filter (so neither do we)
    assert found.settings == {"base_url": "https://app.example.com",
                              "refresh_lock_dir": f"{tmp_path}/state/locks"}


def test_paste_global_fills_what_the_ini_leaves_to_the_command_line(tmp_path):
    path = _ini(tmp_path, "[filter:auth0]\nuse = egg:auth0-wsgi\nbase_url = https://%(host)s\n" + APP)
    assert load(path, global_conf={"host": "app.example.com"}).settings["base_url"] == "https://app.example.com"


@pytest.mark.parametrize("section", [
    pytest.param("[filter:auth0]\nuse = egg:auth0-wsgi#main", id="egg-main"),
    pytest.param("[filter:auth0]\nuse = call:auth0_wsgi.paste:filter_app_factory", id="call"),
    pytest.param("[filter-app:auth0]\nuse = egg:auth0-wsgi\nnext = main", id="filter-app"),
])
def test_every_way_of_naming_the_login_filter(tmp_path, section):
    path = _ini(tmp_path, f"{section}\nclient_id = abc\n" + APP)
    assert load(path).settings == {"client_id": "abc"}


def test_several_filters_need_a_name(tmp_path):
    path = _ini(tmp_path, """
        [filter:staff]
        use = egg:auth0-wsgi
        client_id = staff

        [filter:customers]
        use = egg:auth0-wsgi
        client_id = customers

        [filter:api]
        use = egg:auth0-wsgi#api
        """ + APP)
    with pytest.raises(IniError, match=r"several auth0-wsgi login filters \(staff, customers\).*--filter"):
        load(path)
    assert load(path, "customers").settings == {"client_id": "customers"}


@pytest.mark.parametrize(("text", "name", "message"), [
    pytest.param(APP, None, "no \\[filter:NAME\\] section with use = egg:auth0-wsgi", id="none"),
    pytest.param("[filter:api]\nuse = egg:auth0-wsgi#api\n" + APP, None, "no \\[filter:NAME\\]",
                 id="only-the-api-filter"),
    pytest.param("[filter:api]\nuse = egg:auth0-wsgi#api\n" + APP, "api", "not the auth0-wsgi login filter",
                 id="named-api-filter"),
    pytest.param("[filter:auth0]\nuse = egg:auth0-wsgi\n" + APP, "other", "no \\[filter:other\\]",
                 id="named-missing"),
    pytest.param("[filter:x]\nuse = egg:no-such-distribution\n" + APP, None,
                 "could not be loaded: \\[filter:x\\]", id="unloadable-section-is-named"),
    pytest.param("[filter:x\nuse = egg:auth0-wsgi\n", None, "cannot be read", id="not-an-ini"),
])
def test_usage_errors(tmp_path, text, name, message):
    with pytest.raises(IniError, match=message):
        load(_ini(tmp_path, text), name)


def test_a_missing_file(tmp_path):
    with pytest.raises(IniError, match="no such file"):
        load(str(tmp_path / "nope.ini"))


def test_the_settings_are_those_the_filter_factory_gets(tmp_path, monkeypatch):
    """What gunicorn --paste builds (PasteDeploy's loadapp) has the config the check reads."""
    from paste.deploy import loadapp

    from auth0_wsgi import Auth0Middleware, Config

    monkeypatch.setenv("AUTH0_CLIENT_SECRET", "from-the-environment")
    path = _ini(tmp_path, """
        [DEFAULT]
        tenant = tenant.eu.auth0.com

        [filter:auth0]
        use = egg:auth0-wsgi
        domain = %(tenant)s
        client_id = abc
        base_url = https://app.example.com
        secret = %(__file__)s-is-not-a-secret-but-it-is-long-enough

        [pipeline:main]
        pipeline = auth0 main_app

        [app:main_app]
        use = call:tests.support.apps:echo
        """)
    app = loadapp(f"config:{path}")
    assert isinstance(app, Auth0Middleware)
    assert Config.from_settings(load(path).settings) == app.config
    assert app.config.client_secret == "from-the-environment"


FILTER = "[filter:auth0]\nuse = egg:auth0-wsgi\n"


@pytest.mark.parametrize("text", [
    pytest.param(FILTER + "client_secret = abc%SECRETVALUE\n", id="lone-percent"),
    pytest.param(FILTER + "client_secret = %(SECRETVALUE\n", id="open-reference"),
    pytest.param("SECRETVALUE\n" + FILTER, id="no-section-header"),
    pytest.param(FILTER + "SECRETVALUE\n", id="not-key-value"),
])
def test_an_unreadable_ini_is_reported_without_quoting_its_lines(tmp_path, text):
    with pytest.raises(IniError) as error:
        load(_ini(tmp_path, text))
    assert "SECRETVALUE" not in str(error.value)
