"""A delivery is one partner's content for one date: equal bytes elsewhere are deliveries of their own."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

import warehouse.ledger as ledger_module
from warehouse.ledger import Ledger

DAY = dt.date(2026, 10, 8)
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of no bytes


def land(ledger: Ledger, partner: str, day: dt.date, sha: str = EMPTY):
    return ledger.record_landed(partner=partner, feed="ngo_activity", delivery_date=day, sequence=1,
                                source_name=f"ngo_activity_{day:%Y%m%d}.csv", sha256=sha,
                                raw_path=f"raw/{partner}/ngo_activity/{sha}.csv", size_bytes=0, arrived_at=None)


def test_equal_bytes_from_two_partners_or_two_dates_are_separate_deliveries(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    first, created_first = land(ledger, "ngo_setlementti", DAY)
    other_partner, created_other = land(ledger, "ngo_mll", DAY)
    next_day, created_next = land(ledger, "ngo_setlementti", DAY + dt.timedelta(days=1))
    again, created_again = land(ledger, "ngo_setlementti", DAY)
    assert (created_first, created_other, created_next, created_again) == (True, True, True, False)
    assert len({first.delivery_id, other_partner.delivery_id, next_day.delivery_id}) == 3
    assert again.delivery_id == first.delivery_id
    assert other_partner.partner == "ngo_mll"


def test_a_ledger_keyed_by_content_alone_is_upgraded_with_its_history(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the deliveries table as an earlier version created it
        conn.execute(sa.text(
            "CREATE TABLE deliveries (delivery_id VARCHAR(80) PRIMARY KEY, partner VARCHAR(40) NOT NULL, "
            "feed VARCHAR(40) NOT NULL, delivery_date DATE NOT NULL, sequence INTEGER NOT NULL, "
            "source_name VARCHAR(255) NOT NULL, sha256 VARCHAR(64) NOT NULL, raw_path VARCHAR(500) NOT NULL, "
            "size_bytes BIGINT NOT NULL, landed_at DATETIME NOT NULL, state VARCHAR(20) NOT NULL, "
            "updated_at DATETIME NOT NULL, CONSTRAINT uq_delivery_content UNIQUE (feed, sha256))"))
        conn.execute(sa.text(
            "INSERT INTO deliveries VALUES ('old-1', 'ngo_setlementti', 'ngo_activity', '2026-10-08', 1, "
            "'ngo_activity_20261008.csv', :sha, 'raw/x.csv', 0, '2026-10-09 06:00:00', 'published', "
            "'2026-10-09 06:00:00')"), {"sha": EMPTY})
    engine.dispose()
    ledger_module._prepared_urls.discard(url)

    ledger = Ledger(url)
    assert [d.delivery_id for d in ledger.all()] == ["old-1"]
    _, created = land(ledger, "ngo_mll", DAY)
    assert created
    assert {c["name"] for c in sa.inspect(ledger.engine).get_unique_constraints("deliveries")} == {
        "uq_delivery_content_per_date"}
