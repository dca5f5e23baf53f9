"""Upkeep of the warehouse as a whole: the analysts' catalog, the privacy audit, retention, history expiry."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time

from tesoma.config import Settings, settings
from tesoma.steps.context import context as _context
from warehouse import catalog

log = logging.getLogger(__name__)


def refresh_catalog(s: Settings | None = None) -> list[str]:
    """Bring the analysts' DuckDB views, the quality page and the GX Data Docs up to date; returns the view names."""
    return _refresh(s)["views"]


def refresh_catalog_after(publications: list[str], s: Settings | None = None) -> dict:
    """:func:`refresh_catalog` for a run of the catalog DAG that covers ``publications`` (:func:`publications_of`);
    returns what it did, with a ``note`` for the run that says which publications and states it covered."""
    done = _refresh(s)
    shown = ", ".join(publications[:40]) + (f" … and {len(publications) - 40} more" if len(publications) > 40 else "")
    moved = (f"warehouse state {done['state_before']} → {done['state_after']}" if done["state_before"] is not None
             else f"warehouse state {done['state_after']} (catalog built anew)")
    done["publications"] = publications
    done["note"] = (f"**catalog**: {moved}; covers {len(publications)} publication(s)"
                    + (f": {shown}" if publications else " (started by hand, or by events without partitions)")
                    + f"\n\nviews rebuilt: {', '.join(done['rebuilt']) or 'none (no table changed)'}; "
                    f"{done['seconds']:.1f}s")
    log.info("%s", done["note"])
    return done


def publications_of(events: list) -> list[str]:
    """The publications a catalog run covers, from its triggering asset events: ``<feed> <partner>/<date>``,
    sorted, each once (an event per table repeats them). A feed's ``publish`` names its partitions in the
    event's ``extra["partitions"]``; a partitioned event's own ``partition_key`` counts too."""
    found = set()
    for event in events:
        feed = getattr(event, "source_dag_id", None) or "?"
        keys = list((getattr(event, "extra", None) or {}).get("partitions") or [])
        if getattr(event, "partition_key", None):
            keys.append(event.partition_key)
        found.update(f"{feed} {key}" for key in keys)
    return sorted(found)


def _refresh(s: Settings | None) -> dict:
    from expectations import data_docs
    from tesoma import quality_report

    s, layout, _ = _context(s)
    started = time.monotonic()
    done = catalog.update(layout, s.ledger_url)
    views_s = time.monotonic() - started
    quality_report.write(s)  # the data docs follow the catalog
    index = data_docs.build(s)
    seconds = time.monotonic() - started
    log.info("catalog %s: views %s (rebuilt: %s; %.1fs); data docs %s (%.1fs in all)", layout.catalog,
             ", ".join(done.views) or "(none yet)", ", ".join(done.rebuilt) or "none", views_s, index, seconds)
    return {"views": done.views, "rebuilt": done.rebuilt, "state_before": done.state_before,
            "state_after": done.state_after, "seconds": round(seconds, 2)}


class PrivacyFindings(RuntimeError):
    """The audit found identifying data outside the restricted zones; the message lists where."""


def audit(s: Settings | None = None, full: bool = False) -> dict:
    """Scan warehouse, staging, docs and logs for identifying data; raises :class:`PrivacyFindings`.

    Reads only the files new or changed since an audit found them clean (``tesoma.audit.scan_incrementally``;
    ``full`` reads them all); files with findings are reported every time until they are fixed."""
    from tesoma import audit as privacy_audit

    s = s or settings()
    started = time.monotonic()
    result = privacy_audit.scan_incrementally(s, full=full)
    seconds = round(time.monotonic() - started, 2)
    if result.findings:
        shown = "\n".join(str(f) for f in result.findings[:50])
        raise PrivacyFindings(f"{len(result.findings)} finding(s) in {result.scanned} files scanned:\n{shown}")
    log.info("privacy audit: %s (%.2fs)", result, seconds)
    return {"files_scanned": result.scanned, "files_unchanged": result.unchanged, "findings": 0, "seconds": seconds}


def purge(now: dt.datetime | None = None, s: Settings | None = None) -> dict:
    """Retention: delete identifiable copies that are past their time.

    ``raw/`` archives older than ``raw_retention_days`` and quarantine folders older than
    ``quarantine_retention_days`` (both counted from landing) are deleted, for deliveries that are
    finished (published, superseded or rejected). The ledger keeps the delivery's accounting and
    records ``purged_at``; the pseudonymised warehouse is untouched.
    """
    from tesoma.audit import names_file

    s, layout, ledger = _context(s)
    now = now or dt.datetime.now(dt.UTC)
    raw_cutoff = now - dt.timedelta(days=s.raw_retention_days)
    quarantine_cutoff = now - dt.timedelta(days=s.quarantine_retention_days)
    purged = {"raw_files": 0, "quarantine_folders": 0}
    for d in ledger.all():
        if d.state not in ("published", "superseded", "rejected") or d.landed_at is None:
            continue
        landed = d.landed_at if d.landed_at.tzinfo else d.landed_at.replace(tzinfo=dt.UTC)
        qdir = layout.quarantine_dir(d.partner, d.delivery_id)
        if landed < quarantine_cutoff and qdir.exists():
            shutil.rmtree(qdir)
            purged["quarantine_folders"] += 1
        raw = layout.root / d.raw_path
        if landed < raw_cutoff:
            names_file(layout, d.delivery_id).unlink(missing_ok=True)  # the audit's copy of its names goes too
            if raw.is_dir():  # a folder delivery (FHIR bulk export)
                shutil.rmtree(raw)
                purged["raw_files"] += 1
            elif raw.exists():
                raw.unlink()
                purged["raw_files"] += 1
            if d.purged_at is None:
                ledger.update(d.delivery_id, purged_at=now)
    log.info("retention purge: %d raw file(s), %d quarantine folder(s) deleted", purged["raw_files"],
             purged["quarantine_folders"])
    return purged



def expire_history(now: dt.datetime | None = None, s: Settings | None = None) -> dict:
    """Expire the warehouse's history past ``TESOMA_SNAPSHOT_RETENTION_DAYS`` (default 400).

    Snapshots that no kept warehouse state needs (the current state, tagged states, states younger than
    the retention) are expired and the files no remaining snapshot references are deleted
    (:func:`warehouse.history.expire`); the states that can no longer be read are marked expired.
    """
    from warehouse import history
    from warehouse.iceberg import Place

    s = s or settings()
    keep_days = history.retention_days()
    result = history.expire(Place.for_root(s.data_root, s.ledger_url), keep_days, echo=log.info, now=now)
    log.info("history expiry (%d days kept): %d snapshot(s), %d state(s) expired; %d file(s) deleted (%.1f MB)",
             keep_days, result["snapshots_expired"], result["states_expired"], result["files_deleted"],
             result["bytes_deleted"] / 1e6)
    return result
