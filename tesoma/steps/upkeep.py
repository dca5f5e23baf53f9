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
    """Rebuild the analysts' DuckDB views, the quality page and the GX Data Docs; returns the view names."""
    from expectations import data_docs
    from tesoma import quality_report

    s, layout, _ = _context(s)
    views = catalog.refresh(layout, s.ledger_url)
    quality_report.write(s)  # the data docs follow the catalog
    started = time.monotonic()
    index = data_docs.build(s)
    log.info("catalog %s: views %s; data docs %s (%.1fs)", layout.catalog, ", ".join(views) or "(none yet)",
             index, time.monotonic() - started)
    return views


class PrivacyFindings(RuntimeError):
    """The audit found identifying data outside the restricted zones; the message lists where."""


def audit(s: Settings | None = None) -> dict:
    """Scan warehouse, staging, docs and logs for identifying data; raises :class:`PrivacyFindings`."""
    from tesoma import audit as privacy_audit

    s = s or settings()
    started = time.monotonic()
    findings, scanned = privacy_audit.run(s)
    seconds = round(time.monotonic() - started, 2)
    if findings:
        shown = "\n".join(str(f) for f in findings[:50])
        raise PrivacyFindings(f"{len(findings)} finding(s) in {scanned} files:\n{shown}")
    log.info("privacy audit: %d files scanned, no findings (%.2fs)", scanned, seconds)
    return {"files_scanned": scanned, "findings": 0, "seconds": seconds}


def purge(now: dt.datetime | None = None, s: Settings | None = None) -> dict:
    """Retention: delete identifiable copies that are past their time.

    ``raw/`` archives older than ``raw_retention_days`` and quarantine folders older than
    ``quarantine_retention_days`` (both counted from landing) are deleted, for deliveries that are
    finished (published, superseded or rejected). The ledger keeps the delivery's accounting and
    records ``purged_at``; the pseudonymised warehouse is untouched.
    """
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
