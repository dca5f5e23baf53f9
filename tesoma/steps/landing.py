"""Landing: find a feed's deliveries (files in landing/, or a pull from the partner's database), archive
them under ``raw/`` by SHA-256 and record each one in the ledger."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from connectors.base import DeliveryRejected, LandedFile, shown_name
from tesoma import landing_report, quarantine
from tesoma.config import Settings, settings
from tesoma.feeds import connector_for, pipeline
from tesoma.keys import load_key
from tesoma.steps.context import context as _context
from warehouse.layout import Layout
from warehouse.ledger import Delivery, Ledger

log = logging.getLogger(__name__)


def _members(folder: Path) -> list[tuple[Path, str]]:
    """Everything inside a folder delivery as (path relative to it, kind), in name order, never following
    a link: kind is ``file``, ``folder``, ``link`` or ``other`` (a pipe, socket or device)."""
    out = []
    pending = [Path()]
    while pending:
        inside = pending.pop()
        with os.scandir(folder / inside) as entries:
            for entry in entries:
                member = inside / entry.name
                if entry.is_symlink():
                    kind = "link"
                elif entry.is_dir(follow_symlinks=False):
                    kind = "folder"
                    pending.append(member)
                elif entry.is_file(follow_symlinks=False):
                    kind = "file"
                else:
                    kind = "other"
                out.append((member, kind))
    return sorted(out)


def _sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder delivery (over its files' names, as bytes, and contents, in name
    order; any name hashes, UTF-8 or not). A link or pipe in a folder is hashed by its name, never followed."""
    h = hashlib.sha256()
    if not path.is_dir():
        _hash_file(h, path)
        return h.hexdigest()
    for member, kind in _members(path):
        if kind == "file":
            h.update(os.fsencode(member) + b"\0")
            _hash_file(h, path / member)
        elif kind != "folder":
            h.update(os.fsencode(member) + b"\0" + kind.encode() + b"\0")
    return h.hexdigest()


def _hash_file(h: hashlib._Hash, file: Path) -> None:
    with file.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)


def _folder_problem(folder: Path) -> DeliveryRejected | None:
    """Why a folder delivery cannot be landed safely, in words for the partner; None when it can."""
    problems: list[tuple[str, str]] = []
    for member, kind in _members(folder):
        shown = shown_name(str(member))
        if kind == "link":
            problems.append(("link_in_folder", f"links are not allowed in an export folder: remove {shown}"))
        elif kind == "other":
            problems.append(("not_a_file_in_folder", f"only files belong in an export folder: remove {shown}"))
        elif not _clean_name(str(member)):
            problems.append(("bad_name_in_folder", f"file names in an export folder must be UTF-8, without control "
                                                   f"or invisible characters: rename {shown}"))
    if not problems:
        return None
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return DeliveryRejected(problems[0][0], "; ".join(message for _, message in problems[:3]) + more)


def _clean_name(name: str) -> bool:
    try:
        name.encode("utf-8")  # a byte that is not UTF-8 is a lone surrogate here (os.fsdecode)
    except UnicodeEncodeError:
        return False
    return name.isprintable()


def _copy_regular_file(source: str, target: str) -> str:
    """``copytree``'s copy function: refuses anything but a regular file (a pipe would block the copy)."""
    if not stat.S_ISREG(os.lstat(source).st_mode):
        raise DeliveryRejected("not_a_file_in_folder", "only files belong in an export folder: remove "
                               + shown_name(Path(source).name))
    return shutil.copy2(source, target)


def _archive_folder(source: Path, layout: Layout, partner: str, feed: str) -> tuple[str, Path, int]:
    """Check a folder delivery, hash it and copy it into raw/ (atomically: copy beside, then rename);
    returns (SHA-256, archived path, size in bytes). Raises :class:`DeliveryRejected` for a folder that
    holds a link, a pipe or a badly named file, also when one appears while it is copied."""
    if (problem := _folder_problem(source)) is not None:
        raise problem
    sha = _sha256(source)
    raw = layout.raw_file(partner, feed, sha, "")
    if not raw.exists():
        raw.parent.mkdir(parents=True, exist_ok=True)
        tmp = raw.with_name(raw.name + ".tmp")
        try:
            if tmp.is_dir():
                shutil.rmtree(tmp)
            # symlinks=True copies a link that appeared since the check as a link (never what it points to).
            shutil.copytree(source, tmp, symlinks=True, copy_function=_copy_regular_file)
            if (problem := _folder_problem(tmp)) is not None:
                raise problem
            tmp.replace(raw)
        finally:
            if tmp.is_dir():
                shutil.rmtree(tmp)
    return sha, raw, sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())


def _archive_file(source: Path, layout: Layout, partner: str, feed: str) -> tuple[str, Path, int]:
    """Hash a delivered file and copy it into raw/ at once (both release the GIL: 0.2 s and 0.1 s for
    350 MiB, side by side); returns (SHA-256, archived path, size). The copy takes its hashed name when
    both are done. If the file changed meanwhile (an upload still running), the name is the hash of the
    copy, so an archive's name always matches its bytes; the finished upload lands later as a new delivery."""
    folder = layout.raw_dir(partner, feed)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{source.name}.{os.getpid()}.landing"
    try:
        before = source.stat()
        with ThreadPoolExecutor(1, thread_name_prefix="archive") as pool:
            copied = pool.submit(shutil.copyfile, source, tmp)
            sha = _sha256(source)
            copied.result()
        after = source.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) \
                or tmp.stat().st_size != after.st_size:
            sha = _sha256(tmp)
        raw = layout.raw_file(partner, feed, sha, source.suffix)
        if raw.exists():
            tmp.unlink()
        else:
            tmp.replace(raw)
    finally:
        tmp.unlink(missing_ok=True)
    return sha, raw, raw.stat().st_size


def require_key(feed: str, s: Settings) -> None:
    """Refuse to start when a feed that identifies people has no usable pseudonym key: raises
    :class:`transforms.pseudonymise.KeyProblem` before anything is landed, archived or recorded."""
    feed_pipeline = pipeline(feed)
    if any(feed_pipeline.identity_spec(partner) is not None for partner in feed_pipeline.contract.partners):
        load_key(s)


def land(feed: str, delivery_date: dt.date, s: Settings | None = None) -> list[str]:
    """Archive the feed's landed deliveries for ``delivery_date`` into ``raw/`` and record each one.

    Idempotent: a delivery already landed (same content) is not recorded again. Returns the ids of the
    deliveries to ingest, per partner oldest sequence first.

    Nothing a partner puts in landing stops the feed's other files or dates:

    - what is in the feed's landing folders but is not a delivery (whatever its date: an impossible date,
      a name that breaks the agreement…) is reported on every land until it is removed: in the ledger
      (``landing_findings``), as a WARNING ``not a delivery: <name>: <reason>``, and in the partner's
      landing report ``quarantine/<partner>/_landing/<feed>.md`` (:mod:`tesoma.landing_report`);
    - a delivery that cannot be landed safely (a link in an export folder, a file that vanished, an
      unexpected error) is recorded ``rejected`` with a reason for the partner and a quarantine report,
      without an archive (its ``raw_path`` names where the archive would be; nothing is there), and is not
      returned: there is nothing to ingest.
    """
    s = s or settings()
    require_key(feed, s)  # first: not even the ledger is opened (or created) without a usable key
    s, layout, ledger = _context(s)
    connector = connector_for(feed)
    survey = connector.survey(layout.landing, delivery_date)
    landing_report.record(feed, connector.contract.partners, survey.not_deliveries, layout, ledger)
    ids = []
    for landed in survey.deliveries:
        delivery, created = _land_one(feed, landed, layout, ledger)
        log.info("%s %s/%s: %s (%s)", "landed" if created else "already landed", landed.partner, landed.path.name,
                 delivery.delivery_id, delivery.state)
        if delivery.state == "rejected" and not (layout.root / delivery.raw_path).exists():
            continue  # rejected while landing (or purged since): nothing to ingest
        ids.append(delivery.delivery_id)
    if not survey.deliveries:
        log.warning("%s: no delivery found for %s under %s/<partner>/%s", feed, delivery_date, layout.landing,
                    connector.landing_folder)
    return ids


def _land_one(feed: str, landed: LandedFile, layout: Layout, ledger: Ledger) -> tuple[Delivery, bool]:
    """Archive and record one delivery. The one boundary where whatever goes wrong with it becomes a
    delivery recorded ``rejected`` with a reason, so that the next one is landed all the same."""
    try:
        if landed.path.is_dir():
            sha, raw, size = _archive_folder(landed.path, layout, landed.partner, feed)
        else:
            sha, raw, size = _archive_file(landed.path, layout, landed.partner, feed)
        return ledger.record_landed(
            partner=landed.partner, feed=feed, delivery_date=landed.delivery_date, sequence=landed.sequence,
            source_name=landed.path.name, sha256=sha, raw_path=str(raw.relative_to(layout.root)),
            size_bytes=size, arrived_at=landed.arrived_at,
        )
    except DeliveryRejected as exc:
        rule, message = exc.rule, str(exc)
    except FileNotFoundError:
        rule, message = "vanished", "the delivery disappeared while it was being landed: deliver it again"
    except PermissionError:
        rule, message = "unreadable", "the delivery cannot be read (permission denied): make it readable"
    except Exception as exc:  # the boundary: one delivery's failure must not stop the others
        log.exception("%s %s/%s: landing failed", feed, landed.partner, landed.path.name)
        rule, message = "internal_error", type(exc).__name__  # the class only: a message may quote the data
    return _record_not_landed(feed, landed, layout, ledger, rule, message)


def _record_not_landed(feed: str, landed: LandedFile, layout: Layout, ledger: Ledger, rule: str,
                       message: str) -> tuple[Delivery, bool]:
    """Record a delivery that could not be landed as ``rejected``, with its quarantine report.

    Its ``sha256`` is not of its content (which could not be read safely) but of where and when it arrived
    and why it failed: the same failure seen again is the same delivery, and the content, once it can be
    landed, is a new delivery that never collides with this one.
    """
    identity = b"\0".join([b"not landed", landed.partner.encode(), feed.encode(), os.fsencode(landed.path.name),
                           landed.arrived_at.isoformat().encode(), rule.encode()])
    sha = hashlib.sha256(identity).hexdigest()
    raw = layout.raw_file(landed.partner, feed, sha, "")
    reason = f"{rule}: {message}"
    if rule == "internal_error":
        message = (f"An error on our side ({message}) stopped this delivery from being landed; the file itself "
                   "may be fine. The alliance's data team has been alerted and will contact you if needed.")
    delivery, created = ledger.record_landed(
        partner=landed.partner, feed=feed, delivery_date=landed.delivery_date, sequence=landed.sequence,
        source_name=landed.path.name, sha256=sha, raw_path=str(raw.relative_to(layout.root)), size_bytes=0,
        arrived_at=landed.arrived_at, state="rejected", reason=reason,
    )
    if created:
        quarantine.write_rejection(layout.quarantine_dir(landed.partner, delivery.delivery_id),
                                   delivery_id=delivery.delivery_id, source_name=landed.path.name, rule=rule,
                                   message=message)
        log.warning("%s %s/%s: not landed, recorded as rejected: %s", feed, landed.partner, landed.path.name,
                    reason)
    return delivery, created


REPORTING_SOURCE = "city_reporting"


def pull(feed: str, delivery_date: dt.date, s: Settings | None = None, source_url: str | None = None) -> list[str]:
    """Pull a feed's rows for ``delivery_date`` from the partner's database, as a delivery.

    Reads rows updated after the ledger's watermark up to the end of the date (Helsinki time), writes
    them as one Parquet file, archives and records it like a dropped file, then moves the watermark.
    A crash in between is harmless: the same window gives the same file, hence the same delivery.
    Re-running a date whose window is already behind the watermark returns the deliveries it made.
    """
    from connectors import city_reporting_db

    if feed != "city_visits":
        raise KeyError(f"{feed} is not pulled from a database; only city_visits is")
    s = s or settings()
    require_key(feed, s)  # first: not even the ledger is opened (or created) without a usable key
    s, layout, ledger = _context(s)
    url = source_url or s.city_reporting_url
    until = dt.datetime.combine(delivery_date + dt.timedelta(days=1), dt.time(0))
    since = ledger.watermark(feed, REPORTING_SOURCE)
    if since is not None and since >= until:
        existing = [d.delivery_id for d in ledger.for_date(feed, delivery_date) if d.source_name.startswith("pull:")]
        log.info("%s %s: already pulled up to %s; nothing new", feed, delivery_date, since)
        return existing
    window = {"source": REPORTING_SOURCE, "since": since.isoformat() if since else "", "until": until.isoformat()}
    extract = layout.staging / "pulls" / f"{feed}-{delivery_date:%Y%m%d}.parquet"
    rows = city_reporting_db.write_extract(city_reporting_db.extract(url, since, until), extract, window)
    partner = pipeline(feed).contract.partner
    sha, raw, size = _archive_file(extract, layout, partner, feed)
    extract.unlink()
    sequence = 1 + len(ledger.for_date(feed, delivery_date, partner))
    delivery, created = ledger.record_landed(
        partner=partner, feed=feed, delivery_date=delivery_date, sequence=sequence,
        source_name=f"pull:{REPORTING_SOURCE}:{window['since'] or '-'}..{window['until']}", sha256=sha,
        raw_path=str(raw.relative_to(layout.root)), size_bytes=size, arrived_at=dt.datetime.now(dt.UTC),
    )
    ledger.set_watermark(feed, REPORTING_SOURCE, until)
    log.info("%s %s: pulled %d rows (%s) as %s", feed, delivery_date, rows, "new" if created else "known",
             delivery.delivery_id)
    return [delivery.delivery_id]

