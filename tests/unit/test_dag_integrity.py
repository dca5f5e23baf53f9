"""Every DAG imports quickly and without errors, has an owner, tags, docs and retries >= 2."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import airflow.sdk
import pytest

import contracts
from tesoma.feed_config import load as feed_runs

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


def dags_in(path: Path) -> list:
    spec = importlib.util.spec_from_file_location(f"dag_under_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [v for v in vars(module).values() if isinstance(v, airflow.sdk.DAG)]


ALL_DAGS = {d.dag_id: d for path in DAG_FILES for d in dags_in(path)}


def test_every_feed_with_a_contract_has_a_dag():
    expected = {f for f in feed_runs() if f in contracts.available()}
    assert expected and expected <= set(ALL_DAGS)
    assert "retention" in ALL_DAGS


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_import_fast(path):
    started = time.monotonic()
    found = dags_in(path)
    seconds = time.monotonic() - started
    assert found, f"{path.name} defines no DAG"
    # No heavy work at import time: the scheduler parses DAG files continuously.
    assert seconds < 5, f"{path.name} took {seconds:.1f}s to import"


@pytest.mark.parametrize("dag_id", sorted(ALL_DAGS))
def test_dag_is_sound(dag_id):
    dag = ALL_DAGS[dag_id]
    assert dag.tags, "tags say which partner and feed a DAG serves"
    assert dag.doc_md and "fails" in dag.doc_md, "doc_md tells an operator what to do when it fails"
    for task in dag.tasks:
        assert task.owner and task.owner != "airflow", f"{task.task_id}: set an owner"
        assert task.retries >= 2, f"{task.task_id}: retries must be >= 2"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_does_no_data_work(path):
    """Thin DAG files: no pandas, SQL or parsing; tasks call tesoma.steps."""
    text = path.read_text()
    for forbidden in ("import pandas", "import pyarrow", "import duckdb", "sqlalchemy", "select "):
        assert forbidden not in text.lower(), f"{path.name} contains {forbidden!r}"
