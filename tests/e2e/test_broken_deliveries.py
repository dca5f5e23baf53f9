"""Schema drift and broken files: the run never crashes; the ledger and quarantine say what happened."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tesoma import steps
from warehouse.ledger import Ledger

DAY = dt.date(2026, 10, 1)
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "city_visits"
CLEAN = (GOLDEN / "clean_cp1252" / "delivery.csv").read_bytes()


def _utf16() -> bytes:
    return CLEAN.decode("cp1252").encode("utf-16")


def _extra_column() -> bytes:
    header, *rows = CLEAN.decode("cp1252").split("\r\n")
    return "\r\n".join([header + ";uusi", *[r + ";x" if r else r for r in rows]]).encode("cp1252")


def _missing_required() -> bytes:
    lines = CLEAN.decode("cp1252").split("\r\n")
    cut = [";".join(f for i, f in enumerate(line.split(";")) if i != 10) for line in lines]  # drop ammattiryhma
    return "\r\n".join(cut).encode("cp1252")


CASES = {
    "extra_column": (_extra_column, "published", None),
    "missing_required_column": (_missing_required, "rejected", "missing_columns"),
    "undecodable": (_utf16, "rejected", "encoding"),
    "wrong_delimiter": (lambda: CLEAN.replace(b";", b","), "rejected", "delimiter"),
    # 1 of 2 rows cut off: over the 20% threshold, so the whole file is rejected
    "truncated": (lambda: CLEAN[: len(CLEAN) - 40], "rejected", "quality_threshold"),
    "empty": (lambda: b"", "rejected", "empty_file"),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_delivery_is_accounted_for(data_root, case):
    make, state, rule = CASES[case]
    landing = data_root / "landing" / "city" / "city_visits"
    landing.mkdir(parents=True)
    (landing / "city_visits_20261001.csv").write_bytes(make())

    (result,) = steps.process_date("city_visits", DAY)  # never raises

    (delivery,) = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}").for_date("city_visits", DAY)
    assert delivery.state == state == result["state"]
    report = json.loads((data_root / "quarantine" / "city" / delivery.delivery_id / "report.json").read_text()) \
        if (data_root / "quarantine" / "city" / delivery.delivery_id).exists() else None
    if state == "rejected":
        assert delivery.reason.startswith(f"{rule}: ")
        assert report["state"] == "rejected" and report["rule"] == rule
        assert len(report["message"]) > 30  # a sentence a partner can act on
    else:
        assert delivery.rows_read == delivery.rows_published + delivery.rows_quarantined
    if case == "extra_column":
        assert delivery.rows_quarantined == 0 and delivery.rows_published == 2
    if case == "truncated":
        assert delivery.rows_quarantined == delivery.rows_read == 2 and report["unreadable_rows"]


@pytest.mark.e2e
def test_too_many_bad_rows_reject_the_whole_delivery(data_root):
    """Policy: bad rows are quarantined up to the feed's threshold (default 20%); above it, all of them."""
    header, *rows = [r for r in CLEAN.decode("cp1252").split("\r\n") if r]
    good = rows[0]
    bad = good.replace("TK_VO", "XX")
    lines = [header] + [good.replace("K000000001", f"K{i:09d}") for i in range(1, 8)] \
        + [bad.replace("K000000001", f"K{i:09d}") for i in range(8, 11)]  # 3 of 10 bad = 30%
    landing = data_root / "landing" / "city" / "city_visits"
    landing.mkdir(parents=True)
    (landing / "city_visits_20261001.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))

    (result,) = steps.process_date("city_visits", DAY)

    (delivery,) = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}").for_date("city_visits", DAY)
    assert (delivery.state, delivery.rows_read, delivery.rows_published, delivery.rows_quarantined) == \
        ("rejected", 10, 0, 10)
    assert delivery.reason.startswith("quality_threshold: 3 of 10 rows (30%)")
    report = (data_root / "quarantine" / "city" / delivery.delivery_id / "report.md").read_text()
    assert report.startswith("# REJECTED (quality_threshold)") and "palvelu | allowed_values | 3" in report
    assert "other rows were accepted" not in report  # none were: the whole file was rejected
    assert not list((data_root / "warehouse").rglob("*.parquet"))


@pytest.mark.e2e
def test_a_row_breaking_a_contract_rule_is_left_out_of_what_was_prepared_ahead(data_root):
    """Rows are harmonised and written while GX checks the rules; when a rule fails, that work is redone
    on the passing rows only, so the failing row is quarantined and not published."""
    from synthetic import generate
    from warehouse.readers import read_table

    generate(data_root, start=DAY, days=1, residents=400, seed=5, fault_rate=0.0)
    (path,) = (data_root / "landing" / "city" / "city_visits").glob("*.csv")
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    header, first, second, *rest = raw.decode(encoding).split("\r\n")
    column = header.split(";").index("postinumero")
    fields = second.split(";")
    fields[column] = "ABCDE"  # a well-formed text that breaks the contract's pattern (no typing error)
    path.write_bytes("\r\n".join([header, first, ";".join(fields), *rest]).encode(encoding))

    (result,) = steps.process_date("city_visits", DAY)

    (delivery,) = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}").for_date("city_visits", DAY)
    assert result["state"] == delivery.state == "published"
    assert delivery.rows_quarantined == 1 and delivery.rows_published == delivery.rows_read - 1 > 10
    published = read_table(data_root, "service_event", partner="city", delivery_date=DAY)
    assert published.num_rows == delivery.rows_published
    assert "ABCDE" not in published["home_postal_code"].to_pylist()
    report = json.loads((data_root / "quarantine" / "city" / delivery.delivery_id / "report.json").read_text())
    assert "postinumero" in json.dumps(report)
