"""The benchmarks run end to end on tiny sizes (their figures are printed, never asserted: only their form)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from tesoma import benchmarks
from warehouse import commits, states
from warehouse.iceberg import Place, WarehouseError, open_catalog
from warehouse.layout import Layout
from warehouse.ledger import prepare_schema


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


COMMIT_LINE = re.compile(r"^ +12 snapshots: commit median \d+ ms, p95 \d+ ms; metadata\.json [\d,]+ KiB, \d+ manifests "
                         r"\(\d+ s so far\)$")


def test_commit_benchmark_grows_the_table_then_expires_to_the_kept_days(tmp_path, monkeypatch):
    for name in ("TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE"):
        monkeypatch.setenv(name, "must-not-be-used")  # the benchmark makes its own catalog
    lines: list[str] = []
    # 2 days' worth = 7 snapshots (3 partners a day, every 10th delivery a correction)
    result = benchmarks.commits(tmp_path, snapshots=12, window=5, keep_days=2, echo=lines.append)

    assert lines[0].startswith("commits: tesoma.service_event grown to 12 snapshots in a sqlite catalog")
    assert COMMIT_LINE.match(lines[1]), lines[1]
    assert re.match(r"^  expiry to the newest 7 snapshots \(2 days' worth\) in [\d.]+ s: 7 snapshots left, "
                    r"metadata\.json [\d,]+ KiB$", lines[3]), lines[3]
    assert re.match(r"^  5 commits after the expiry: median \d+ ms, p95 \d+ ms; metadata\.json [\d,]+ KiB, \d+ "
                    r"manifests$", lines[4]), lines[4]
    assert [c["table_snapshots"] for c in result["checkpoints"]] == [12]
    assert result["expiry"]["snapshots_left"] == 7
    assert result["expiry"]["table_snapshots"] == 7 + 5


def test_commit_benchmark_says_when_the_table_is_within_the_kept_days(tmp_path):
    lines: list[str] = []
    result = benchmarks.commits(tmp_path, snapshots=3, window=2, echo=lines.append)
    assert result["expiry"] is None
    assert lines[-1] == "  expiry: 3 snapshots are within 400 days' worth (1,333): nothing to expire"


DAY = dt.date(2026, 10, 1)


def publish_tiny_service_events(root, partner: str) -> None:
    """One delivery of two service events for ``partner`` on DAY, published as the pipeline would."""
    place = Place.for_root(root)
    engine = sa.create_engine(place.ledger_url)
    prepare_schema(engine, place.ledger_url)
    delivery_id = f"city_visits-{partner}-20261001-1-0000000{len(partner)}"
    staged = Layout(root).staging_file("service_event", delivery_id)
    staged.parent.mkdir(parents=True, exist_ok=True)
    benchmarks.tiny_service_events(partner, DAY, delivery_id, staged)
    change = commits.PartitionChange("service_event", partner, DAY, staged, delivery_id, "0" * 64)
    with states.Publishing(engine, delivery_id) as session:
        snapshot = commits.replace_partition(open_catalog(place), change, session.head.snapshots.get("service_event"))
        session.advance({"service_event": snapshot}, delivery_id)


QUESTION_LINE = re.compile(r"^  \d+\. .+: (\d+\.\d ms vs old \d+\.\d ms → \d+\.\d\d×|skipped \(.+\))$")


def test_query_benchmark_times_every_question_on_new_and_old_views(data_root, monkeypatch):
    for name in ("TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    # GX's Data Docs (part of steps.refresh_catalog) cost a 7 s import, and are not what this test is about.
    monkeypatch.setattr("expectations.data_docs.build", lambda s: data_root / "docs" / "data-docs" / "index.html")
    publish_tiny_service_events(data_root, "city")
    publish_tiny_service_events(data_root, "mehilainen")
    lines: list[str] = []
    result = benchmarks.queries(repeats=1, echo=lines.append)

    questions = benchmarks.analyst_questions()
    assert len(questions) >= 5 and all("select" in sql for _, sql in questions)
    assert lines[0] == f"queries: the warehouse at {data_root} (state 2); medians of 1 timed runs after one untimed run"
    assert re.match(r"^  view refresh \(warehouse\.catalog\.refresh\): \d+ ms; steps\.refresh_catalog", lines[1])
    assert lines[2] == "  old-style views: read_parquet(hive_partitioning) over the same 2 files of 1 tables"
    assert all(QUESTION_LINE.match(line) for line in lines[3:-1]), lines[3:-1]
    timed = [q for q in result["questions"] if "ratio" in q]
    skipped = [q for q in result["questions"] if "skipped" in q]
    assert len(timed) + len(skipped) == len(questions)
    assert timed and skipped  # service_event questions run; those of tables without data are skipped
    assert all(q["same_answer"] for q in timed)  # the old-style views see exactly the same rows
    assert lines[-1].startswith("  ratio new/old: median ") and lines[-1].endswith("(target ≤ 1.2×)")


def test_query_benchmark_without_a_published_warehouse_says_to_run_the_demo(data_root):
    with pytest.raises(WarehouseError, match="run `make demo` first"):
        benchmarks.queries(repeats=1, echo=lambda line: None)
