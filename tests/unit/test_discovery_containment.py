"""Whatever a partner puts in landing, discovery and landing go on: what is not a delivery is reported with a
reason the partner can act on, a delivery that cannot be landed safely is recorded as rejected, and the
feed's other files and dates land as usual."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import pytest

import connectors
from orchestration.delivery_sensor import landed as sensor_landed
from tesoma import landing_report
from tesoma.feeds import connector_for
from tesoma.steps import landing
from warehouse.layout import Layout
from warehouse.ledger import Ledger

DAY = dt.date(2026, 10, 1)
GOOD = "city_visits_20261001.csv"


def drop(folder: Path, name: str | bytes, data: bytes = b"a;b\r\n1;2\r\n") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    target = os.fsencode(folder) + b"/" + (name if isinstance(name, bytes) else os.fsencode(name))
    with open(target, "wb") as f:
        f.write(data)


def ledger_of(root: Path) -> Ledger:
    return Ledger(f"sqlite:///{root / 'ledger.sqlite'}")


def city_folder(root: Path) -> Path:
    return root / "landing" / "city" / "city_visits"


# Given a name beside a good delivery of the same date → the rule and words the partner gets.
BAD_NAMES = {
    "impossible_date": ("city_visits_20261399.csv", "impossible_date",
                        "the date 20261399 in the name is not a real date (expected YYYYMMDD)"),
    "arabic_indic_digits": ("city_visits_٢٠٢٦١٠٠١.csv", "non_ascii_digits", "must be ASCII 0-9"),
    "full_width_digits": ("city_visits_２０２６１００１.csv", "non_ascii_digits", "must be ASCII 0-9"),
    "huge_sequence": ("city_visits_20261001_9999999999999999999999999.csv", "sequence_out_of_range",
                      "at most 9999"),
    "control_character": ("city_visits_20261001\n.csv", "control_characters", "control characters"),
    "not_utf8": (b"city_visits_20261001_\xff.csv", "not_utf8_name", "not valid UTF-8"),
    "unmatched": ("visits-2026-10-01.csv", "unmatched_name",
                  "does not match the agreed pattern city_visits_YYYYMMDD[_N].csv"),
}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_discovery_reports_a_name_that_is_not_a_delivery_and_still_finds_the_delivery(tmp_path, case):
    name, rule, words = BAD_NAMES[case]
    drop(city_folder(tmp_path), GOOD)
    drop(city_folder(tmp_path), name)

    survey = connector_for("city_visits").survey(tmp_path / "landing", DAY)

    assert [d.path.name for d in survey.deliveries] == [GOOD]
    (finding,) = survey.not_deliveries
    assert (finding.partner, finding.feed, finding.rule) == ("city", "city_visits", rule)
    assert words in finding.reason
    assert str(finding).startswith(f"not a delivery: {finding.name}: ")
    assert finding.name.isprintable() and "\n" not in finding.name  # safe to log and show as it is


def test_one_candidate_can_be_examined_alone(tmp_path):
    drop(city_folder(tmp_path), "city_visits_20261399.csv")
    drop(city_folder(tmp_path), GOOD)
    connector = connector_for("city_visits")

    bad = connector.examine(city_folder(tmp_path) / "city_visits_20261399.csv", "city")
    good = connector.examine(city_folder(tmp_path) / GOOD, "city")

    assert (bad.rule, good.delivery_date, good.sequence) == ("impossible_date", DAY, 1)


def test_shown_names_escape_what_could_not_be_shown(tmp_path):
    drop(city_folder(tmp_path), b"city_visits_\x1b[31m\xff.csv")

    (finding,) = connector_for("city_visits").survey(tmp_path / "landing").not_deliveries

    assert finding.name == "city_visits_\\x1b[31m\\xff.csv"


def test_what_is_still_arriving_or_hidden_is_not_reported(tmp_path):
    drop(city_folder(tmp_path), ".city_visits_20261001.csv.swp")
    drop(city_folder(tmp_path), "city_visits_20261002.csv.filepart")
    export = tmp_path / "landing" / "mehilainen" / "mehilainen_fhir" / "20261001"
    drop(export, "Encounter.000.ndjson", b"{}\n")  # its manifest.json has not arrived yet

    for feed in ("city_visits", "mehilainen_fhir"):
        survey = connector_for(feed).survey(tmp_path / "landing")
        assert (survey.deliveries, survey.not_deliveries) == ([], [])


def test_a_file_another_feed_agrees_on_is_not_reported_in_a_shared_folder(tmp_path):
    folder = tmp_path / "landing" / "ngo_mll" / "ngo_activity"
    drop(folder, "ngo_activity_20261001.csv")
    drop(folder, "ngo_activity_20261001_osallistujat.csv")

    for feed in ("ngo_activity", "ngo_attendance"):
        assert connector_for(feed).survey(tmp_path / "landing").not_deliveries == []


def test_a_link_in_landing_is_not_followed(tmp_path):
    secret = tmp_path / "elsewhere.csv"
    secret.write_text("not the partner's\n")
    city_folder(tmp_path).mkdir(parents=True)
    (city_folder(tmp_path) / GOOD).symlink_to(secret)

    survey = connector_for("city_visits").survey(tmp_path / "landing", DAY)

    assert survey.deliveries == []
    assert [(f.rule, f.name) for f in survey.not_deliveries] == [("link", GOOD)]


def test_the_delivery_sensor_keeps_working_beside_a_bad_name(tmp_path):
    drop(city_folder(tmp_path), "city_visits_20261399.csv")
    drop(city_folder(tmp_path), "city_visits_٢٠٢٦١٠٠١.csv")
    assert sensor_landed("city_visits", DAY, tmp_path / "landing") == []

    drop(city_folder(tmp_path), GOOD)
    assert [f.path.name for f in sensor_landed("city_visits", DAY, tmp_path / "landing")] == [GOOD]


# --- land ------------------------------------------------------------------------------------------------

def test_land_reports_every_bad_name_once_and_lands_the_delivery(data_root, caplog):
    for name, _, _ in BAD_NAMES.values():
        drop(city_folder(data_root), name)
    drop(city_folder(data_root), GOOD)
    ledger = ledger_of(data_root)

    with caplog.at_level(logging.WARNING):
        ids = landing.land("city_visits", DAY)
    landing.land("city_visits", DAY)  # the next poll: the same findings, not twice

    assert [ledger.get(i).source_name for i in ids] == [GOOD]
    findings = ledger.findings("city_visits")
    assert sorted(f.rule for f in findings) == sorted(rule for _, rule, _ in BAD_NAMES.values())
    assert any(r.levelno == logging.WARNING and r.getMessage().startswith(
        "not a delivery: city_visits_20261399.csv: the date 20261399 in the name is not a real date")
        for r in caplog.records)
    report = landing_report.report_path(Layout(data_root), "city", "city_visits").read_text(encoding="utf-8")
    assert "city_visits_20261399.csv" in report and "is not a real date" in report
    assert "city_visits_20261001_\\xff.csv" in report


def test_a_name_that_is_removed_is_no_longer_reported(data_root):
    drop(city_folder(data_root), "city_visits_20261399.csv")
    landing.land("city_visits", DAY)
    (city_folder(data_root) / "city_visits_20261399.csv").unlink()

    landing.land("city_visits", DAY)

    ledger = ledger_of(data_root)
    assert ledger.findings("city_visits") == []
    assert [f.resolved_at is not None for f in ledger.findings("city_visits", include_resolved=True)] == [True]
    assert not landing_report.report_path(Layout(data_root), "city", "city_visits").exists()


def export_folder(root: Path, name: str) -> Path:
    folder = root / "landing" / "mehilainen" / "mehilainen_fhir" / name
    drop(folder, "Encounter.000.ndjson", b'{"resourceType": "Encounter"}\n')
    drop(folder, "manifest.json", b'{"output": []}\n')
    return folder


@pytest.mark.parametrize("break_it, words", [
    (lambda f: (f / "again").symlink_to(f, target_is_directory=True),
     "links are not allowed in an export folder: remove again"),
    (lambda f: (f / "loop.ndjson").symlink_to(f / "loop.ndjson"),
     "links are not allowed in an export folder: remove loop.ndjson"),
    (lambda f: drop(f, b"Patient.\xff.ndjson"),
     "file names in an export folder must be UTF-8, without control or invisible characters: rename "
     "Patient.\\xff.ndjson"),
], ids=["link_to_itself", "link_loop", "not_utf8_member"])
def test_an_export_folder_that_cannot_be_landed_safely_is_rejected_and_the_others_land(data_root, break_it,
                                                                                         words):
    break_it(export_folder(data_root, "20261001"))
    export_folder(data_root, "20261001_2")
    ledger = ledger_of(data_root)

    ids = landing.land("mehilainen_fhir", DAY)
    again = landing.land("mehilainen_fhir", DAY)

    assert ids == again and [ledger.get(i).source_name for i in ids] == ["20261001_2"]
    (rejected,) = [d for d in ledger.all("mehilainen_fhir") if d.state == "rejected"]
    assert rejected.source_name == "20261001" and words in rejected.reason
    assert not (data_root / rejected.raw_path).exists()  # nothing of it was archived
    report = Layout(data_root).quarantine_dir("mehilainen", rejected.delivery_id) / "report.md"
    assert words in report.read_text(encoding="utf-8")


def test_an_unexpected_error_landing_one_file_is_recorded_and_the_next_file_lands(data_root, monkeypatch, caplog):
    drop(city_folder(data_root), GOOD)
    drop(city_folder(data_root), "city_visits_20261001_2.csv", b"a;b\r\n1;3\r\n")
    real = landing._archive_file

    def fails_on_the_first(source, *args):
        if source.name == GOOD:
            raise RuntimeError("row 1: 010101-123A")  # must not reach the ledger
        return real(source, *args)

    monkeypatch.setattr(landing, "_archive_file", fails_on_the_first)
    with caplog.at_level(logging.ERROR):
        ids = landing.land("city_visits", DAY)

    ledger = ledger_of(data_root)
    assert [ledger.get(i).source_name for i in ids] == ["city_visits_20261001_2.csv"]
    (rejected,) = [d for d in ledger.all("city_visits") if d.state == "rejected"]
    assert (rejected.source_name, rejected.reason) == (GOOD, "internal_error: RuntimeError")
    assert any(r.exc_info for r in caplog.records)  # the traceback is in the task log


def test_a_ledger_from_before_landing_findings_gets_the_table_and_its_history_stays(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # an earlier version's ledger: deliveries only, and one delivery in it
        conn.execute(sa.text("CREATE TABLE deliveries (delivery_id VARCHAR(80) PRIMARY KEY, partner VARCHAR(40), "
                             "feed VARCHAR(40), delivery_date DATE, sequence INTEGER, source_name VARCHAR(255), "
                             "sha256 VARCHAR(64), raw_path VARCHAR(500), size_bytes BIGINT, landed_at DATETIME, "
                             "state VARCHAR(20), updated_at DATETIME)"))
        conn.execute(sa.text("INSERT INTO deliveries VALUES ('d1', 'city', 'city_visits', '2026-10-01', 1, "
                             "'city_visits_20261001.csv', 'ab', 'raw/x', 1, '2026-10-01 06:00:00', 'published', "
                             "'2026-10-01 06:00:00')"))
    engine.dispose()

    ledger = Ledger(url)
    ledger.record_findings("city_visits", [connectors.base.NotADelivery(
        "city", "city_visits", "notes.txt", "unmatched_name", "the name does not match the agreed pattern")])

    assert [f.name for f in ledger.findings("city_visits")] == ["notes.txt"]
    assert ledger.get("d1").state == "published"
