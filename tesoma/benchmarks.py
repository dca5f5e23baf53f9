"""`tesoma bench …`: commands that print speed and memory figures (goals are shown here, not in tests)."""

from __future__ import annotations

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
