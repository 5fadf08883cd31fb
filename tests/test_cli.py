"""The ``auth0-wsgi`` command line (``auth0_wsgi.cli``) against the fake provider: exit statuses, the
text and JSON reports, usage errors, and no secret in any output. The real provider's verdicts are in
test_e2e_check.py."""

from __future__ import annotations

import io
import json

import pytest

from auth0_wsgi import cli
from tests.support.fake_provider import CLIENT_SECRET
from tests.support.flows import SECRET
from tests.support.inifiles import ini as ini  # a fixture, re-exported for pytest

REDIS_PASSWORD = "redis-pass-0123"


def _secrets_absent(text: str) -> None:
    for secret in (CLIENT_SECRET, SECRET, REDIS_PASSWORD):
        assert secret not in text


def test_all_passing_exits_0_with_a_line_per_check(ini, capsys):
    assert cli.main(["check", ini()]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("auth0-wsgi check: [filter:auth0] of ")
    assert [line[0] for line in lines[1:-1]] == ["✓"] * 5 + ["○", "✓", "✓", "○", "○", "✓"]
    assert lines[-1] == "All checks passed (3 not checked or not used)."
    assert err == ""
    _secrets_absent(out)


def test_a_failure_exits_1_with_its_fix_under_it(ini, capsys):
    assert cli.main(["check", ini(client_secret="wrong-client-secret")]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("✗"))
    assert "client credentials" in lines[failed] and "invalid_client" in lines[failed]
    assert lines[failed + 1].lstrip().startswith("fix: check client_id; set client_secret")
    assert lines[-1] == "1 of 11 checks failed (3 not checked or not used)."
    assert err == ""  # the middleware's log line about invalid_client stays out of the report
    assert "wrong-client-secret" not in out


def test_json_is_a_list_of_name_ok_detail_fix(ini, capsys):
    assert cli.main(["check", ini(scope="openid profile"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert all(set(item) == {"name", "ok", "detail", "fix"} for item in report)
    by_name = {item["name"]: item for item in report}
    assert by_name["offline_access"]["ok"] is False
    assert by_name["offline_access"]["fix"].startswith("scope = openid profile offline_access")
    assert by_name["audience"]["ok"] is None


def test_no_secret_in_any_output_even_when_a_check_echoes_one(ini, capsys, fake):
    """The provider's words are shown: a provider that echoes the secret back is redacted too."""
    page = json.dumps({"error": "invalid_request", "error_description": f"bad {CLIENT_SECRET} {SECRET}"})
    fake.raw_answers["/authorize"] = (400, page.encode())
    path = ini(session_store=f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0")
    for extra in ([], ["--json"], ["--verbose"]):
        assert cli.main(["check", path, *extra]) == 1
        out, err = capsys.readouterr()
        _secrets_absent(out + err)
        assert "***" in out


def test_the_environment_completes_the_ini(ini, capsys, monkeypatch):
    monkeypatch.setenv("AUTH0_CLIENT_SECRET", CLIENT_SECRET)
    assert cli.main(["check", ini(client_secret="")]) == 0
    _secrets_absent(capsys.readouterr().out)


def test_a_bad_option_is_one_failure(ini, capsys):
    assert cli.main(["check", ini(cookie_secure="ture")]) == 1
    out = capsys.readouterr().out
    assert "✗ configuration  option 'cookie_secure'" in out
    assert "fix: set 'cookie_secure' in [filter:auth0] of " in out


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["check", "/no/such.ini"], "no such file", id="no-file"),
    pytest.param(["check", "INI", "--filter", "other"], "no [filter:other] section", id="no-such-filter"),
    pytest.param(["check", "INI", "--paste-global", "novalue"], "is not KEY=VALUE", id="bad-paste-global"),
])
def test_usage_errors_exit_2(ini, capsys, argv, message):
    argv = [ini() if arg == "INI" else arg for arg in argv]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err


@pytest.mark.parametrize("argv", [[], ["check"], ["nope", "x.ini"]], ids=["no-command", "no-ini", "unknown"])
def test_argument_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2


def test_an_ascii_terminal_gets_plain_marks(ini, monkeypatch):
    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr("sys.stdout", out)
    assert cli.main(["check", ini(scope="openid")]) == 1
    out.seek(0)
    text = out.read()
    assert "\nok   configuration" in text and "\nFAIL offline_access" in text and "\n--   audience" in text
