"""Great Expectations Data Docs of every delivery's quality checks — counts and rule names only.

- :func:`record` writes one delivery's sanitised results (:func:`expectations.checkpoint.sanitise`, merged
  per suite) as JSON under ``<data root>/quality/validations/<delivery id>/<suite>.json``, replacing that
  delivery's earlier results: re-running a delivery leaves one set.
- :func:`build` renders GX's own Data Docs (a static HTML site) from every recorded result into
  ``<data root>/docs/data-docs/`` (``index.html``). Each result is named after its delivery (run name and
  batch id = delivery id, asset = feed), so the index can be sorted and searched per feed and delivery.
  Only pages of results not rendered yet are rendered; the index is rebuilt each time and pages of
  results that are gone (a re-run delivery's old run) are removed.

Nothing here ever sees a row value: the recorded results hold counts, percentages, success flags and
the rules (type, parameters, meta).

The pages work offline: GX's templates load Bootstrap, jQuery, Font Awesome, Vega … from public CDNs,
which the machines that show these pages may not reach (and the great_expectations package does not
ship those files). :func:`offline` takes every remote script, stylesheet and image out of each page
GX writes and puts a small stylesheet of our own in their place: the pages are static tables and
text, readable without them; only the interactive extras (sorting, filtering, charts) are gone.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import re
import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

SITE_NAME = "tesoma"
DATASOURCE = "tesoma"
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # delivery ids and suite names, as file names



class Settings(Protocol):
    """What this module needs of the pipeline's settings (``tesoma.config.Settings`` has it): the data root."""

    data_root: Path

def validations_dir(settings: Settings) -> Path:
    return settings.data_root / "quality" / "validations"


def site_dir(settings: Settings) -> Path:
    return settings.data_root / "docs" / "data-docs"


def record(settings: Settings, delivery_id: str, results: Mapping[str, Any],
           rows: Mapping[str, int] | None = None) -> Path:
    """Record a delivery's validation results for the Data Docs; returns its folder.

    ``results`` maps a suite name (e.g. ``"city_visits.contract"``, ``"service_event.canonical"``) to the
    :class:`expectations.runner.Validation` of that suite — however many GX runs it took; they are merged
    into one result per suite — or to an iterable of sanitised results (``Validation.gx_results``).

    ``rows`` maps a suite name to the number of rows it validated. Given a ``Validation``, each rule's
    counts are taken from its row-level ``results`` (a rule run on distinct values counts rows, not
    values, on the page); with the row count the pages also show the share of rows.
    """
    for name in (delivery_id, *results):
        if not _SAFE.match(name):
            raise ValueError(f"not a delivery id or suite name: {name!r}")
    run_time = dt.datetime.now(dt.UTC)
    feed = delivery_id.split("-", 1)[0]  # ids are <feed>-<partner>-<date>-<sequence>-<sha256 prefix>
    documents = {suite: _merge(suite, validation, delivery_id, feed, run_time, (rows or {}).get(suite))
                 for suite, validation in results.items()}

    folder = validations_dir(settings) / delivery_id
    if not documents:  # e.g. a delivery rejected before any check ran: no results, none left over
        shutil.rmtree(folder, ignore_errors=True)
        return folder
    staging = folder.with_name(f".{delivery_id}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for suite, document in documents.items():
        (staging / f"{suite}.json").write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def _merge(suite: str, validation: Any, delivery_id: str, feed: str, run_time: dt.datetime,
           rows: int | None) -> dict:
    """One suite's GX runs as one sanitised ``ExpectationSuiteValidationResult`` dict."""
    runs: list[dict] = list(getattr(validation, "gx_results", validation))
    by_rule = {(r.column, r.rule): r for r in getattr(validation, "results", [])}
    expectations = []
    for run in runs:
        for e in run["results"]:
            e = json.loads(json.dumps(e))  # a copy
            config = e["expectation_config"]
            config["kwargs"].pop("batch_id", None)  # names the GX asset of one run, not the delivery
            meta = config.get("meta") or {}
            key = (meta.get("column") or config["kwargs"].get("column"), meta.get("rule") or config["type"])
            if key in by_rule:
                e["success"], e["result"] = _in_rows(e["result"], by_rule[key].failed_rows,
                                                     by_rule[key].success, rows)
            expectations.append(e)
    passed = sum(e["success"] for e in expectations)
    version = next((r["meta"].get("great_expectations_version") for r in runs), None) or _gx_version()
    return {
        "success": passed == len(expectations),
        "suite_name": suite,
        "statistics": {"evaluated_expectations": len(expectations), "successful_expectations": passed,
                       "unsuccessful_expectations": len(expectations) - passed,
                       "success_percent": 100.0 * passed / len(expectations) if expectations else None},
        "suite_parameters": {},
        "meta": {
            "great_expectations_version": version,
            "run_id": {"run_name": delivery_id, "run_time": run_time.isoformat()},
            "validation_time": run_time.isoformat(),
            "active_batch_definition": {"datasource_name": DATASOURCE, "data_connector_name": "fluent",
                                        "data_asset_name": feed, "batch_identifiers": {"delivery_id": delivery_id}},
            "batch_spec": {"data_asset_name": feed, "delivery_id": delivery_id},  # the pages show these
            "delivery_id": delivery_id,
            "rows": rows,
            "gx_runs": [r["suite_name"] for r in runs],
        },
        "results": expectations,
    }


def _in_rows(result: dict, failed_rows: int, success: bool, rows: int | None) -> tuple[bool, dict]:
    """An expectation's counts in rows of the delivery. A GX run on the rows themselves is kept as it
    is; a run on distinct values gets the row counts the runner derived from it."""
    if rows is not None and result.get("element_count") == rows and result.get("unexpected_count") == failed_rows:
        return success, result
    counts: dict = {"unexpected_count": failed_rows}
    if rows is not None:
        counts |= {"element_count": rows, "unexpected_percent": 100.0 * failed_rows / rows if rows else 0.0}
    return success, counts


def _gx_version() -> str:
    from importlib.metadata import version

    return version("great_expectations")


# --- the site -----------------------------------------------------------------------------------

BUILD_STATE = ".tesoma-build-state"
"""In the site: a digest of the recorded results it was last built from."""


def build(settings: Settings, force: bool = False) -> Path:
    """Build the Data Docs site from every recorded result; returns its ``index.html``.

    A result's page never changes (a re-run delivery is a new run, with its own page), so only results
    without a page are rendered. The index is rebuilt from every result; for those already rendered it
    reads a summary (success, statistics, names) instead of the whole result, which keeps a build
    proportional to the new results rather than to the history. When no recorded result changed since
    the last build, nothing is done (GX is not even imported) unless ``force``.
    """
    site = site_dir(settings)
    site.mkdir(parents=True, exist_ok=True)
    # Two builds may meet (the catalog DAG after a publish, a feed run's report after a rejection): one at a
    # time, the second then finds the site up to date.
    with (site / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(settings, site, force)


def _build(settings: Settings, site: Path, force: bool) -> Path:
    files = list(_recorded_files(validations_dir(settings)))
    state = _digest(files)
    state_file = site / BUILD_STATE
    if not force and (site / "index.html").exists() and state_file.exists() and state_file.read_text() == state:
        return site / "index.html"

    from expectations import gx_runtime  # first: it quiets GX's logging

    gx = gx_runtime.gx
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context import set_context
    from great_expectations.data_context.data_context.context_factory import project_manager
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.exceptions.exceptions import DataContextRequiredError

    schema = ExpectationSuiteValidationResultSchema()
    recorded: list[tuple[Any, Any]] = []
    pending: list[Any] = []
    suites: dict[str, tuple[str, list[dict]]] = {}  # suite → (run time, expectation configs), newest run
    for path in files:
        document = json.loads(path.read_text(encoding="utf-8"))
        meta = document["meta"]
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=document["suite_name"]),
            run_id=RunIdentifier(run_name=meta["run_id"]["run_name"],
                                 run_time=dt.datetime.fromisoformat(meta["run_id"]["run_time"])),
            batch_identifier=meta["delivery_id"])
        if _page(site, key).exists():
            result = ExpectationSuiteValidationResult(
                success=document["success"], results=[], suite_name=document["suite_name"],
                statistics=document["statistics"], meta=meta)
        else:
            result = schema.load(document)
            pending.append(key)
        recorded.append((key, result))
        newest = suites.get(document["suite_name"])
        if newest is None or newest[0] < meta["run_id"]["run_time"]:
            suites[document["suite_name"]] = (meta["run_id"]["run_time"],
                                              [e["expectation_config"] for e in document["results"]])

    try:
        previous = project_manager.get_current_project()
    except DataContextRequiredError:
        previous = None
    docs = gx.get_context(mode="ephemeral", project_config=_site_config(site))
    try:
        store = docs.validation_results_store
        for key, result in recorded:
            store.set(key, result)
        for name, (_, configs) in suites.items():
            docs.suites.add(gx.ExpectationSuite(name=name, expectations=_unique(configs)))
        written_after = time.time() - 1  # (file times may be rounded to the second)
        # The new results' pages and the suites' pages (a handful); an empty list would mean "all".
        docs.build_data_docs(site_names=[SITE_NAME], resource_identifiers=[
            *pending, *(ExpectationSuiteIdentifier(name=name) for name in suites)] or None)
    finally:
        if previous is not None:
            set_context(previous)
    for page in site.rglob("*.html"):
        if page.stat().st_mtime >= written_after:
            offline(page)
    state_file.write_text(state)
    return site / "index.html"


_REMOTE = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>\s*</script\s*>"  # remote scripts
    r"|<link\b[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^>]*>"  # remote stylesheets, icons, fonts
    r"|<img\b[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>"  # images hosted by GX
    r"|@import\s+url\(\s*[\"']?(?:https?:)?//[^)]*\)\s*;?",  # remote imports inside a <style>
    re.IGNORECASE)

OFFLINE_MARK = "<!-- tesoma: offline page, no remote resources -->"

OFFLINE_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 0 2em 2em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
.alert-danger, .text-danger { color: #a40000; } .alert-success, .text-success { color: #1b6e20; }
.card { border: 1px solid #ddd; border-radius: 4px; padding: .5em 1em; margin: 1em 0; }
nav, .navbar, .sticky { display: block; margin: .5em 0; }
.d-none, .modal, .tooltip { display: none; }
code, pre { background: #f6f6f6; padding: 0 .2em; }
i.fas, i.fa { font-style: normal; font-weight: bold; }
.fa-check-circle::before, .fa-check::before { content: "✔ ok"; }
.fa-times::before, .fa-times-circle::before { content: "✘ failed"; }
.fa-exclamation-triangle::before { content: "⚠ warning"; }
</style>"""


def offline(page: Path) -> None:
    """Take the remote scripts, stylesheets and images out of one generated page and add a local style."""
    text = page.read_text(encoding="utf-8")
    if OFFLINE_MARK in text:
        return
    text = _REMOTE.sub("", text)
    head = re.search(r"</head\s*>", text, re.IGNORECASE)
    style = f"{OFFLINE_MARK}\n{OFFLINE_STYLE}\n"
    text = text[:head.start()] + style + text[head.start():] if head else style + text
    page.write_text(text, encoding="utf-8")


def _digest(files: list[Path]) -> str:
    import hashlib

    h = hashlib.sha256()
    for path in files:
        stat = path.stat()
        h.update(f"{path.parent.name}/{path.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _recorded_files(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".") for p in d.glob("*.json"))


def _unique(configs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for config in configs:
        marker = json.dumps({k: config.get(k) for k in ("type", "kwargs", "meta")}, sort_keys=True)
        if marker not in seen:
            seen.add(marker)
            out.append({k: config[k] for k in ("type", "kwargs", "meta") if k in config})
    return out


def _page(site: Path, key) -> Path:
    """Where GX's site store writes a validation result's page (``validations/<suite parts>/<run name>/
    <run time>/<batch id>.html``, as its index builder links it)."""
    return site.joinpath("validations", *key.expectation_suite_identifier.name.split("."),
                         *key.run_id.to_tuple(), f"{key.batch_identifier}.html")


def _site_config(site: Path):
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    return DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={SITE_NAME: {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
    )
