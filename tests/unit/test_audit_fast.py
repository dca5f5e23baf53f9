"""The audit stays fast as history grows: Arrow narrows a column to the values that could hold identifying data
before Python scans them (the same counts as scanning every value), and ingest keeps each delivery's names for
the audit, so the first audit after a backfill does not read every delivery again."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pyarrow as pa
import pytest

from tesoma import audit
from tesoma.config import settings
from transforms.pseudonymise.detect import scan, scan_values
from warehouse.layout import Layout

NAMES = {"Ella", "Mäki", "Mäki-Kuusela", "Ääri"}
FOUND = [  # given → each holds something scan counts
    "code 131052-308T here", "010105B123C", "born ١٣١٠٥٢-308T",  # identity codes, Arabic-Indic digits too
    "+358 40 1234567", "call 050-123 4567", "041 234 5678",        # phone numbers
    "matti.meikalainen@gmail.com", "ä.ö@kunta.fi",                 # e-mail addresses (Unicode local part)
    "Visit by Ella Mäki", "Ääri", "Mäki-Kuusela soitti",          # delivered names
]
CLEAN = ["aafzliwvabdswuvhumlmjp7ily", "2026-10-01", "33310", "20.90", "K194249191", "noreply@example.com",
         "Visit by Anna", "", None, "040", "Tampere"]


def _expected(values, names) -> Counter:
    total: Counter = Counter()
    for value in set(values):
        if value:
            total.update(scan(value, names))
    return total


@pytest.mark.parametrize("names", [NAMES, frozenset()])
def test_scan_values_counts_what_scanning_every_distinct_value_counts(names):
    values = FOUND + CLEAN + FOUND[:3]  # repeats count once: the audit scans distinct values
    got = scan_values(pa.chunked_array([values[:7], values[7:]], pa.string()), names)
    assert got == _expected(values, names)
    assert got["identity_code"] == 3 and got["phone_number"] == 3 and got["email_address"] == 2
    assert (got["name"] > 0) is bool(names)


def test_scan_values_agrees_with_scan_on_random_text():
    """Random strings built from the pieces the detectors look at (digits of two scripts, century signs,
    separators, +358, @, capitals, Finnish letters): the prefilter must never drop a value scan would count."""
    rng = random.Random(7)
    pieces = list("0123456789٠١٢٣٤٥-+ABCYX \t@._ÄÖaäöé") + ["+358", "04", "05", "Ella", "Mäki", ".fi", "\u3000"]
    values = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 24))) for _ in range(20_000)]
    values += ["".join(rng.choice("0123456789") for _ in range(6)) + rng.choice("-+AY") +
               "".join(rng.choice("0123456789") for _ in range(3)) + rng.choice("0123456789ABC")
               for _ in range(500)]
    expected = _expected(values, NAMES)
    assert expected["identity_code"] >= 400 and expected["phone_number"] and expected["name"]
    assert scan_values(pa.array(values, pa.string()), NAMES) == expected


def test_ingest_keeps_the_names_and_the_audit_then_reads_no_delivery(data_root, monkeypatch):
    from synthetic import generate
    from tesoma import steps

    generate(data_root, start=dt.date(2026, 10, 1), days=1, residents=300, seed=5, fault_rate=0.0)
    (delivery_id,) = steps.land("city_visits", dt.date(2026, 10, 1))
    steps.ingest(delivery_id)
    head, *kept = audit.names_file(Layout(data_root), delivery_id).read_text(encoding="utf-8").split("\n")
    assert head == audit.rules_id()
    assert len(kept) > 20 and all(n[:1].isupper() for n in kept)  # the delivery's name tokens

    def no_reading(feed):
        raise AssertionError(f"the audit read a {feed} delivery again")

    monkeypatch.setattr(audit, "connector_for", no_reading)
    assert audit.delivered_names(settings()) == set(kept)


def test_the_audit_reads_a_delivery_whose_names_were_not_kept(data_root):
    """A delivery ingested before names were kept at ingest (or whose cache could not be written) is read by
    the audit once, as before."""
    from synthetic import generate
    from tesoma import steps

    generate(data_root, start=dt.date(2026, 10, 1), days=1, residents=300, seed=5, fault_rate=0.0)
    (delivery_id,) = steps.land("city_visits", dt.date(2026, 10, 1))
    steps.ingest(delivery_id)
    cached = audit.names_file(Layout(data_root), delivery_id)
    kept = set(cached.read_text(encoding="utf-8").split("\n")[1:])
    cached.unlink()
    assert audit.delivered_names(settings()) == kept and cached.exists()


def test_an_exact_copy_of_a_clean_parquet_file_is_not_read_again(data_root, monkeypatch):
    """Publishing copies each staged file into the table under its SHA-256: the audit reads the bytes once.
    A file that differs by one value is read, and its finding reported."""
    import os
    import shutil

    import pyarrow.parquet as pq

    monkeypatch.setattr(audit, "PROJECT_DIR", data_root / "no-project")
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    layout = Layout(data_root)
    staged = layout.staging / "service_event" / "d1.parquet"
    staged.parent.mkdir(parents=True)
    pq.write_table(pa.table({"person_id": ["aafzliwvabdswuvhumlmjp7ily", "bbfzliwvabdswuvhumlmjp7ily"]}), staged)
    published = layout.warehouse / "iceberg" / "service_event" / "data" / "0a1b.parquet"
    published.parent.mkdir(parents=True)
    shutil.copyfile(staged, published)
    leaky = published.with_name("ffee.parquet")
    pq.write_table(pa.table({"person_id": ["aafzliwvabdswuvhumlmjp7ily", "131052-308T"]}), leaky)
    for path in (staged, published, leaky):
        os.utime(path, (path.stat().st_mtime - 60,) * 2)  # settled: older than the audit's settle time

    read = []
    real = audit.audit_file
    monkeypatch.setattr(audit, "audit_file", lambda path, names: read.append(path.name) or real(path, names))
    first = audit.scan_incrementally(settings())
    assert sorted(read) == ["d1.parquet", "ffee.parquet"] or sorted(read) == ["0a1b.parquet", "ffee.parquet"]
    assert first.copies == 1 and "1 exact copies of clean files" in str(first)
    assert [(f.path.name, f.kind) for f in first.findings] == [("ffee.parquet", "identity_code")]

    # Later: another copy of the clean bytes (a re-publication) is known by its digest from the record.
    read.clear()
    shutil.copyfile(staged, published.with_name("0a1c.parquet"))
    second = audit.scan_incrementally(settings())
    assert read == ["ffee.parquet"], "only the file with a finding (never recorded clean) is read again"
    assert second.copies == 1 and len(second.findings) == 1
