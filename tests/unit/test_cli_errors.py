"""Every `tesoma` command answers a bad argument, a missing file, an unknown feed, a missing key or bad SQL
with one line on stderr and a non-zero exit code, never a traceback."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from tesoma import cli
from tesoma.config import PROJECT_DIR

DAY = dt.date(2026, 10, 1)


def run_main(capsys, *argv: str) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``tesoma ARGV`` run in this process."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse exits itself on a bad argument
        code = exc.code
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(("argv", "says"), [
    (["run", "--feed", "nosuch", "--date", "2026-10-01"], "argument --feed: unknown feed 'nosuch'; known feeds: "
     "city_access, city_activity, city_visits,"),
    (["status", "--feed", "nosuch"], "argument --feed: unknown feed 'nosuch'; known feeds: city_access,"),
    (["reprocess", "--feed", "nosuch"], "argument --feed: unknown feed 'nosuch';"),
    (["run", "--date", "2026-13-01"], "argument --date: '2026-13-01' is not a date like 2026-10-01"),
    (["bench", "publish", "--dir", "/no/such/dir"], "argument --dir: no such folder: /no/such/dir"),
    (["check", "--feed", "city_visits", "/no/such/file.csv"], "argument files: no such file or folder: "
     "/no/such/file.csv"),
    (["generate", "--days", "0"], "argument --days: 0 is not a positive number"),
    (["nosuch"], "argument command: invalid choice: 'nosuch'"),
])
def test_bad_arguments_are_one_line(capsys, data_root, argv, says):
    code, err = run_main(capsys, *argv)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"tesoma: error: {says}")
    assert err[0].endswith("--help`)")


def test_bad_sql_is_one_line(capsys, data_root):
    code, err = run_main(capsys, "query", "selec 1 from service_event")
    assert code == 1
    assert err == ['tesoma: error: Parser Error: syntax error at or near "selec"']


def test_a_missing_key_stops_a_run_before_anything_is_landed(capsys, data_root, monkeypatch):
    from synthetic import generate

    generate(data_root, start=DAY, days=1, residents=200, seed=3, fault_rate=0.0)
    monkeypatch.delenv("TESOMA_PSEUDONYM_KEY")
    code, err = run_main(capsys, "run", "--feed", "city_visits", "--date", "2026-10-01")
    assert code == 1
    assert len(err) == 1
    assert err[0].startswith("tesoma: error: No pseudonym key. Set TESOMA_PSEUDONYM_KEY")
    assert err[0].endswith('generate one with: python3 -c "import secrets; print(secrets.token_urlsafe(48))"')
    assert not [p for p in (data_root / "raw").rglob("*") if p.is_file()]
    assert not (data_root / "ledger.sqlite").exists()  # not even opened


def test_a_weak_key_stops_the_demo_before_it_generates_anything(capsys, data_root, monkeypatch):
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", "changeme" * 4)
    code, err = run_main(capsys, "demo", "--days", "1")
    assert code == 1
    assert err == ["tesoma: error: The pseudonym key in TESOMA_PSEUDONYM_KEY uses only 7 different byte values of "
                   "256; at least 16 are required (a random key uses more); generate one with: python3 -c "
                   '"import secrets; print(secrets.token_urlsafe(48))"']
    assert not (data_root / "landing").exists()


def test_an_unexpected_error_is_one_line_and_its_traceback_only_on_request(capsys, data_root, monkeypatch):
    def broken(args):
        raise RuntimeError("the catalog is\nin a strange state")

    monkeypatch.setattr(cli, "cmd_dictionary", broken)
    monkeypatch.delenv("TESOMA_DEBUG", raising=False)
    code, err = run_main(capsys, "dictionary")
    assert code == 70
    assert err == ["tesoma: internal error (RuntimeError): the catalog is in a strange state; "
                   "run with TESOMA_DEBUG=1 for the traceback"]

    monkeypatch.setenv("TESOMA_DEBUG", "1")
    code, err = run_main(capsys, "dictionary")
    assert code == 70
    assert err[0] == "Traceback (most recent call last):"
    assert err[-1].startswith("tesoma: internal error (RuntimeError)")


def test_a_missing_file_deep_in_a_command_is_one_line(capsys, data_root, monkeypatch):
    def reads_a_missing_file(args):
        (data_root / "nothing-here.yaml").read_text()

    monkeypatch.setattr(cli, "cmd_dictionary", reads_a_missing_file)
    code, err = run_main(capsys, "dictionary")
    assert code == 1
    assert err == [f"tesoma: error: no such file or folder: {data_root / 'nothing-here.yaml'}"]


@pytest.mark.parametrize("argv", [
    ["run", "--feed", "nosuch", "--date", "2026-10-01"],
    ["bench", "publish", "--dir", "/no/such/dir"],
    ["query", "select * from no_such_view"],
])
def test_the_command_prints_no_traceback(data_root, argv):
    env = {k: v for k, v in os.environ.items() if k != "TESOMA_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "tesoma.cli", *argv], capture_output=True, text=True, env=env,
                          cwd=PROJECT_DIR, timeout=120)
    assert done.returncode in (1, 2)
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("tesoma: error: ")
    assert "Traceback" not in done.stderr
