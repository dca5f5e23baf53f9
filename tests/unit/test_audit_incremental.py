"""The privacy audit reads only what is new or changed since it found it clean, keeps reporting a finding until
it is fixed, and reads everything again when its rules change or when asked to (`tesoma audit --full`)."""

from __future__ import annotations

import os

import pytest

from tesoma import audit
from tesoma.cli import main
from tesoma.config import settings


@pytest.fixture
def shared(data_root, tmp_path, monkeypatch):
    """A data root whose docs/ holds two clean pages (the repository's own docs left out of the targets)."""
    monkeypatch.setattr(audit, "PROJECT_DIR", tmp_path / "no-project")
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    docs = data_root / "docs"
    docs.mkdir()
    for name in ("a.md", "b.md"):
        _write(docs / name, "Visits per month: 12.\n")
    return docs


def _write(path, text: str, age_seconds: float = 60) -> None:
    """Write a file as if written ``age_seconds`` ago (older than the audit's settle time)."""
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime - age_seconds
    os.utime(path, (stamp, stamp))


def test_only_new_or_changed_files_are_read_again(shared):
    first = audit.scan_incrementally(settings())
    assert (first.scanned, first.unchanged, first.findings) == (2, 0, [])
    assert audit.record_path(settings()).is_file()

    again = audit.scan_incrementally(settings())
    assert (again.scanned, again.unchanged) == (0, 2)

    _write(shared / "c.md", "A new page.\n")
    _write(shared / "a.md", "Visits per month: 13 (corrected).\n")
    after = audit.scan_incrementally(settings())
    assert (after.scanned, after.unchanged) == (2, 1)


def test_a_finding_is_reported_on_every_audit_until_it_is_fixed(shared):
    audit.scan_incrementally(settings())
    leak = shared / "b.md"
    _write(leak, "caller 131052-308T\n")

    for _ in range(3):
        found = audit.scan_incrementally(settings())
        assert [(f.path.name, f.where, f.kind) for f in found.findings] == [("b.md", "line 1", "identity_code")]

    _write(leak, "caller removed\n", age_seconds=30)
    assert audit.scan_incrementally(settings()).findings == []
    assert audit.scan_incrementally(settings()).scanned == 0


def test_a_file_written_just_now_is_read_again_next_time(shared):
    """A file may be written twice within one tick of a coarse file clock: a fresh file is not settled yet."""
    audit.scan_incrementally(settings())
    (shared / "fresh.md").write_text("new\n", encoding="utf-8")
    assert audit.scan_incrementally(settings()).scanned == 1
    assert audit.scan_incrementally(settings()).scanned == 1


def test_full_scan_and_a_change_of_the_rules_read_everything(shared, monkeypatch):
    audit.scan_incrementally(settings())
    full = audit.scan_incrementally(settings(), full=True)
    assert (full.scanned, full.unchanged, full.full) == (2, 0, True)
    assert audit.scan_incrementally(settings()).scanned == 0

    monkeypatch.setattr(audit, "RULES_VERSION", audit.RULES_VERSION + 1)
    assert audit.scan_incrementally(settings()).scanned == 2
    assert audit.scan_incrementally(settings()).scanned == 0


def test_cli_audit_is_incremental_and_full_on_request(shared, capsys):
    assert main(["audit"]) == 0
    assert "audit: 2 files scanned (full scan), 0 finding(s)" in capsys.readouterr().out
    assert main(["audit"]) == 0
    assert "audit: 0 files scanned (2 unchanged file(s) already found clean), 0 finding(s)" in capsys.readouterr().out
    assert main(["audit", "--full"]) == 0
    assert "audit: 2 files scanned (full scan)" in capsys.readouterr().out
    _write(shared / "b.md", "mail matti.meikalainen@gmail.com\n")
    assert main(["audit"]) == 1
    out = capsys.readouterr().out
    assert "b.md: line 1: 1 × email_address" in out and "gmail" not in out
    assert main(["audit", str(shared / "a.md")]) == 0  # named paths: scanned in full, the record untouched
    assert "audit: 1 files scanned, 0 finding(s)" in capsys.readouterr().out
