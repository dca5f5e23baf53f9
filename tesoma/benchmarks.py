"""`tesoma bench …`: commands that print speed and memory figures (goals are shown here, not in tests)."""

from __future__ import annotations

import datetime as dt
import random
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
    key = PseudonymKey(b"benchmark-key-not-secret-0123456789abcdef")
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
