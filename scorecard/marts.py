"""The scorecard's marts: the dbt project in ``marts/`` (staging → intermediate → ``kpi_*``), built in-process.

The sources are the analysts' catalog views of ONE warehouse state (a file made by
``warehouse.catalog.build_views``), attached read-only; the marts are written to a restricted DuckDB file.
``build`` runs dbt ``build``: seeds, models and every test (generic, singular and unit tests), and refuses
the result when any of them fails. dbt's own files (``target/``, ``logs/``) go to ``work_dir``, never
into the project. Progress is logged per model, with names and seconds only (never row data).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from tesoma.config import environment

PROJECT_DIR = Path(__file__).resolve().parent.parent / "marts"
"""The dbt project (its ``profiles.yml`` inside: profile ``tesoma``, target ``local``)."""

log = logging.getLogger(__name__)

_FAILED = {"error", "fail", "runtime error"}


class MartsError(RuntimeError):
    """The marts could not be built, or a test failed: one line per failed model or test."""


@dataclass(frozen=True)
class MartsRun:
    """A successful build: seconds per model (name → seconds), how many tests passed, and dbt's manifest
    (``published_models(run.manifest)`` says which tables may be published and how)."""

    models: dict[str, float]
    tests_passed: int
    manifest: dict = field(repr=False)


def build(sources_db: Path, marts_db: Path, work_dir: Path, *, last_month: dt.date | None = None,
          full_refresh: bool = True, select: str | None = None) -> MartsRun:
    """Build the marts from ``sources_db`` into ``marts_db``.

    ``last_month``: the last month to compute (default: the data's last month). ``full_refresh=False``
    recomputes only ``last_month`` (adding a month to an existing full build; the intermediate tables then
    hold that month only) and leaves out the tests tagged ``full_scan`` (those reading every contact: the
    staging tests), which every full build runs.
    ``select``: a dbt selection (e.g. ``+kpi_reach``); default everything. Raises :class:`MartsError`.
    """
    sources_db, marts_db, work_dir = Path(sources_db).resolve(), Path(marts_db).resolve(), Path(work_dir).resolve()
    if not sources_db.exists():
        raise MartsError(f"{sources_db}: no sources catalog there; build it with warehouse.catalog.build_views")
    marts_db.parent.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    variables: dict[str, object] = {"incremental_run": not full_refresh}
    if last_month:
        variables["last_month"] = last_month.replace(day=1).isoformat()
    args = ["build", "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
            "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
            "--vars", json.dumps(variables), "--no-use-colors", "--quiet",
            "--no-send-anonymous-usage-stats", "--no-version-check"]
    if full_refresh:
        args.append("--full-refresh")
    else:
        # adding a month: leave out the tests that scan every contact (staging, tagged full_scan in
        # dbt_project.yml); a full build runs them
        args += ["--exclude", "tag:full_scan"]
    if select:
        args += ["--select", select]
    from dbt.cli.main import dbtRunner

    with environment(TESOMA_SOURCES_DB=str(sources_db), TESOMA_MARTS_DB=str(marts_db)):
        try:
            outcome = dbtRunner(callbacks=[_log_progress]).invoke(args)
        finally:
            _release_duckdb()
    if outcome.exception is not None:
        raise MartsError(f"dbt could not run the marts project ({PROJECT_DIR}): {_one_line(outcome.exception)}")
    results = list(outcome.result.results) if outcome.result is not None else []
    failures = [r for r in results if str(r.status) in _FAILED]
    if failures or not outcome.success:
        lines = [f"{r.node.resource_type} {r.node.name}: {r.status}: {_one_line(r.message)}" for r in failures]
        raise MartsError("the marts failed to build:\n" + ("\n".join(lines) or "dbt reported a failure"))
    models = {r.node.name: round(r.execution_time, 3) for r in results if r.node.resource_type == "model"}
    tests = sum(1 for r in results if r.node.resource_type in ("test", "unit_test") and str(r.status) == "pass")
    manifest = json.loads((work_dir / "target" / "manifest.json").read_text())
    return MartsRun(models=models, tests_passed=tests, manifest=manifest)


def published_models(manifest: dict) -> dict[str, dict]:
    """Model name → its disclosure spec (``meta.disclosure``), for every model marked ``meta: {publish: true}``."""
    published = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        meta = node.get("config", {}).get("meta") or node.get("meta") or {}
        if meta.get("publish") is True:
            published[node["name"]] = meta["disclosure"]
    return dict(sorted(published.items()))


def _log_progress(event) -> None:
    """One log line per finished node: its name, status and seconds."""
    if event.info.name != "NodeFinished":
        return
    node = event.data.node_info
    seconds = getattr(getattr(event.data, "run_result", None), "execution_time", None)
    log.info("marts: %s %s %s%s", node.resource_type, node.node_name, node.node_status,
             f" in {seconds:.1f} s" if seconds is not None else "")


def _release_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB instance open in the process after a run; close it, or the caller (and
    disclosure control after it) could not open the marts file, nor a next build attach the sources again."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def _one_line(message: object) -> str:
    text = " ".join(str(message or "").split())
    return text[:400]
