"""`tesoma bench …`: commands that print speed and memory figures (goals are shown here, not in tests)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import random
import secrets
import statistics
import time

import pyarrow as pa
import pyarrow.compute as pc

from tesoma.config import environment


def synthetic_codes(distinct: int, seed: int = 1) -> list[str]:
    """Valid synthetic identity codes of every century sign (5% temporary)."""
    from transforms.pseudonymise.hetu import CENTURY_BY_SIGN, check_character

    signs: dict[int, list[str]] = {}
    for sign, century in CENTURY_BY_SIGN.items():
        signs.setdefault(century, []).append(sign)
    rng = random.Random(seed)
    codes: set[str] = set()
    while len(codes) < distinct:
        born = dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(45_000))
        individual = f"{rng.randrange(900, 1000) if rng.random() < 0.05 else rng.randrange(2, 900):03d}"
        digits = born.strftime("%d%m%y")
        sign = rng.choice(signs[born.year // 100 * 100])
        codes.add(f"{digits}{sign}{individual}{check_character(digits, individual)}")
    return sorted(codes)


def pseudonymise(rows: int = 2_000_000, distinct: int = 20_000, repeats: int = 5, echo=print) -> dict:
    """Pseudonymise ``rows`` rows holding ``distinct`` identity codes (validation included)."""
    from transforms.pseudonymise import IdentitySpec, PseudonymKey
    from transforms.pseudonymise import pseudonymise as run

    rng = random.Random(2)
    codes = pa.array(synthetic_codes(distinct))
    column = pc.take(codes, pa.array([rng.randrange(distinct) for _ in range(rows)], pa.int32()))
    days = pa.array([dt.datetime(2026, 10, 1 + rng.randrange(30), 8) for _ in range(1000)], pa.timestamp("s"))
    events = pc.take(days, pa.array([rng.randrange(1000) for _ in range(rows)], pa.int32()))
    table = pa.table({"henkilotunnus": column, "alkuaika": events, "_errors": pa.nulls(rows, pa.string())})
    key = PseudonymKey(secrets.token_bytes(32))  # made at run time: a key written in the repository is no key
    spec = IdentitySpec("henkilotunnus", (), event_time="alkuaika")
    echo(f"pseudonymise: {rows:,} rows, {distinct:,} distinct identity codes, {repeats} timed runs after 1 warm-up")
    timings = []
    for i in range(repeats + 1):
        started = time.perf_counter()
        out = run(table, spec, key)
        timings.append(time.perf_counter() - started)
        if i == 0:
            echo(f"  warm-up (cold) run: {timings[0]:.3f} s")
    warm = timings[1:]
    median = statistics.median(warm)
    result = {"rows": rows, "distinct": distinct, "cold_s": timings[0], "median_s": median, "best_s": min(warm),
              "rows_per_s": rows / median, "ns_per_row": median / rows * 1e9,
              "valid_rows": out.num_rows - out["person_id"].null_count}
    echo(f"  median {median:.3f} s (best {min(warm):.3f} s) → {result['rows_per_s'] / 1e6:.1f} million rows/s, "
         f"{result['ns_per_row']:.0f} ns per row; goal ≥ 10 million rows/s")
    return result


# --- memory: connectors read big deliveries in bounded memory -----------------------------------------

_READ_AND_MEASURE = """
import resource, sys, time
from pathlib import Path
from tesoma.feeds import connector_for
import connectors
from connectors.base import ReadReport
started = time.perf_counter()
rows = 0
report = ReadReport()
for batch in connector_for(sys.argv[1]).read(Path(sys.argv[2]), report):
    rows += batch.num_rows
print(rows, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _measure(feed: str, path, echo) -> dict:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _READ_AND_MEASURE, feed, str(path)], check=True,
                         capture_output=True, text=True).stdout.split()
    rows, seconds, peak_kib = int(out[0]), float(out[1]), int(out[2])
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    echo(f"  {feed}: {size / 2**20:,.0f} MiB, {rows:,} rows read in {seconds:.1f} s; "
         f"peak RSS {peak_kib / 1024:,.0f} MiB (goal < 1024 MiB)")
    return {"feed": feed, "bytes": size, "rows": rows, "seconds": seconds, "peak_rss_mib": peak_kib / 1024}


def big_city_csv(directory, rows: int = 2_000_000):
    """A city_visits CSV of ``rows`` rows, made by repeating a generated day's rows with new visit ids."""
    from pathlib import Path

    from synthetic import generate

    directory = Path(directory)
    sample_root = directory / "sample"
    generate(sample_root, start=dt.date(2026, 10, 1), days=1, residents=16_000, seed=3, fault_rate=0.0)
    source = next((sample_root / "landing" / "city" / "city_visits").glob("*.csv"))
    raw = source.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    header, *lines = [line for line in raw.decode(encoding).split("\r\n") if line]
    target = directory / "city_visits_20261001.csv"
    with target.open("w", encoding="utf-8", newline="") as f:
        f.write(header + "\r\n")
        for i in range(rows):
            line = lines[i % len(lines)]
            f.write(f"K{i:09d}" + line[10:] + "\r\n")
    return target


def big_fhir_export(directory, target_bytes: int = 1 << 30):
    """A FHIR bulk export of about ``target_bytes``: a generated day's resources repeated with new ids."""
    import json
    from pathlib import Path

    from synthetic import generate

    directory = Path(directory)
    sample_root = directory / "sample"
    generate(sample_root, start=dt.date(2026, 10, 1), days=1, residents=16_000, seed=3, fault_rate=0.0)
    source = next((sample_root / "landing" / "mehilainen" / "mehilainen_fhir").iterdir())
    target = directory / "20261001"
    target.mkdir(parents=True, exist_ok=True)
    patients = (source / "Patient.000.ndjson").read_text(encoding="utf-8")
    encounters = [json.loads(line) for line in (source / "Encounter.000.ndjson").read_text().splitlines() if line]
    conditions = [json.loads(line) for line in (source / "Condition.000.ndjson").read_text().splitlines() if line]
    (target / "Patient.000.ndjson").write_text(patients, encoding="utf-8")
    counts = {"Patient": patients.count("\n"), "Encounter": 0, "Condition": 0}
    written = len(patients.encode())
    copy = 0
    with (target / "Encounter.000.ndjson").open("w", encoding="utf-8") as enc, \
            (target / "Condition.000.ndjson").open("w", encoding="utf-8") as cond:
        while written < target_bytes:
            copy += 1
            for e in encounters:
                line = json.dumps({**e, "id": f"{e['id']}-{copy}"}, separators=(",", ":")) + "\n"
                written += enc.write(line)
                counts["Encounter"] += 1
            for c in conditions:
                reference = c.get("encounter", {}).get("reference", "")
                line = json.dumps({**c, "id": f"{c['id']}-{copy}", "encounter": {"reference": f"{reference}-{copy}"}},
                                  separators=(",", ":")) + "\n"
                written += cond.write(line)
                counts["Condition"] += 1
    manifest = json.loads((source / "manifest.json").read_text())
    for item in manifest.get("output", []):
        item["count"] = counts.get(item.get("type"), item.get("count"))
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return target


def read_memory(directory, csv_rows: int = 2_000_000, ndjson_bytes: int = 1 << 30, echo=print) -> list[dict]:
    """Build a 2,000,000-row city CSV and a ~1 GiB FHIR export under ``directory`` and read each with its
    connector in a fresh process, printing rows, seconds and peak resident memory."""
    from pathlib import Path

    directory = Path(directory)
    echo(f"read memory: building test deliveries under {directory} …")
    csv_path = big_city_csv(directory / "csv", csv_rows)
    fhir_path = big_fhir_export(directory / "fhir", ndjson_bytes)
    return [_measure("city_visits", csv_path, echo), _measure("mehilainen_fhir", fhir_path, echo)]


# --- speed: the whole publish path against a bare DuckDB copy ------------------------------------------


def publish_path(directory, rows: int = 2_000_000, repeats: int = 3, echo=print) -> dict:
    """Time land → ingest (parse, validate, pseudonymise, harmonise) → publish of a ``rows``-row city CSV,
    and a bare DuckDB CSV→Parquet copy of the same file, in ``repeats`` timed rounds after one warm-up
    round; print every round, the medians and their ratio.

    Each round starts from an empty data root (ledger, raw, warehouse) holding the same file. The warm-up
    round is shown but not counted: the first run in a process, or after the machine freed memory, pays
    for fresh memory and cold imports (see docs/benchmarks.md).
    """
    import logging
    import os
    from pathlib import Path

    directory = Path(directory)
    echo(f"publish path: building a {rows:,}-row city_visits CSV …")
    csv_path = big_city_csv(directory / "build", rows)
    from expectations import gx_runtime  # noqa: F401  (GX import, ~6 s, is start-up cost, not per delivery)

    echo(f"  {repeats} timed rounds after 1 warm-up; each: a bare DuckDB copy, then the pipeline")
    logger = logging.getLogger("tesoma")
    level = logger.level
    logger.setLevel(logging.WARNING)  # (one line per step would interleave with the figures)
    # The rounds' throw-away warehouses get a key made now, whatever key this shell holds.
    saved_key = os.environ.get("TESOMA_PSEUDONYM_KEY")
    os.environ["TESOMA_PSEUDONYM_KEY"] = secrets.token_urlsafe(48)
    try:
        rounds = [_publish_round(directory / f"round-{n}" / "data", csv_path, n, echo) for n in range(repeats + 1)]
    finally:
        logger.setLevel(level)
        if saved_key is None:
            os.environ.pop("TESOMA_PSEUDONYM_KEY", None)
        else:
            os.environ["TESOMA_PSEUDONYM_KEY"] = saved_key
    timed = rounds[1:]
    bare = statistics.median(r["bare_s"] for r in timed)
    ours = statistics.median(r["pipeline_s"] for r in timed)
    echo(f"  medians: bare copy {bare:.2f} s, pipeline {ours:.2f} s")
    echo(f"  ratio pipeline / bare copy: {ours / bare:.1f}× (goal ≤ 3×)")
    return {"rows": rows, "bare_s": bare, "pipeline_s": ours, "ratio": ours / bare, "rounds": rounds}


def _publish_round(root, csv_path, n: int, echo) -> dict:
    """One round: the bare copy, then land → ingest → publish into an empty data root ``root``."""
    import os

    import duckdb

    from tesoma import steps
    from tesoma.config import settings

    landing = root / "landing" / "city" / "city_visits"
    landing.mkdir(parents=True)
    target = landing / csv_path.name
    os.link(csv_path, target)  # the same file in every round, without copying it

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("copy (select * from read_csv(?, delim=';', header=true, all_varchar=true)) to ? "
                "(format parquet)", [str(target), str(root.parent / "bare.parquet")])
    con.close()
    bare = time.perf_counter() - started

    os.environ["TESOMA_DATA_ROOT"] = str(root)
    s = settings()
    started = time.perf_counter()
    (delivery_id,) = steps.land("city_visits", dt.date(2026, 10, 1), s)
    landed = time.perf_counter()
    result = steps.ingest(delivery_id, s)
    ingested = time.perf_counter()
    steps.publish(delivery_id, s)
    ours = time.perf_counter() - started
    r = {"bare_s": bare, "pipeline_s": ours, "land_s": landed - started, "ingest_s": ingested - landed,
         "publish_s": ours - (ingested - started), "rows_read": result["rows_read"],
         "rows_published": result.get("rows_valid", 0), "stage_seconds": result.get("stage_seconds", {})}
    stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stage_seconds"].items())
    echo(f"  {'warm-up' if n == 0 else f'round {n}'}: bare copy {bare:.2f} s; pipeline {ours:.2f} s "
         f"(land {r['land_s']:.2f}, ingest {r['ingest_s']:.2f}, publish {r['publish_s']:.2f}; "
         f"{r['rows_read']:,} rows read, {r['rows_published']:,} published) → {ours / bare:.1f}×")
    echo(f"    ingest stages (s): {stages}")
    return r


# --- Iceberg: the cost of a commit as a table's snapshots grow -----------------------------------------

COMMIT_CHECKPOINTS = (100, 500, 1000, 2000, 5000)
BENCH_PARTNERS = ("city", "mehilainen", "ngo_mll")
"""The partners whose daily feeds write service_event: three deliveries, three new partitions a day."""
CORRECTION_EVERY = 10
"""Every 10th delivery is a correction, replacing a partition of the last ten days."""
DEFAULT_POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def snapshots_per_days(days: int) -> int:
    """How many snapshots of service_event ``days`` days of deliveries make, corrections included."""
    return round(days * len(BENCH_PARTNERS) * CORRECTION_EVERY / (CORRECTION_EVERY - 1))


def commits(directory, snapshots: int = 5000, catalog: str = "sqlite", window: int = 50, keep_days: int = 400,
            echo=print) -> dict:
    """Grow one Iceberg table (``tesoma.service_event``) to ``snapshots`` snapshots, one commit per delivery
    through ``warehouse.commits.replace_partition`` with a two-row staged file, and print at each checkpoint
    the median and p95 commit time of the last ``window`` commits, the size of metadata.json and the
    current snapshot's manifest count. Then expire all but the newest ``keep_days`` days' worth of snapshots
    (the retention of ``tesoma warehouse expire``) and time ``window`` more commits.

    ``catalog``: ``sqlite`` (the embedded default, under ``directory``) or ``postgres``: a fresh database
    on the server of TESOMA_BENCH_POSTGRES_URL (default the local one), dropped afterwards.

    One catalog object serves the whole run (a publish opens its own, once per delivery, at a cost that does
    not grow with the snapshots); ``replace_partition`` loads the table afresh at every commit, as a
    publish does, so the times include reading and parsing metadata.json. Only ``replace_partition`` is
    timed, not the writing of the staged file.
    """
    from pathlib import Path

    from warehouse.iceberg import open_catalog

    directory = Path(directory)
    checkpoints = sorted({c for c in COMMIT_CHECKPOINTS if c < snapshots} | {snapshots})
    keep = snapshots_per_days(keep_days)
    with _bench_place(catalog, directory / "data") as (place, where):
        echo(f"commits: tesoma.service_event grown to {snapshots:,} snapshots in a {catalog} catalog ({where}); "
             f"one commit per delivery (warehouse.commits.replace_partition, the table loaded each time, one "
             f"catalog object reused); {len(BENCH_PARTNERS)} new partitions a day, every {CORRECTION_EVERY}th "
             f"delivery a correction of an earlier one; figures over the last {window} commits")
        cat = open_catalog(place)
        try:
            grower = _Grower(cat, directory / "staging")
            started = shown = time.perf_counter()
            rows = []
            for checkpoint in checkpoints:
                while grower.count < checkpoint:
                    grower.commit()
                    # A progress line every 250 commits or every minute, whichever comes first.
                    if grower.count != checkpoint and (grower.count % 250 == 0 or time.perf_counter() - shown > 60):
                        shown = time.perf_counter()
                        echo(f"  … {grower.count:,} commits, {shown - started:.0f} s, "
                             f"last commit {grower.times[-1] * 1000:.0f} ms")
                row = {"snapshots": checkpoint, **_window_figures(grower.times[-window:]), **grower.table_figures()}
                rows.append(row)
                echo(f"  {checkpoint:>5,} snapshots: commit median {row['median_ms']:.0f} ms, p95 "
                     f"{row['p95_ms']:.0f} ms; metadata.json {row['metadata_bytes'] / 1024:,.0f} KiB, "
                     f"{row['manifests']} manifests ({time.perf_counter() - started:.0f} s so far)")
            seconds = time.perf_counter() - started
            echo(f"  {snapshots:,} commits in {seconds:.0f} s")
            expiry = _expire_and_commit(grower, keep, keep_days, window, echo)
        finally:
            cat.engine.dispose()  # before a postgres database is dropped
    return {"catalog": catalog, "snapshots": snapshots, "seconds": seconds, "checkpoints": rows, "expiry": expiry}


class _Grower:
    """Publishes bench deliveries to service_event, one commit each, timing ``replace_partition``."""

    def __init__(self, catalog, staging):
        self.catalog = catalog
        self.staging = staging
        self.staging.mkdir(parents=True, exist_ok=True)
        self.times: list[float] = []
        self.base: int | None = None  # the snapshot a warehouse state would record
        self.partitions: list[tuple[str, dt.date]] = []
        self.rng = random.Random(7)

    @property
    def count(self) -> int:
        return len(self.times)

    def next_partition(self) -> tuple[str, dt.date, int]:
        """(partner, delivery date, sequence): a new partition, or every 10th time a recent one again."""
        if self.count % CORRECTION_EVERY == CORRECTION_EVERY - 1 and self.partitions:
            recent = self.partitions[-10 * len(BENCH_PARTNERS):]
            partner, day = recent[self.rng.randrange(len(recent))]
            return partner, day, 2
        n = len(self.partitions)
        partition = (BENCH_PARTNERS[n % len(BENCH_PARTNERS)], dt.date(2020, 1, 1) + dt.timedelta(days=n // 3))
        self.partitions.append(partition)
        return *partition, 1

    def commit(self) -> None:
        from warehouse.commits import PartitionChange, replace_partition

        partner, day, sequence = self.next_partition()
        delivery_id = f"bench-{partner}-{day:%Y%m%d}-{sequence}-{self.count:06d}"
        staged = self.staging / f"{delivery_id}.parquet"
        tiny_service_events(partner, day, delivery_id, staged)
        change = PartitionChange("service_event", partner, day, staged, delivery_id, "0" * 64)
        started = time.perf_counter()
        snapshot = replace_partition(self.catalog, change, self.base)
        self.times.append(time.perf_counter() - started)
        staged.unlink()
        if snapshot == self.base:
            raise RuntimeError(f"{delivery_id} made no new snapshot of tesoma.service_event")
        self.base = snapshot

    def table_figures(self) -> dict:
        from warehouse.commits import local_path
        from warehouse.iceberg import load_table

        tbl = load_table(self.catalog, "service_event")
        return {"metadata_bytes": local_path(tbl.metadata_location).stat().st_size,
                "manifests": len(tbl.current_snapshot().manifests(tbl.io)),
                "table_snapshots": len(tbl.metadata.snapshots)}


def tiny_service_events(partner: str, day: dt.date, delivery_id: str, path) -> None:
    """Write a staged service_event file of two rows at ``path`` (a Path); the rows do not change a commit's cost."""
    from warehouse.iceberg import warehouse_schema
    from warehouse.publish import write_parquet

    schema = warehouse_schema("service_event")
    given = {"event_id": [f"{delivery_id}-a", f"{delivery_id}-b"], "person_id": ["P1", "P2"],
             "person_id_kind": ["hetu", "hetu"], "partner": [partner] * 2, "feed": ["bench"] * 2,
             "event_date": [day] * 2, "status": ["completed"] * 2, "delivery_id": [delivery_id] * 2,
             "delivery_date": [day] * 2}
    columns = [pa.array(given[f.name], f.type) if f.name in given else pa.nulls(2, f.type) for f in schema]
    write_parquet(pa.Table.from_arrays(columns, schema=schema), path)


def _window_figures(times: list[float]) -> dict:
    """Median and p95 (nearest rank) of commit times, in ms."""
    ordered = sorted(times)
    p95 = ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]
    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000}


def _expire_and_commit(grower: _Grower, keep: int, keep_days: int, window: int, echo) -> dict | None:
    """Expire all but the newest ``keep`` snapshots, then time ``window`` more commits."""
    from warehouse.iceberg import load_table

    if grower.count <= keep:
        echo(f"  expiry: {grower.count:,} snapshots are within {keep_days} days' worth ({keep:,}): nothing to "
             "expire")
        return None
    tbl = load_table(grower.catalog, "service_event")
    newest = sorted(tbl.metadata.snapshots, key=lambda s: s.sequence_number)[-keep]
    started = time.perf_counter()
    # Snapshots older than the oldest one kept; `older_than` is one pass, where `by_ids` would read the
    # (deep-copied) metadata once per snapshot id.
    tbl.maintenance.expire_snapshots().older_than(
        dt.datetime.fromtimestamp(newest.timestamp_ms / 1000, dt.UTC)).commit()
    expire_s = time.perf_counter() - started
    figures = grower.table_figures()
    echo(f"  expiry to the newest {keep:,} snapshots ({keep_days} days' worth) in {expire_s:.2f} s: "
         f"{figures['table_snapshots']:,} snapshots left, metadata.json {figures['metadata_bytes'] / 1024:,.0f} KiB")
    before = grower.count
    while grower.count < before + window:
        grower.commit()
    after = {**_window_figures(grower.times[before:]), **grower.table_figures()}
    echo(f"  {window} commits after the expiry: median {after['median_ms']:.0f} ms, p95 {after['p95_ms']:.0f} ms; "
         f"metadata.json {after['metadata_bytes'] / 1024:,.0f} KiB, {after['manifests']} manifests")
    return {"keep": keep, "expire_s": expire_s, "snapshots_left": figures["table_snapshots"], **after}


@contextlib.contextmanager
def _bench_place(kind: str, root):
    """The catalog's Place for a bench run and a line saying where it is: SQLite under ``root``, or a fresh
    PostgreSQL database, dropped on exit. Never the TESOMA_ICEBERG_* catalog of this shell."""
    import os

    import sqlalchemy as sa

    from warehouse.iceberg import Place, WarehouseError

    files = root / "warehouse" / "iceberg"
    files.mkdir(parents=True, exist_ok=True)
    ledger = f"sqlite:///{root / 'ledger.sqlite'}"
    if kind == "sqlite":
        yield Place(f"sqlite:///{files / 'catalog.sqlite'}", files.as_uri(), ledger), "SQLite, in the temp folder"
        return
    server = sa.engine.make_url(os.environ.get("TESOMA_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_SERVER)
    name = f"tesoma_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(server.set(database=server.database or "postgres"), isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'create database "{name}"'))
        except sa.exc.OperationalError as exc:
            raise WarehouseError(f"cannot create a bench database on {server.render_as_string()} "
                                 f"({str(exc).splitlines()[0]}): start PostgreSQL, or set TESOMA_BENCH_POSTGRES_URL "
                                 "to a server where the user may create databases") from exc
        try:
            catalog_url = server.set(database=name)
            yield (Place(catalog_url.render_as_string(hide_password=False), files.as_uri(), ledger),
                   f"PostgreSQL, database {catalog_url.render_as_string()}, dropped afterwards")
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    finally:
        admin.dispose()


# --- the analysts' questions on the Iceberg views, against the old hive-partitioned views ---------------

def analyst_questions(path=None) -> list[tuple[str, str]]:
    """(title, SQL) of each worked question in docs/analysts.md, "Questions and their answers"."""
    import re
    from pathlib import Path

    from tesoma.config import PROJECT_DIR

    text = Path(path or PROJECT_DIR / "docs" / "analysts.md").read_text(encoding="utf-8")
    section = text.split("## Questions and their answers", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"\*\*(\d+\. .*?)\*\*.*?```sql\n(.*?)```", section, re.S)


def queries(repeats: int = 3, echo=print) -> dict:
    """Time each worked question of docs/analysts.md on ``warehouse.connect()`` (the views over the current
    warehouse state's files) against the same views built the old way (``read_parquet`` with
    ``hive_partitioning`` over the very same files), and the view refresh, on the warehouse at
    $TESOMA_DATA_ROOT (default ./data). Every figure is the median of ``repeats`` timed runs after one
    untimed run; the new and the old view take turns, so a busy machine slows both alike."""
    import tempfile

    import duckdb

    import warehouse
    from tesoma import steps
    from tesoma.config import settings
    from warehouse import catalog, readers, states
    from warehouse.iceberg import Place, WarehouseError
    from warehouse.layout import Layout
    from warehouse.ledger import Ledger

    s = settings()
    layout = Layout(s.data_root)
    head = states.head(Ledger(s.ledger_url).engine) if s.data_root.is_dir() else states.EMPTY
    if not head.snapshots:
        raise WarehouseError(f"no published warehouse at {s.data_root}: run `make demo` first, or set "
                             "TESOMA_DATA_ROOT to a data root with published deliveries")
    echo(f"queries: the warehouse at {s.data_root} (state {head.state_id}); medians of {repeats} timed runs "
         "after one untimed run")

    views_s, full_s = _median_times([lambda: catalog.refresh(layout, s.ledger_url), lambda: steps.refresh_catalog(s)],
                                    repeats)
    echo(f"  view refresh (warehouse.catalog.refresh): {views_s * 1000:.0f} ms; steps.refresh_catalog (views, "
         f"quality page, data docs): {full_s:.2f} s")

    files = readers.files_for(Place.for_root(s.data_root, s.ledger_url), head)
    echo(f"  old-style views: read_parquet(hive_partitioning) over the same {sum(map(len, files.values())):,} "
         f"files of {len(files)} tables")
    results = []
    with tempfile.TemporaryDirectory(prefix="tesoma-bench-") as tmp, warehouse.connect(s.data_root) as new, \
            duckdb.connect(f"{tmp}/old.duckdb") as old:
        _old_style_views(old, files, head)
        for title, sql in analyst_questions():
            result = _time_question(title, sql, new, old, repeats)
            results.append(result)
            if "skipped" in result:
                echo(f"  {_short(title)}: skipped ({result['skipped']})")
                continue
            echo(f"  {_short(title)}: {result['new_ms']:.1f} ms vs old {result['old_ms']:.1f} ms → "
                 f"{result['ratio']:.2f}×{'' if result['same_answer'] else ' (THE ANSWERS DIFFER)'}")
    ratios = [r["ratio"] for r in results if "ratio" in r]
    if ratios:
        echo(f"  ratio new/old: median {statistics.median(ratios):.2f}×, worst {max(ratios):.2f}× (target ≤ 1.2×)")
    return {"state_id": head.state_id, "view_refresh_s": views_s, "refresh_catalog_s": full_s,
            "questions": results}


def _median_times(runs: list, repeats: int) -> list[float]:
    """The median seconds of each of ``runs`` (callables) over ``repeats`` rounds after an untimed one; the
    runs take turns within a round, so a machine getting busier slows them alike."""
    for run in runs:
        run()
    timings: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, spent in zip(runs, timings, strict=True):
            started = time.perf_counter()
            run()
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) for spent in timings]


def _old_style_views(con, files, state) -> None:
    """The analysts' views as they were before Iceberg: every table ``read_parquet`` with
    ``hive_partitioning`` (partner and delivery_date from the folder names), over ``files``."""
    from warehouse import catalog

    catalog.build_views(con, files, state)  # the derived views; the base views are then replaced
    for table, paths in files.items():
        listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
        # Our own data files' paths; DuckDB cannot bind parameters in DDL.
        con.execute(f"create or replace view {table} as select * from read_parquet([{listed}], "  # noqa: S608
                    "hive_partitioning = true, hive_types = {'partner': varchar, 'delivery_date': date})")


def _time_question(title: str, sql: str, new, old, repeats: int) -> dict:
    import duckdb

    try:
        answers = [new.execute(sql).fetchall(), old.execute(sql).fetchall()]
    except duckdb.CatalogException as exc:  # a table this warehouse has no data for
        return {"question": title, "skipped": str(exc).splitlines()[0]}
    new_s, old_s = _median_times([lambda: new.execute(sql).fetchall(), lambda: old.execute(sql).fetchall()], repeats)
    return {"question": title, "new_ms": new_s * 1000, "old_ms": old_s * 1000, "ratio": new_s / old_s,
            "rows": len(answers[0]), "same_answer": sorted(answers[0], key=repr) == sorted(answers[1], key=repr)}


def _short(title: str, width: int = 60) -> str:
    return title if len(title) <= width else title[:width - 1] + "…"


# --- backfill at county scale: Airflow against the floor (`tesoma bench backfill`) ---------------------------

COUNTY_RESIDENTS = 530_000
COUNTY_MONTHS = 60
BACKFILL_GOAL_S = 30 * 60
"""Five years of every feed at county scale, through Airflow on PostgreSQL with the LocalExecutor (issue 15)."""
FLOOR_RATIO_GOAL = 1.5
"""Airflow's wall clock within this multiple of the same deliveries processed in one process (the floor)."""
TASK_OVERHEAD_GOAL_S = 1.0
"""A task's start-up and hand-off beyond the work its deliveries' ledger seconds account for."""
_ACTIVE_RUN_STATES = ("queued", "running")


def backfill_base(base, residents: int, months: int, last_month: dt.date, seed: int):
    """The bench's folder for these parameters: ``deliveries/`` (kept by ``--reuse``), ``airflow/`` and
    ``floor/`` (the two data roots, made afresh every run)."""
    from pathlib import Path

    return Path(base) / f"backfill-{residents}r-{months}m-{last_month:%Y%m}-s{seed}"


def county_deliveries(folder, *, residents: int, months: int, last_month: dt.date, seed: int, reuse: bool,
                      echo=print) -> dict:
    """The county's deliveries under ``folder`` (a data root holding ``landing/`` and ``sources/`` only):
    generated (:func:`synthetic.county_deliveries.generate_county_deliveries`), or kept from an earlier run
    with ``reuse`` when that one finished (``bench-deliveries.json`` is written last)."""
    import json
    import shutil

    from synthetic.county_deliveries import generate_county_deliveries

    done = folder / "bench-deliveries.json"
    if reuse and done.exists():
        made = json.loads(done.read_text())
        echo(f"deliveries: reusing {folder} (generated in {made['seconds']:.1f} s)")
        return {**made, "reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    generate_county_deliveries(folder, residents=residents, months=months, last_month=last_month, seed=seed,
                               progress=echo)
    made = {"seconds": time.perf_counter() - started,
            "bytes": sum(p.stat().st_size for p in (folder / "landing").rglob("*") if p.is_file())}
    done.write_text(json.dumps(made))
    return {**made, "reused": False}


def _fresh_root(deliveries, root) -> None:
    """A data root with the deliveries' landing/ (hard links: same bytes and arrival times, no copying) and a
    copy of sources/ (the city's reporting database, which a pull reads)."""
    import os
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:  # another file system: copy, keeping the mtime (a delivery's arrival time)
            shutil.copy2(src, dst)

    shutil.copytree(deliveries / "landing", root / "landing", copy_function=link)
    if (deliveries / "sources").is_dir():
        shutil.copytree(deliveries / "sources", root / "sources")


def _remove_archive(root) -> int:
    """Remove ``root``'s raw/ and staging/ folders; returns the bytes they held."""
    import shutil

    freed = 0
    for name in ("raw", "staging"):
        folder = root / name
        if folder.is_dir():
            freed += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    return freed


def backfill_floor(feeds: list[str], first: dt.date, last: dt.date, echo=print) -> dict:
    """The floor: the deliveries processed by the pipeline's own code in this one process, no scheduler —
    ``tesoma run --from … --to …`` (:func:`tesoma.steps.process_range`: what the ``<feed>_history`` runs do,
    a month's delivery dates in batches through :func:`tesoma.steps.process_batch`, then one catalog refresh)."""
    from tesoma import steps

    done = steps.process_range(feeds, first, last, progress=lambda line: echo(f"  floor: {line}"))
    return {"seconds": done["seconds"] + done["catalog_seconds"], "processing_s": done["seconds"],
            "batches": done["batches"]}


def _ledger_figures(ledger_url: str, feeds: list[str], first: dt.date, last: dt.date) -> dict:
    """Deliveries of the range in the ledger: count, by state, rows, and the sum of their ``seconds``."""
    from warehouse.ledger import Ledger

    ledger = Ledger(ledger_url)
    try:
        rows = [d for d in ledger.all() if d.feed in feeds and first <= d.delivery_date <= last]
    finally:
        ledger.engine.dispose()
    states: dict[str, int] = {}
    for d in rows:
        states[d.state] = states.get(d.state, 0) + 1
    return {"deliveries": len(rows), "states": states, "rows_read": sum(d.rows_read or 0 for d in rows),
            "ledger_seconds": sum(d.seconds or 0 for d in rows)}


def task_instances(stack, dag_ids: list[str]) -> list[dict]:
    """Every task instance of the DAGs' backfill runs, from Airflow's REST API (not a scheduled run the
    unpausing may have created for the current month)."""
    found: list[dict] = []
    for dag_id in dag_ids:
        offset = 0
        while True:
            page = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=100&offset={offset}")
            found += [ti for ti in page["task_instances"] if str(ti.get("dag_run_id", "")).startswith("backfill__")]
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                break
    return found


def batch_work(stack, instances: list[dict]) -> dict[tuple, float]:
    """The seconds each ``process_batch`` task instance spent in its own work (land, ingest, publish: the
    ``seconds`` it returns, measured inside the task), by (dag, run, map index), from its XCom."""
    import ast
    import json
    import urllib.parse

    work = {}
    for ti in instances:
        if ti.get("task_id") != "process_batch" or ti.get("state") != "success":
            continue
        run = urllib.parse.quote(ti["dag_run_id"], safe="")
        try:
            entry = stack.api("GET", f"/api/v2/dags/{ti['dag_id']}/dagRuns/{run}/taskInstances/process_batch/"
                                     f"xcomEntries/return_value?map_index={ti.get('map_index', -1)}")
        except OSError:
            continue
        value = entry.get("value")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = ast.literal_eval(value)
        if isinstance(value, dict) and "seconds" in value:
            work[(ti["dag_id"], ti["dag_run_id"], ti.get("map_index"))] = float(value["seconds"])
    return work


def task_overhead(instances: list[dict], work: dict[tuple, float]) -> dict:
    """What the tasks cost beyond their work: each task instance's duration (API) minus the work it measured
    itself (``process_batch``'s own seconds, :func:`batch_work`). ``plan``, ``announce`` and ``report`` do
    no delivery's work: all of their time counts as overhead (they query the ledger and write notes)."""
    durations = [ti.get("duration") or 0.0 for ti in instances]
    batches = [ti for ti in instances if ti.get("task_id") == "process_batch"]
    total, worked = sum(durations), sum(work.values())
    batch_s = sum(ti.get("duration") or 0.0 for ti in batches)
    by_kind: dict[str, list[float]] = {}
    for ti in instances:
        spent = (ti.get("duration") or 0.0) - work.get((ti["dag_id"], ti["dag_run_id"], ti.get("map_index")), 0.0)
        by_kind.setdefault(ti.get("task_id", "?"), []).append(spent)
    return {"tasks": len(instances), "batch_tasks": len(batches), "task_s": total, "batch_task_s": batch_s,
            "work_s": worked, "overhead_per_task_s": (total - worked) / len(instances) if instances else None,
            "batch_overhead_s": (batch_s - worked) / len(batches) if batches else None,
            "by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())},
            "hosts": sorted({ti.get("hostname") or "?" for ti in instances})}


def _wait_for_catalog(stack, wait: float = 900) -> float:
    """Seconds until no ``catalog`` run is queued or running any more (the refreshes the publishes asked for)."""
    import urllib.error

    started = time.monotonic()
    while time.monotonic() - started < wait:
        try:
            runs = stack.dag_runs("catalog")
        except urllib.error.HTTPError:  # no catalog DAG parsed: nothing to wait for
            return 0.0
        if not any(r["state"] in _ACTIVE_RUN_STATES for r in runs):
            break
        time.sleep(2)
    return time.monotonic() - started


class _Echoing(io.TextIOBase):
    """A text stream that passes each whole line to ``echo`` (with a prefix) and keeps them all."""

    def __init__(self, echo, prefix: str = ""):
        self.echo, self.prefix, self.lines, self._partial = echo, prefix, [], ""

    def write(self, text: str) -> int:
        *whole, self._partial = (self._partial + text).replace("\r", "\n").split("\n")
        for line in filter(None, whole):
            self.lines.append(line)
            self.echo(self.prefix + line)
        return len(text)


def backfill_airflow(root, feeds: list[str], first: dt.date, last: dt.date, *, key: str, ledger_url: str,
                     echo=print) -> dict:
    """The backfill through Airflow: the four components on a temporary PostgreSQL metadata database with the
    LocalExecutor (:class:`orchestration.stack.AirflowStack`), ``tesoma backfill``'s own code
    (:func:`tesoma.backfill.run`, the ``<feed>_history`` DAGs) from creating the backfills to the summary,
    then the catalog runs it caused. Start-up of the stack is timed on its own (an operator's stack runs)."""
    from orchestration.stack import AirflowStack, temporary_database
    from tesoma import backfill as operator

    figures: dict = {}
    history_from = first.isoformat()
    with temporary_database(prefix="bench_airflow_") as airflow_db:
        stack = AirflowStack(airflow_db, root, home=root.parent / "airflow-home", ledger_url=ledger_url,
                             pseudonym_key=key, extra_env={"TESOMA_HISTORY_FROM": history_from, **_passed_on()})
        try:
            started = time.perf_counter()
            stack.migrate()
            stack.start()
            wanted = {operator.dag_for(f, history=True) for f in feeds}
            deadline = time.monotonic() + 300
            while not wanted <= {d["dag_id"] for d in stack.dags()}:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"DAGs {sorted(wanted)} not parsed after 300 s:\n{stack.tail('dag-processor')}")
                time.sleep(2)
            # As an operator's stack runs: the catalog DAG refreshes the views, Data Docs and audit while the
            # history runs publish (its runs coalesce), and its time counts.
            if "catalog" in {d["dag_id"] for d in stack.dags()}:
                stack.api("PATCH", "/api/v2/dags/catalog", {"is_paused": False})
            figures["startup_s"] = time.perf_counter() - started
            echo(f"  airflow: stack up in {figures['startup_s']:.1f} s; backfilling {len(feeds)} feed(s) "
                 f"{first} … {last}")
            out = _Echoing(echo, "  airflow: ")
            started = time.perf_counter()
            status, summary = operator.run(feeds, first, last, url=stack.url, poll=2, out=out, tty=False,
                                           every=30, ledger_url=ledger_url, history=True)
            figures["backfill_s"] = time.perf_counter() - started
            figures["catalog_s"] = _wait_for_catalog(stack)
            figures["seconds"] = figures["backfill_s"] + figures["catalog_s"]
            figures["status"] = status
            figures["summary"] = out.lines[-8:]
            figures["instances"] = task_instances(stack, sorted(wanted))
            figures["batch_work"] = batch_work(stack, figures["instances"])
            figures["metadata"] = metadata_costs(stack, sorted(wanted))
        finally:
            report = stack.stop()
            if report.killed:
                echo(f"  airflow: components needed SIGKILL: {report.killed}")
    return figures


PASSED_ON = ("TESOMA_BATCH_DATES", "TESOMA_CATALOG_POKE_SECONDS", "TESOMA_CATALOG_MAX_WAIT_SECONDS")
"""Settings of the bench's caller that its Airflow stack's tasks get too (the floor reads them from this process)."""


def _passed_on() -> dict[str, str]:
    import os

    return {name: os.environ[name] for name in PASSED_ON if os.environ.get(name)}


def metadata_costs(stack, dag_ids: list[str]) -> dict:
    """What Airflow's metadata database costs at the end of the run, as the operator meets it: the REST
    API's list of a history DAG's runs and of its task instances (what the grid shows), timed."""
    timed: dict = {}
    busiest = [d for d in dag_ids if d.startswith("city_visits")] or dag_ids[:1]  # the most runs and tasks
    for dag_id in busiest[:1]:
        started = time.perf_counter()
        runs = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=-logical_date")
        timed["runs_s"] = time.perf_counter() - started
        started = time.perf_counter()
        tis = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=100")
        timed["task_instances_s"] = time.perf_counter() - started
        timed.update(dag_id=dag_id, runs=runs.get("total_entries"), task_instances=tis.get("total_entries"))
    return timed


def end_of_run_costs(root, ledger_url: str, feeds: list[str], echo=print) -> dict:
    """What the grown ledger and warehouse cost at the end of the run: ``tesoma status``'s ledger queries (every
    delivery, the findings, the delivery that counts per feed and partner), one date's deliveries, and one
    more publish — a corrected re-delivery of the last city_visits day (its last row withdrawn), landed
    and ingested first, the publish alone timed (a commit per table and a new warehouse state)."""
    from collections import defaultdict

    from tesoma import steps
    from warehouse import states
    from warehouse.ledger import Ledger, newest

    ledger = Ledger(ledger_url)
    figures: dict = {}
    try:
        started = time.perf_counter()
        deliveries = ledger.all()
        ledger.findings()
        by_feed = defaultdict(list)
        for d in deliveries:
            by_feed[(d.feed, d.partner)].append(d)
        for items in by_feed.values():
            last_date = max(d.delivery_date for d in items)
            newest(d for d in items if d.delivery_date == last_date)
        figures["status_s"] = time.perf_counter() - started
        figures["ledger_rows"] = len(deliveries)
        figures["states"] = len(states.all_states(ledger.engine))
        mine = [d for d in deliveries if d.feed in feeds and d.state == "published"]
        if mine:
            last = max(mine, key=lambda d: (d.delivery_date, d.feed))
            started = time.perf_counter()
            ledger.for_date(last.feed, last.delivery_date)
            figures["for_date_s"] = time.perf_counter() - started
        # the latest with two rows or more: withdrawing its last row leaves a valid file
        city = [d for d in mine if d.feed == "city_visits" and (d.rows_read or 0) >= 2]
        if city:
            original = max(city, key=lambda d: d.delivery_date)
            source = next((root / "landing").glob(f"*/city_visits/{original.source_name}"))
            lines = source.read_bytes().splitlines(keepends=True)
            source.with_name(source.stem + "_9" + source.suffix).write_bytes(b"".join(lines[:-1]))
            ids = steps.land("city_visits", original.delivery_date)
            correction = next(d for d in ids if ledger.get(d).sequence == 9)
            steps.ingest(correction)
            started = time.perf_counter()
            result = steps.publish(correction)
            figures["publish_s"] = time.perf_counter() - started
            figures["publish_state"] = result["state"]
    finally:
        ledger.engine.dispose()
    return figures


def backfill(base=None, *, residents: int = COUNTY_RESIDENTS, months: int = COUNTY_MONTHS,
             last_month: dt.date = dt.date(2026, 10, 1), feeds: list[str] | None = None, seed: int = 42,
             reuse: bool = False, echo=print):
    """`tesoma bench backfill`: the county's deliveries backfilled through Airflow and by the floor; a table.

    1. the deliveries (:func:`county_deliveries`; ``reuse`` keeps them);
    2. Airflow: :func:`backfill_airflow` into the data root ``airflow/``, ledger on a temporary PostgreSQL
       database: wall clock, deliveries per second, per-task overhead (task instances' durations from the
       REST API minus the ledger's per-delivery seconds), then :func:`end_of_run_costs` on what it grew;
    3. the floor: :func:`backfill_floor` into ``floor/`` with the same pseudonym key, its own ledger database;
    4. the ratio Airflow/floor (goal ≤ 1.5×) and the 30-minute goal for five years of every feed at county
       scale — measured when run at that size, else extrapolated (and labelled so): the floor's time scaled
       by rows (residents × months), Airflow's extra time by deliveries (months).
    """
    import secrets as _secrets
    from pathlib import Path

    from orchestration.stack import temporary_database
    from scorecard.bench import Figures, print_table
    from synthetic import county
    from tesoma import backfill as operator

    feeds = list(dict.fromkeys(feeds)) if feeds else operator.feeds()
    folder = backfill_base(Path(base or "data/bench").resolve(), residents, months, last_month, seed)
    first = county.months_ending(last_month.replace(day=1), months)[0]
    last = (last_month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    figures = Figures()
    made = county_deliveries(folder / "deliveries", residents=residents, months=months, last_month=last_month,
                             seed=seed, reuse=reuse, echo=echo)
    figures.add("deliveries generated" + (" (reused)" if made["reused"] else ""), made["seconds"],
                note=f"{residents:,} residents, {months} month(s) {first:%Y-%m} … {last:%Y-%m}, "
                     f"{made['bytes'] / 2**20:,.1f} MiB in landing/ (not part of the goal)")
    key = _secrets.token_urlsafe(48)  # one key for both roots: the same pseudonyms, made at run time
    common = {"TESOMA_PSEUDONYM_KEY": key, "TESOMA_HISTORY_FROM": first.isoformat()}
    with temporary_database(prefix="bench_ledger_") as airflow_ledger, \
            temporary_database(prefix="bench_floor_ledger_") as floor_ledger:
        root = folder / "airflow" / "data"
        _fresh_root(folder / "deliveries", root)
        with environment(TESOMA_DATA_ROOT=str(root), TESOMA_LEDGER_URL=airflow_ledger, **common):
            air = backfill_airflow(root, feeds, first, last, key=key, ledger_url=airflow_ledger, echo=echo)
            air_ledger = _ledger_figures(airflow_ledger, feeds, first, last)
            end = end_of_run_costs(root, airflow_ledger, feeds, echo)
        # Room for the floor's root: the Airflow root's archive (raw/: a copy of every delivery, ~16 GiB at
        # county scale) is measured and no longer needed; its warehouse and ledger stay for a look.
        freed = _remove_archive(root)
        if freed:
            echo(f"  removed the Airflow root's raw/ archive ({freed / 2**30:.1f} GiB) to make room for the floor's")
        floor_root = folder / "floor" / "data"
        _fresh_root(folder / "deliveries", floor_root)
        with environment(TESOMA_DATA_ROOT=str(floor_root), TESOMA_LEDGER_URL=floor_ledger, **common):
            echo("  floor: the same deliveries in this process, no scheduler")
            low = backfill_floor(feeds, first, last, echo)
            low_ledger = _ledger_figures(floor_ledger, feeds, first, last)
    _backfill_rows(figures, air, air_ledger, end, low, low_ledger, residents=residents, months=months, feeds=feeds)
    print_table(figures, echo)
    echo(f"\ndeliveries: {folder / 'deliveries'} (`--reuse` keeps them); data roots: {folder / 'airflow'}, "
         f"{folder / 'floor'}")
    figures.values.update(airflow=air, airflow_ledger=air_ledger, end=end, floor=low, floor_ledger=low_ledger)
    return figures


def _backfill_rows(figures, air: dict, air_ledger: dict, end: dict, low: dict, low_ledger: dict, *,
                   residents: int, months: int, feeds: list[str]) -> None:
    """The table's rows: Airflow, the floor, the ratio, the five-year goal, and the end-of-run costs."""
    from tesoma import backfill as operator

    n = air_ledger["deliveries"]
    states = ", ".join(f"{v} {k}" for k, v in sorted(air_ledger["states"].items()))
    figures.add("airflow stack start (migrate, four components)", air["startup_s"], note="not part of the goal")
    figures.add("backfill through Airflow (LocalExecutor, PostgreSQL)", air["backfill_s"],
                note=f"{n:,} deliveries ({states}), {n / air['backfill_s']:.2f} deliveries/s, "
                     f"exit {air['status']}")
    figures.add("  catalog runs after it", air["catalog_s"])
    overhead = task_overhead(air["instances"], air.get("batch_work") or {})
    per_task = overhead["overhead_per_task_s"]
    kinds = ", ".join(f"{k} {v:.2f} s" for k, v in overhead["by_kind"].items())
    figures.add("  per-task overhead (mean per task instance)", per_task, goal=f"≤ {TASK_OVERHEAD_GOAL_S:.0f} s",
                met=None if per_task is None else per_task <= TASK_OVERHEAD_GOAL_S,
                note=f"{overhead['tasks']} tasks ({overhead['batch_tasks']} process_batch) ran "
                     f"{overhead['task_s']:.1f} s, of which the batches' own work {overhead['work_s']:.1f} s; "
                     f"by task: {kinds}")
    figures.add("  of which process_batch tasks (mean per task)", overhead["batch_overhead_s"],
                note="a batch task's duration minus the seconds it measured for its own work (XCom); plan, "
                     "announce and report do no delivery's work: all of their time is overhead")
    figures.add("floor: `tesoma run`'s code in one process", low["seconds"],
                note=f"{low_ledger['deliveries']:,} deliveries, {low_ledger['deliveries'] / low['seconds']:.2f} "
                     f"deliveries/s, {low['batches']} batches; catalog refresh "
                     f"{low['seconds'] - low['processing_s']:.1f} s")
    ratio = air["seconds"] / low["seconds"]
    figures.add("Airflow / floor (with the catalog runs)", None, goal=f"≤ {FLOOR_RATIO_GOAL}×",
                met=ratio <= FLOOR_RATIO_GOAL, note=f"{ratio:.2f}×")
    every_feed = set(feeds) == set(operator.feeds())
    full = residents >= COUNTY_RESIDENTS and months >= COUNTY_MONTHS and every_feed
    if full:
        five_years, label, note = air["seconds"], "five years, county scale, every feed (measured)", ""
    else:
        # The number of deliveries grows with the months, not with the residents (a partner sends a file a
        # day however many people it served); what a delivery holds grows with both. A small run's time is
        # mostly per-delivery work, so it is scaled by deliveries only: a LOWER BOUND for the county.
        five_years = air["seconds"] * COUNTY_MONTHS / months
        label = "five years, county scale (EXTRAPOLATED)"
        note = (f"Airflow's time × {COUNTY_MONTHS}/{months} month(s), from {residents:,} residents"
                + ("" if every_feed else f", feeds {', '.join(feeds)} only")
                + f"; a lower bound: county deliveries are ~{COUNTY_RESIDENTS / residents:,.0f}× bigger")
    figures.add(label, five_years, goal="≤ 1800 s", met=five_years <= BACKFILL_GOAL_S, note=note)
    figures.add("end of run: `tesoma status` ledger queries", end["status_s"],
                note=f"{end['ledger_rows']:,} deliveries in the ledger, {end['states']:,} warehouse states")
    if "for_date_s" in end:
        figures.add("end of run: one date's deliveries (publish's query)", end["for_date_s"])
    meta = air.get("metadata") or {}
    if "runs_s" in meta:
        figures.add("end of run: Airflow metadata (REST: runs, task instances)",
                    meta["runs_s"] + meta["task_instances_s"],
                    note=f"{meta['dag_id']}: {meta['runs']} runs listed in {meta['runs_s']:.2f} s, "
                         f"{meta['task_instances']} task instances in {meta['task_instances_s']:.2f} s")
    if "publish_s" in end:
        figures.add("end of run: one more publish (a correction)", end["publish_s"],
                    note=f"a commit per table and a new warehouse state; {end['publish_state']}")
    figures.values["overhead"] = overhead
    figures.values["five_years_s"] = five_years


# --- one day of every feed, files to queryable (issue 15) ---------------------------------------------------

DAY_GOAL_S = 60
"""One day of every feed, from the files appearing in landing/ to the analysts' catalog answering with them."""
DAY_START = dt.date(2026, 10, 1)  # the demo's first day
_RUN_DONE = ("success", "failed")


def day_root(base, residents: int, days: int, seed: int):
    """The bench's own folder (never the user's data root): ``data/`` (the data root), ``held/`` (the last
    day's files until the clock starts) and ``airflow/`` (AIRFLOW_HOME of the standalone)."""
    from pathlib import Path

    return Path(base) / f"day-{residents}r-{days}d-s{seed}"


def hold_back_day(root, held, day: dt.date) -> dict[str, list]:
    """Move every feed's deliveries dated ``day`` from ``root/landing`` to ``held`` (same relative paths);
    returns ``{feed: [relative path, …]}`` for the feeds that deliver that day."""
    import shutil

    from tesoma.feed_config import load
    from tesoma.feeds import connector_for

    landing = root / "landing"
    moved: dict[str, list] = {}
    for feed in load():
        for found in connector_for(feed).discover_all(landing, day):
            relative = found.path.relative_to(landing)
            (held / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(found.path, held / relative)
            moved.setdefault(feed, []).append(relative)
    return moved


def put_back(root, held, moved: dict[str, list]) -> None:
    """The held files appear in landing/ (a rename each, as an upload tool's last step), arrival times kept."""
    import os

    for paths in moved.values():
        for relative in paths:
            target = root / "landing" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(held / relative, target)


def prepare_day(root, *, start: dt.date, days: int, residents: int, seed: int, fault_rate: float,
                echo=print) -> tuple[dt.date, dict[str, list]]:
    """The demo's deliveries of ``days`` days in a fresh data root, everything before the last day processed
    without Airflow (the steps a feed DAG runs, :func:`tesoma.steps.process_all`, then one catalog refresh);
    the last day's files wait in ``held/``. Returns the last day and the held files per feed."""
    import logging
    import shutil

    from synthetic import generate
    from tesoma import steps
    from tesoma.config import settings
    from tesoma.feed_config import load

    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    generate(root, start=start, days=days, residents=residents, seed=seed, fault_rate=fault_rate)
    last = start + dt.timedelta(days=days - 1)
    moved = hold_back_day(root, root.parent / "held", last)
    logging.getLogger("tesoma").setLevel(logging.WARNING)
    s = settings()
    for feed in load():
        results = steps.process_all(feed, s)
        echo(f"  prepare: {feed}: {len(results)} deliveries before {last} processed")
    steps.refresh_catalog(s)
    return last, moved


def _standalone(root, home, port: int, key: str, ledger_url: str):
    """An :class:`orchestration.stack.AirflowStack` used only for its REST client and its stop/cleanup, whose
    one component is ``airflow standalone`` in the environment ``tesoma airflow`` gives it
    (:func:`orchestration.ui.environment`: SQLite metadata under AIRFLOW_HOME, LocalExecutor, parallelism 4),
    on a free port instead of 8080 so a running ``tesoma airflow`` is not disturbed."""
    import os

    from orchestration import ui
    from orchestration.stack import STACK_VARIABLE, AirflowStack
    from tesoma.config import settings

    saved = dict(os.environ)
    try:  # configure() only sets what is unset: none of the caller's Airflow settings may leak in
        for name in [k for k in os.environ if k.startswith(("AIRFLOW", "_AIRFLOW"))]:
            del os.environ[name]
        env = ui.environment(settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    stack = AirflowStack(f"sqlite:///{home / 'airflow.db'}", root, home=home, port=port)
    env.update({
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        STACK_VARIABLE: stack.stack_id,
        "TESOMA_DATA_ROOT": str(root), "TESOMA_LEDGER_URL": ledger_url, "TESOMA_PSEUDONYM_KEY": key,
    })
    stack.env = env
    return stack


def _seconds(later: str | None, earlier: str | None) -> float | None:
    if not later or not earlier:
        return None
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


def _day_rows_visible(root, ledger_url: str, feeds: list[str], day: dt.date) -> tuple[bool, dict[str, int]]:
    """Whether the analysts' catalog shows rows of every delivery of ``day`` that was published (per feed: the
    rows of its first table carrying those deliveries' ids). A catalog being rewritten counts as not yet."""
    import duckdb

    from tesoma.feed_config import canonical_tables
    from warehouse import catalog
    from warehouse.layout import Layout
    from warehouse.ledger import Ledger

    ledger = Ledger(ledger_url)
    try:
        published = {f: [d.delivery_id for d in ledger.for_date(f, day) if d.state == "published"] for f in feeds}
    finally:
        ledger.engine.dispose()
    tables = {f: canonical_tables(f)[0] for f in feeds}
    counts: dict[str, int] = {}
    try:
        with catalog.connect(Layout(root)) as con:
            for feed, ids in published.items():
                if ids:  # the table's name comes from the feed registry, the ids are parameters
                    sql = f"select count(*) from {tables[feed]} where list_contains(?, delivery_id)"  # noqa: S608
                    counts[feed] = con.execute(sql, [ids]).fetchone()[0]
    except duckdb.Error:
        return False, counts
    return all(counts.get(f, 0) > 0 for f, ids in published.items() if ids), counts


def _task_figures(stack, runs: list[tuple[str, str]]) -> list[dict]:
    """The task instances of the given (dag_id, run_id) runs: task, queued and running seconds, state."""
    from urllib.parse import quote

    found = []
    for dag_id, run_id in runs:
        page = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100")
        for ti in page["task_instances"]:
            found.append({"dag_id": dag_id, "task_id": ti["task_id"], "state": ti.get("state"),
                          "queued_s": _seconds(ti.get("start_date"), ti.get("queued_when")) or 0.0,
                          "running_s": ti.get("duration") or 0.0})
    return found


def day_through_airflow(stack, root, held, moved: dict[str, list], day: dt.date, *, ledger_url: str,
                        wait: float = 600, echo=print) -> dict:
    """The measured part: the held files appear in landing/, every delivering feed's DAG run for ``day`` is
    triggered through the REST API (as an operator, or the scheduler at run_at, would start it), and the clock
    stops when every feed run has ended, no ``catalog`` run is queued or running, the last one succeeded and
    the catalog answers with rows of every published delivery of the day."""
    from urllib.parse import quote

    from tesoma.feed_config import load
    from tesoma.schedule import run_time_for

    feeds = sorted(moved)
    runs_config = load()
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC)
    put_back(root, held, moved)
    run_ids = {}
    for feed in feeds:
        fr = runs_config[feed]
        logical = run_time_for(day, fr.cadence, fr.run_at)
        run_ids[feed] = stack.api("POST", f"/api/v2/dags/{feed}/dagRuns",
                                  {"logical_date": logical.isoformat()})["dag_run_id"]
    triggered_s = time.perf_counter() - started
    feed_runs: dict[str, dict] = {}
    seconds = None
    counts: dict[str, int] = {}
    while time.perf_counter() - started < wait:
        for feed in feeds:
            if feed not in feed_runs:
                run = stack.api("GET", f"/api/v2/dags/{feed}/dagRuns/{quote(run_ids[feed], safe='')}")
                if run["state"] in _RUN_DONE:
                    feed_runs[feed] = run
                    echo(f"  {feed}: {run['state']} at {time.perf_counter() - started:.1f} s")
        if len(feed_runs) == len(feeds):
            catalog_runs = [r for r in stack.dag_runs("catalog")
                            if dt.datetime.fromisoformat(r["queued_at"] or r["run_after"]) >= started_at]
            idle = catalog_runs and not any(r["state"] in _ACTIVE_RUN_STATES for r in catalog_runs)
            if idle and max(catalog_runs, key=lambda r: r["queued_at"] or "")["state"] == "success":
                visible, counts = _day_rows_visible(root, ledger_url, feeds, day)
                if visible:
                    seconds = time.perf_counter() - started
                    break
        time.sleep(0.5)
    if seconds is None:
        raise TimeoutError(f"the day was not queryable after {wait:.0f} s: feed runs ended "
                           f"{sorted(feed_runs)} of {feeds}; see {stack.home}/logs")
    echo(f"  queryable at {seconds:.1f} s")
    time.sleep(5)  # a catalog run asked for by the last publish but not created yet would show now
    _wait_for_catalog(stack, wait=120)
    catalog_runs = [r for r in stack.dag_runs("catalog")
                    if dt.datetime.fromisoformat(r["queued_at"] or r["run_after"]) >= started_at]
    tasks = _task_figures(stack, [(f, run_ids[f]) for f in feeds]
                          + [("catalog", r["dag_run_id"]) for r in catalog_runs])
    return {"seconds": seconds, "triggered_s": triggered_s, "feed_runs": feed_runs, "catalog_runs": catalog_runs,
            "tasks": tasks, "rows": counts}


def day(base=None, *, residents: int = 16_000, days: int = 30, start: dt.date = DAY_START, seed: int = 42,
        fault_rate: float = 0.03, echo=print):
    """`tesoma bench day`: one day of every feed from files in landing/ to queryable, through the embedded
    default Airflow that ``make airflow`` / ``tesoma airflow`` runs (``airflow standalone``, SQLite, LocalExecutor).

    1. a data root of its own (``<base>/day-…/data``): the demo's deliveries (``days`` days from ``start``),
       the last day's files held back, everything before processed without Airflow (:func:`prepare_day`);
    2. ``airflow standalone`` on a free port in that root (:func:`_standalone`), the delivering feeds' DAGs
       and ``catalog`` unpaused (unpausing starts no run: orchestration/timetable.py);
    3. the clock: :func:`day_through_airflow`; then a table: files to queryable (goal ≤ 60 s), each feed
       run, the catalog runs (how many: bursts of publishes should coalesce), and where the time went
       (queued vs running, per task).
    """
    import secrets as _secrets
    import shutil
    import sys
    from pathlib import Path

    from orchestration.stack import free_port
    from scorecard.bench import Figures, print_table

    folder = day_root(Path(base or "data/bench").resolve(), residents, days, seed)
    root, held, home = folder / "data", folder / "held", folder / "airflow"
    for path in (held, home):
        shutil.rmtree(path, ignore_errors=True)
    home.mkdir(parents=True)
    figures = Figures()
    key = _secrets.token_urlsafe(48)
    ledger_url = f"sqlite:///{root / 'ledger.sqlite'}"
    with environment(TESOMA_DATA_ROOT=str(root), TESOMA_LEDGER_URL=ledger_url, TESOMA_PSEUDONYM_KEY=key):
        started = time.perf_counter()
        last, moved = prepare_day(root, start=start, days=days, residents=residents, seed=seed,
                                  fault_rate=fault_rate, echo=echo)
        figures.add("prepare: generate, process the earlier days", time.perf_counter() - started,
                    note=f"{residents:,} residents, {days} day(s) from {start}, no Airflow (not part of the goal)")
        stack = _standalone(root, home, free_port(), key, ledger_url)
        try:
            started = time.perf_counter()
            stack.migrate()
            stack._launch("standalone", [str(Path(sys.executable).with_name("airflow")), "standalone"], stack.env)
            stack.wait_healthy(300)
            wanted = [*sorted(moved), "catalog"]
            deadline = time.monotonic() + 300
            while not set(wanted) <= {d["dag_id"] for d in stack.dags()}:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"DAGs {wanted} not parsed after 300 s:\n{stack.tail('standalone')}")
                time.sleep(1)
            for dag_id in wanted:
                stack.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            figures.add("airflow standalone up, DAGs unpaused", time.perf_counter() - started,
                        note=f"SQLite, LocalExecutor, {stack.url} (not part of the goal)")
            echo(f"  clock starts: {sum(map(len, moved.values()))} file(s) of {len(moved)} feed(s) for {last} "
                 f"appear in landing/")
            measured = day_through_airflow(stack, root, held, moved, last, ledger_url=ledger_url, echo=echo)
        finally:
            report = stack.stop()
            if report.killed or report.stragglers:
                echo(f"  airflow: needed SIGKILL: {report.killed} {[p for p, _ in report.stragglers]}")
    _day_rows(figures, measured, last, home)
    print_table(figures, echo)
    echo(f"\ndata root: {root}; Airflow home (task logs): {home}")
    figures.values.update(measured=measured, day=last)
    return figures


def _day_rows(figures, measured: dict, last: dt.date, home) -> None:
    """The table's rows: the goal, each feed run, the catalog runs, and the time per task (queued vs running)."""
    runs = measured["feed_runs"]
    figures.add("one day of every feed: files to queryable", measured["seconds"], goal=f"≤ {DAY_GOAL_S} s",
                met=measured["seconds"] <= DAY_GOAL_S,
                note=f"{last}: {len(runs)} feed run(s) triggered in {measured['triggered_s']:.1f} s; rows visible "
                     + ", ".join(f"{f} {n:,}" for f, n in sorted(measured["rows"].items())))
    for feed, run in sorted(runs.items()):
        queued = _seconds(run.get("start_date"), run.get("queued_at"))
        figures.add(f"  {feed} run", _seconds(run.get("end_date"), run.get("start_date")),
                    note=f"{run['state']}; queued {queued or 0:.1f} s before starting")
    catalog = measured["catalog_runs"]
    figures.add(f"  catalog runs: {len(catalog)}",
                sum(_seconds(r.get("end_date"), r.get("start_date")) or 0 for r in catalog),
                note=f"for {len(runs)} feed run(s)' publishes (coalesced when fewer); "
                     + ", ".join(r["state"] for r in catalog))
    by_task: dict[tuple[str, str], list[dict]] = {}
    for ti in measured["tasks"]:
        kind = "catalog" if ti["dag_id"] == "catalog" else "feed"
        by_task.setdefault((kind, ti["task_id"]), []).append(ti)
    queued = sum(ti["queued_s"] for ti in measured["tasks"])
    running = sum(ti["running_s"] for ti in measured["tasks"])
    figures.add("  all tasks: running (summed)", running,
                note=f"queued {queued:.1f} s summed; {len(measured['tasks'])} task instances")
    for (kind, task_id), items in sorted(by_task.items()):
        figures.add(f"    {kind} task {task_id} ×{len(items)}", sum(ti["running_s"] for ti in items),
                    note=f"running, summed; queued {sum(ti['queued_s'] for ti in items):.1f} s")
