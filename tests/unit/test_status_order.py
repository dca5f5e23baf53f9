"""`tesoma status` shows, per feed and partner, the delivery that counts the way publish picks it, and lists
what is in landing but is not a delivery."""

from __future__ import annotations

import datetime as dt

from connectors.base import NotADelivery
from tesoma import cli
from warehouse.ledger import Ledger

DAY = dt.date(2026, 10, 1)


def record(ledger: Ledger, sha: str, arrived_hour: int, state: str) -> None:
    delivery, _ = ledger.record_landed(
        partner="city", feed="city_visits", delivery_date=DAY, sequence=1, source_name="city_visits_20261001.csv",
        sha256=sha * 64, raw_path=f"raw/city/city_visits/{sha * 64}.csv", size_bytes=10,
        arrived_at=dt.datetime(2026, 10, 2, arrived_hour, tzinfo=dt.UTC))
    ledger.update(delivery.delivery_id, state=state, rows_read=2, rows_quarantined=0)


def status_line(capsys) -> str:
    assert cli.main(["status"]) == 0
    return next(line for line in capsys.readouterr().out.splitlines() if line.startswith("city_visits"))


def test_a_resent_file_of_the_same_sequence_shows_the_newer_delivery(data_root, capsys):
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    record(ledger, "a", arrived_hour=6, state="superseded")  # the first file of the day
    record(ledger, "b", arrived_hour=9, state="published")  # the same name sent again later: publish took it

    assert status_line(capsys).split()[3] == "published"


def test_status_lists_what_is_not_a_delivery(data_root, capsys):
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    ledger.record_findings("city_visits", [NotADelivery(
        "city", "city_visits", "city_visits_20261399.csv", "impossible_date",
        "the date 20261399 in the name is not a real date (expected YYYYMMDD)")])

    assert cli.main(["status"]) == 0

    out = capsys.readouterr().out
    assert "not a delivery: 1 name(s) in landing/" in out
    assert "city_visits_20261399.csv: the date 20261399 in the name is not a real date" in out
