"""`tesoma bench …`: commands that print speed and memory figures (goals are shown here, not in tests)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import secrets
import statistics
import time

import pyarrow as pa
import pyarrow.compute as pc


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
