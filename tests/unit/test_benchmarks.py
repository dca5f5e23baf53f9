"""The publish benchmark runs end to end on a small file (its figures are printed, never asserted)."""

from __future__ import annotations

from tesoma import benchmarks


def test_publish_benchmark_runs_every_round_on_the_whole_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TESOMA_LEDGER_URL", raising=False)
    # The benchmark sets these for its own rounds; monkeypatch puts them back afterwards.
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(tmp_path / "unused"))
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", "test-key-not-secret-0123456789abcdef0123")
    lines: list[str] = []
    result = benchmarks.publish_path(tmp_path, rows=3_000, repeats=2, echo=lines.append)
    assert [r["rows_read"] for r in result["rounds"]] == [3_000] * 3  # warm-up + 2 timed rounds
    assert [r["rows_published"] for r in result["rounds"]] == [3_000] * 3
    assert result["ratio"] == result["pipeline_s"] / result["bare_s"]
    assert lines[-1].startswith("  ratio pipeline / bare copy: ")
