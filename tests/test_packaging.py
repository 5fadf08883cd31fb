"""`pip install .` gives a package whose PasteDeploy entry points load from an ini file."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from paste.deploy import loadapp

from auth0_wsgi import Auth0Middleware, ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # builds a wheel with pip
def test_wheel_carries_the_package_its_marker_and_the_entry_points(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("auth0_wsgi-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "auth0_wsgi/middleware.py" in names
    assert "auth0_wsgi/py.typed" in names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    assert "[paste.filter_app_factory]" in entry_points
    assert "main = auth0_wsgi.paste:filter_app_factory" in entry_points


def test_ini_file_loads_the_filter_through_the_entry_point(tmp_path, monkeypatch):
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[app:echo]\nuse = call:tests.support.apps:echo\n\n"
        "[filter:auth0]\nuse = egg:auth0-wsgi\ndomain = tenant.example.com\nclient_id = abc\n"
        "base_url = https://app.example.com\nclient_secret = with%%percent\n\n"
        "[pipeline:main]\npipeline = auth0 echo\n"
    )
    monkeypatch.setenv("AUTH0_SECRET", "x" * 40)
    app = loadapp(f"config:{ini}", relative_to=str(ROOT))
    assert isinstance(app, Auth0Middleware)
    assert app.config.issuer == "https://tenant.example.com/"
    assert app.config.client_secret == "with%percent"  # %% is PasteDeploy's escape for %
    assert app.config.secret == ("x" * 40,)


@pytest.mark.parametrize("section", ["auth0", "api"])
@pytest.mark.parametrize("key", ["config", "clock"])
def test_an_ini_key_named_config_is_refused_as_an_unknown_option(tmp_path, monkeypatch, section, key):
    """Found by mypy: ``config = …`` in the filter section collided with the ``config`` parameter
    (an AttributeError at start-up) instead of being refused like any unknown option. ``clock``
    (the middlewares' time source, a keyword parameter too) is refused alike."""
    options = {"auth0": "use = egg:auth0-wsgi\nclient_id = abc\nbase_url = https://app.example.com\n"
                         "client_secret = s3cret\n",
               "api": "use = egg:auth0-wsgi#api\naudience = https://api.example.com\n"}[section]
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[app:echo]\nuse = call:tests.support.apps:echo\n\n"
        f"[filter:{section}]\n{options}domain = tenant.example.com\n{key} = production\n\n"
        f"[pipeline:main]\npipeline = {section} echo\n"
    )
    monkeypatch.setenv("AUTH0_SECRET", "x" * 40)
    with pytest.raises(ConfigError, match=rf"option '{key}'"):
        loadapp(f"config:{ini}", relative_to=str(ROOT))
