"""`tesoma run --from … --to …`: a range of delivery dates in one process, in batches, as the history DAGs
process it; running it again changes nothing; the date arguments say what is wrong."""

from __future__ import annotations

import datetime as dt

from synthetic import generate
from tesoma import cli
from tesoma.config import settings
from warehouse import states
from warehouse.ledger import Ledger

START = dt.date(2026, 10, 1)


def test_a_range_of_every_feed_in_batches_and_again_changes_nothing(data_root, capsys, monkeypatch):
    generate(data_root, start=START, days=10, residents=300, seed=3, fault_rate=0.0)
    monkeypatch.setenv("TESOMA_BATCH_DATES", "4")

    assert cli.main(["run", "--from", "2026-10-01", "--to", "2026-10-08", "--feed", "city_visits",
                     "--feed", "ngo_activity"]) == 0
    out = capsys.readouterr().out
    ledger = Ledger(settings().ledger_url)
    done = [d for d in ledger.all() if d.state == "published"]
    assert {d.feed for d in done} == {"city_visits", "ngo_activity"}
    assert max(d.delivery_date for d in done) == dt.date(2026, 10, 8)  # not the 9th or 10th: --to is the last
    assert "city_visits 2026-10:" in out and "ngo_activity 2026-10:" in out
    # a batch of up to 4 dates is one warehouse state: 8 dates of two feeds → 2 + 2 states (or fewer)
    assert len(states.all_states(ledger.engine)) <= 4
    assert f"{len(done)} published" in out.splitlines()[-1] and "(0 already done before)" in out.splitlines()[-1]

    before = len(states.all_states(ledger.engine))
    assert cli.main(["run", "--from", "2026-10-01", "--to", "2026-10-08", "--feed", "city_visits",
                     "--feed", "ngo_activity"]) == 0
    assert f"({len(done)} already done before)" in capsys.readouterr().out.splitlines()[-1]
    assert len(states.all_states(ledger.engine)) == before


def test_date_arguments_say_what_is_wrong(data_root, capsys):
    assert cli.main(["run", "--from", "2026-10-08", "--to", "2026-10-01"]) == 2
    assert "--from 2026-10-08 is after --to 2026-10-01" in capsys.readouterr().err
    assert cli.main(["run", "--from", "2026-10-01"]) == 2
    assert "both --from and --to" in capsys.readouterr().err
    assert cli.main(["run", "--date", "2026-10-01", "--from", "2026-10-01", "--to", "2026-10-02"]) == 2
    assert "either --date or --from/--to" in capsys.readouterr().err
