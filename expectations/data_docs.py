"""Great Expectations Data Docs of every delivery's quality checks — counts and rule names only.

- :func:`record` writes one delivery's sanitised results (:func:`expectations.checkpoint.sanitise`, merged
  per suite) as JSON under ``<data root>/quality/validations/<delivery id>/<suite>.json``, replacing that
  delivery's earlier results: re-running a delivery leaves one set.
- :func:`build` keeps a static HTML site in ``<data root>/docs/data-docs/`` up to date: a page per result
  rendered by GX (run name and batch id = delivery id, asset = feed), a page per suite, and an index of
  every result that we write. A manifest in the site says which page each delivery's results have, so a
  build costs in proportion to the deliveries recorded or removed since the last one, not to the history;
  with nothing new it does not even import GX.

Nothing here ever sees a row value: the recorded results hold counts, percentages, success flags and
the rules (type, parameters, meta).

The pages work offline: GX's templates load Bootstrap, jQuery, Font Awesome, Vega … from public CDNs,
which the machines that show these pages may not reach (and the great_expectations package does not
ship those files). :func:`offline` takes every remote script, stylesheet and image out of each page
GX writes and puts a small stylesheet of our own in their place: the pages are static tables and
text, readable without them; only the interactive extras (sorting, filtering, charts) are gone. GX's
own index is not used for that reason: its table is filled by a CDN script, so offline it lists nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import fcntl
import hashlib
import html
import json
import logging
import os
import re
import shutil
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

SITE_NAME = "tesoma"
DATASOURCE = "tesoma"
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # delivery ids and suite names, as file names

log = logging.getLogger(__name__)


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

MANIFEST = ".tesoma-manifest.json"
"""In the site: per delivery, the stamp of its results folder and, per suite, the page rendered from it
(with what the index shows of it: feed, run time, success, counts); per suite, the rules its page shows."""
BUILD_STATE = ".tesoma-build-state"
"""In the site: a digest of the results folders' stamps the manifest was last brought up to date with."""
_MANIFEST_VERSION = 1
_RENDER_BATCH = 200  # results held by GX at once while rendering (a first build may render thousands)


PAGES_PER_BUILD = 200
"""Result pages GX renders in one build at most (~50 ms each: ~10 s). A backfill records thousands of results
in minutes; the rest wait, newest and failed first, for the next builds — or are rendered the moment someone
opens them (:func:`render_delivery`, the Airflow plugin's delivery page). ``TESOMA_DATA_DOCS_PAGES_PER_BUILD``
sets another budget (0: none)."""


def pages_per_build() -> int | None:
    value = os.environ.get("TESOMA_DATA_DOCS_PAGES_PER_BUILD")
    if value is None or not value.strip():
        return PAGES_PER_BUILD
    if not value.strip().isdigit():
        raise ValueError(f"TESOMA_DATA_DOCS_PAGES_PER_BUILD={value!r}: give a whole number of pages (0: no limit)")
    return int(value) or None


def build(settings: Settings, force: bool = False, max_pages: int | None = -1) -> Path:
    """Bring the Data Docs site up to date with the recorded results; returns its ``index.html``.

    The work is in proportion to what changed since the last build, not to the history:

    - a delivery's results are recognised by its folder, which :func:`record` replaces whole (a new inode
      each time): only the folders that are new, replaced or gone are read;
    - GX renders only the pages of new results, in batches (a first build of a long history keeps its
      progress), and a suite's page only when its newest result's rules differ from the page's;
    - pages of results that are gone (a re-run delivery's old run, a delivery recorded with no results)
      are removed, without GX;
    - the index is ours, written from the manifest: every result, newest first, as a static table that
      reads offline (GX's index fills its table with scripts from public CDNs, so offline it is empty).

    When nothing changed, only the folders are listed and stat'ed: GX is not imported. ``force`` also
    re-renders any page missing from the site, removes pages no result has, and rewrites the index; it
    does not render existing pages again.

    At most ``max_pages`` result pages are rendered (default :func:`pages_per_build`; None: every one; with
    ``force`` every one): the others are listed in the index at once, marked "page on request", and
    rendered by the next builds, failed and newest first, or when opened (:func:`render_delivery`).
    """
    if max_pages == -1:
        max_pages = None if force else pages_per_build()
    site = site_dir(settings)
    site.mkdir(parents=True, exist_ok=True)
    # Two builds may meet (the catalog DAG after a publish, a feed run's report after a rejection): one at a
    # time, the second then finds the site up to date.
    with (site / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build(settings, site, force, max_pages)


def render_delivery(settings: Settings, delivery_id: str) -> int:
    """Render the pages of ``delivery_id``'s results that wait for their turn (:data:`PAGES_PER_BUILD`), now;
    returns how many were rendered (0 when none waits, e.g. they are rendered already or not recorded)."""
    site = site_dir(settings)
    with (site / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        manifest = _load_manifest(site / MANIFEST)
        recorded = (manifest or {}).get("deliveries", {}).get(delivery_id)
        if recorded is None:
            return 0
        folder = validations_dir(settings)
        waiting = [(delivery_id, folder / delivery_id / f"{suite}.json", entry)
                   for suite, entry in recorded["results"].items() if entry.get("deferred")]
        if not waiting:
            return 0
        rendered = _render(site, waiting, {}, manifest["deliveries"], manifest)
        _write_index(site / "index.html", manifest["deliveries"], manifest["suites"])
        _write_atomically(site / MANIFEST, json.dumps(manifest, separators=(",", ":"), sort_keys=True))
        return rendered


def _build(settings: Settings, site: Path, force: bool, max_pages: int | None) -> Path:
    index, state_file = site / "index.html", site / BUILD_STATE
    stamps = _folder_stamps(validations_dir(settings))
    state = _digest(stamps)
    if not force and index.exists() and state_file.exists() and state_file.read_text() == state:
        return index

    manifest = _load_manifest(site / MANIFEST)
    # Without a manifest (a first build, or a site built before there was one) the pages on disk are all
    # that is known: a result whose page exists is taken as rendered, and pages no result has are swept.
    sweep = force or manifest is None
    manifest = manifest or {"version": _MANIFEST_VERSION, "deliveries": {}, "suites": {}}
    deliveries: dict[str, dict] = manifest["deliveries"]
    removed = 0
    for delivery in [d for d in deliveries if d not in stamps]:
        removed += _remove_pages(site, [e["page"] for e in deliveries.pop(delivery)["results"].values()])

    pending: list[tuple[str, Path, dict]] = []  # (delivery, results file, entry) of pages to render
    folder = validations_dir(settings)
    for delivery, stamp in stamps.items():
        known = deliveries.get(delivery)
        if known is not None and known["stamp"] == stamp:
            if force:
                pending += [(delivery, folder / delivery / f"{suite}.json", entry)
                            for suite, entry in known["results"].items() if not (site / entry["page"]).exists()]
            continue
        entries = {path.stem: (path, _entry(json.loads(path.read_text(encoding="utf-8"))))
                   for path in sorted((folder / delivery).glob("*.json"))}
        if known is not None:
            kept = {entry["page"] for _, entry in entries.values()}
            removed += _remove_pages(site, [e["page"] for e in known["results"].values() if e["page"] not in kept])
        deliveries[delivery] = {"stamp": stamp, "results": {suite: entry for suite, (_, entry) in entries.items()}}
        for path, entry in entries.values():
            if (site / entry["page"]).exists():
                offline(site / entry["page"])  # (a build stopped between GX writing a page and this)
            else:
                pending.append((delivery, path, entry))
    if sweep:
        removed += _sweep(site, {e["page"] for d in deliveries.values() for e in d["results"].values()})

    with_results = {suite for d in deliveries.values() for suite in d["results"]}
    removed += _remove_pages(site, [manifest["suites"].pop(name)["page"] for name in list(manifest["suites"])
                                    if name not in with_results])
    suites = _suites_to_render(site, folder, deliveries, manifest["suites"], force)
    pending = _in_turn(pending, deliveries, folder)
    later = pending[max_pages:] if max_pages is not None else []
    pending = pending[:max_pages] if max_pages is not None else pending
    for _, _, entry in later:
        entry["deferred"] = True  # listed now, its page on request or in a later build
    rendered = _render(site, pending, suites, deliveries, manifest) if pending or suites else 0

    _write_index(index, deliveries, manifest["suites"])
    _write_atomically(site / MANIFEST, json.dumps(manifest, separators=(",", ":"), sort_keys=True))
    state_file.write_text(state)
    log.info("data docs: %d pages rendered, %d removed, %d waiting; the index lists %d results", rendered, removed,
             len(later), sum(len(d["results"]) for d in deliveries.values()))
    return index


def _in_turn(pending: list[tuple[str, Path, dict]], deliveries: dict, folder: Path) -> list[tuple[str, Path, dict]]:
    """The pages to render, with those deferred by earlier builds, in the order they are wanted: failed
    results first (what an engineer opens), then the newest."""
    seen = {entry["page"] for _, _, entry in pending}
    waiting = [(delivery, folder / delivery / f"{suite}.json", entry)
               for delivery, recorded in deliveries.items() for suite, entry in recorded["results"].items()
               if entry.get("deferred") and entry["page"] not in seen]
    ordered = sorted(pending + waiting, key=lambda p: p[2]["run_time"], reverse=True)
    return sorted(ordered, key=lambda p: bool(p[2]["success"]))  # (stable: newest first within each)


def _entry(document: dict) -> dict:
    """What the manifest keeps of one recorded result: where its page is, and what the index shows."""
    meta, suite = document["meta"], document["suite_name"]
    run_time = dt.datetime.fromisoformat(meta["run_id"]["run_time"]).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    statistics = document["statistics"]
    return {
        "suite": suite,
        "asset": meta["active_batch_definition"]["data_asset_name"],
        "run_name": meta["run_id"]["run_name"],
        "run_time": run_time,  # as GX names the page's folder: sorts as it reads
        "batch": meta["delivery_id"],
        "success": document["success"],
        "evaluated": statistics["evaluated_expectations"],
        "passed": statistics["successful_expectations"],
        # Where GX's site store writes the result's page (validations/<suite parts>/<run name>/<run time>/
        # <batch id>.html, as its index builder links it).
        "page": "/".join(["validations", *suite.split("."), meta["run_id"]["run_name"], run_time,
                          f"{meta['delivery_id']}.html"]),
        "rules": _rules_digest([e["expectation_config"] for e in document["results"]]),
    }


def _suites_to_render(site: Path, folder: Path, deliveries: dict, shown: dict, force: bool) -> dict[str, Path]:
    """Suites whose page must be (re)rendered → the results file of the newest run to render it from.

    A suite's page shows the rules of its newest result; a new result with the same rules (the usual
    case: the same contract) leaves the page as it is."""
    newest: dict[str, tuple[str, str, dict]] = {}
    for delivery, recorded in deliveries.items():
        for suite, entry in recorded["results"].items():
            if suite not in newest or newest[suite][2]["run_time"] < entry["run_time"]:
                newest[suite] = (delivery, suite, entry)
    return {name: folder / delivery / f"{suite}.json" for name, (delivery, suite, entry) in newest.items()
            if force or name not in shown or shown[name]["rules"] != entry["rules"]
            or not (site / shown[name]["page"]).exists()}


def _render(site: Path, pending: list[tuple[str, Path, dict]], suites: dict[str, Path],
            deliveries: dict, manifest: dict) -> int:
    """Render the pending results' pages and the suites' pages with GX, a batch at a time; the manifest
    is saved after each batch, so an interrupted first build resumes where it stopped."""
    from expectations import gx_runtime  # first: it quiets GX's logging

    gx = gx_runtime.gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context import set_context
    from great_expectations.data_context.data_context.context_factory import project_manager
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.exceptions.exceptions import DataContextRequiredError

    schema = ExpectationSuiteValidationResultSchema()
    try:
        previous = project_manager.get_current_project()
    except DataContextRequiredError:
        previous = None
    docs = gx.get_context(mode="ephemeral", project_config=_site_config(site))
    rendered = 0
    try:
        store = docs.validation_results_store
        suite_keys = []
        for name, path in suites.items():
            configs = [e["expectation_config"] for e in json.loads(path.read_text(encoding="utf-8"))["results"]]
            docs.suites.add(gx.ExpectationSuite(name=name, expectations=_unique(configs)))
            suite_keys.append(ExpectationSuiteIdentifier(name=name))
            manifest["suites"][name] = {"rules": _rules_digest(configs),
                                        "page": "/".join(["expectations", *name.split(".")]) + ".html"}
        # A delivery's stamp is saved only once all its pages are rendered: a build interrupted between
        # batches leaves the rest to be read again by the next one.
        waiting = collections.Counter(delivery for delivery, _, _ in pending)
        stamps = {delivery: deliveries[delivery]["stamp"] for delivery in waiting}
        for delivery in waiting:
            deliveries[delivery]["stamp"] = None
        batches = [pending[i:i + _RENDER_BATCH] for i in range(0, len(pending), _RENDER_BATCH)] or [[]]
        for number, batch in enumerate(batches):
            keys = []
            for _, path, entry in batch:
                key = ValidationResultIdentifier(
                    expectation_suite_identifier=ExpectationSuiteIdentifier(name=entry["suite"]),
                    run_id=RunIdentifier(run_name=entry["run_name"],
                                         run_time=dt.datetime.strptime(entry["run_time"], "%Y%m%dT%H%M%S.%fZ")
                                         .replace(tzinfo=dt.UTC)),
                    batch_identifier=entry["batch"])
                store.set(key, schema.load(json.loads(path.read_text(encoding="utf-8"))))
                keys.append(key)
            # The suites' pages come with the first batch; an empty list would mean "every resource".
            docs.build_data_docs(site_names=[SITE_NAME], build_index=False,
                                 resource_identifiers=[*keys, *(suite_keys if number == 0 else [])])
            for key in keys:
                store.remove_key(key)
            pages = [entry["page"] for _, _, entry in batch]
            pages += [manifest["suites"][name]["page"] for name in suites] if number == 0 else []
            for page in pages:
                if (site / page).exists():
                    offline(site / page)
                    rendered += 1
            for name in suites if number == 0 else []:
                if not (site / manifest["suites"][name]["page"]).exists():
                    log.warning("data docs: no page rendered for suite %s; tried again next build", name)
                    del manifest["suites"][name]
            for delivery, path, entry in batch:
                entry.pop("deferred", None)
                waiting[delivery] -= 1
                if not (site / entry["page"]).exists():  # GX logs a page it could not render and goes on
                    log.warning("data docs: no page rendered for %s of %s; tried again next build",
                                entry["suite"], delivery)
                    deliveries[delivery]["results"].pop(path.stem, None)
                    stamps[delivery] = None
                if not waiting[delivery]:
                    deliveries[delivery]["stamp"] = stamps[delivery]
            if number < len(batches) - 1:  # (after the last, the build saves it)
                _write_atomically(site / MANIFEST, json.dumps(manifest, separators=(",", ":"), sort_keys=True))
    finally:
        if previous is not None:
            set_context(previous)
    return rendered


def _remove_pages(site: Path, pages: Iterable[str]) -> int:
    """Remove pages and the folders they leave empty (a run's folder, its run name's)."""
    removed = 0
    for page in pages:
        path = site / page
        if path.exists():
            path.unlink()
            removed += 1
        for parent in path.parents:
            if parent == site or (parent.name in ("validations", "expectations") and parent.parent == site):
                break
            try:
                parent.rmdir()
            except OSError:  # not empty (or already gone)
                break
    return removed


def _sweep(site: Path, kept: set[str]) -> int:
    """Remove the result pages no recorded result has (each found by walking the whole site: a repair)."""
    folder = site / "validations"
    stray = [p.relative_to(site).as_posix() for p in folder.rglob("*.html")] if folder.is_dir() else []
    return _remove_pages(site, [page for page in stray if page not in kept])


def _link(entry: dict) -> str:
    """A result's page; one not rendered yet: the Airflow plugin's delivery page, which renders it on request
    (the site is served at ``<prefix>/data-docs/``, the delivery pages at ``<prefix>/deliveries/``)."""
    if entry.get("deferred"):
        return f"../deliveries/{urllib.parse.quote(entry['batch'])}/data-docs"
    return urllib.parse.quote(entry["page"])


def _write_index(index: Path, deliveries: dict, suites: dict) -> None:
    """The site's index: the suites, then every result, newest first — a static table that reads offline."""
    entries = sorted((e for d in deliveries.values() for e in d["results"].values()),
                     key=lambda e: (e["run_time"], e["batch"], e["suite"]), reverse=True)
    failed = sum(not e["success"] for e in entries)
    counts: dict[str, list[int]] = {}
    for e in entries:
        counts.setdefault(e["suite"], [0, 0])[0] += 1
        counts[e["suite"]][1] += not e["success"]
    esc = html.escape
    suite_rows = "".join(
        f'<tr><td><a href="{esc(urllib.parse.quote(suites[name]["page"]))}">{esc(name)}</a></td>'
        f"<td>{counts[name][0]}</td><td>{counts[name][1]}</td></tr>\n"
        for name in sorted(counts) if name in suites)
    status = {True: '<span class="text-success">✔ ok</span>', False: '<span class="text-danger">✘ failed</span>'}
    result_rows = "".join(
        f"<tr><td>{status[bool(e['success'])]}</td>"
        f"<td>{e['run_time'][:4]}-{e['run_time'][4:6]}-{e['run_time'][6:8]} {e['run_time'][9:11]}:"
        f"{e['run_time'][11:13]}:{e['run_time'][13:15]} UTC</td><td>{esc(e['asset'])}</td><td>{esc(e['suite'])}</td>"
        f'<td><a href="{esc(_link(e))}">{esc(e["batch"])}</a>{" (page on request)" if e.get("deferred") else ""}</td>'
        f"<td>{e['passed']} of {e['evaluated']}</td></tr>\n"
        for e in entries)
    _write_atomically(index, (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Tesoma Data Docs</title>\n'
        f"{OFFLINE_MARK}\n{OFFLINE_STYLE}\n</head><body>\n<h1>Data Docs: quality checks of each delivery</h1>\n"
        f"<p>{len(entries)} validation results of {len(deliveries)} deliveries, {failed} failed. The pages hold "
        "counts and rule names, never a value.</p>\n"
        "<h2>Expectation suites</h2>\n<table><thead><tr><th>Suite</th><th>Results</th><th>Failed</th></tr>"
        f"</thead><tbody>\n{suite_rows}</tbody></table>\n"
        "<h2>Validation results, newest first</h2>\n<table><thead><tr><th>Status</th><th>Run time</th>"
        "<th>Feed</th><th>Suite</th><th>Delivery</th><th>Rules passed</th></tr></thead><tbody>\n"
        f"{result_rows}</tbody></table>\n</body></html>\n"))


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


def _folder_stamps(folder: Path) -> dict[str, list[int]]:
    """Each delivery's results folder → [inode, mtime]: :func:`record` replaces a folder whole, by a
    rename of a new one, so a re-recorded delivery always shows a new inode (and never just a new time)."""
    if not folder.is_dir():
        return {}
    with os.scandir(folder) as entries:
        return {e.name: [e.inode(), e.stat().st_mtime_ns] for e in entries
                if not e.name.startswith(".") and e.is_dir()}


def _digest(stamps: dict[str, list[int]]) -> str:
    return hashlib.sha256(json.dumps(sorted(stamps.items())).encode()).hexdigest()


def _load_manifest(path: Path) -> dict | None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("version") == _MANIFEST_VERSION else None


def _write_atomically(path: Path, text: str) -> None:
    """Readers (the web server, a reader of the manifest) never see half a file."""
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, path)


def _rules_digest(configs: list[dict]) -> str:
    return hashlib.sha256(json.dumps(_unique(configs), sort_keys=True).encode()).hexdigest()[:16]  # (kept per result)


def _unique(configs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for config in configs:
        marker = json.dumps({k: config.get(k) for k in ("type", "kwargs", "meta")}, sort_keys=True)
        if marker not in seen:
            seen.add(marker)
            out.append({k: config[k] for k in ("type", "kwargs", "meta") if k in config})
    return out


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
