"""The warehouse's history on a real data root: a day of city_visits and its correction, both states
readable afterwards (by state id, by time, by tag); what each commit and column says about itself; and
what an operator is told when the catalog, a data file or the layout is not what the warehouse expects."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import warehouse
from synthetic import generate
from tesoma import steps
from tesoma.cli import main
from tests.conftest import TEST_KEY
from warehouse import catalog, readers, states
from warehouse.iceberg import NeedsMigration, Place, WarehouseError, describe_warehouse, load_table, open_catalog
from warehouse.layout import Layout
from warehouse.ledger import Ledger

DAY = dt.date(2026, 10, 1)
HELSINKI = ZoneInfo("Europe/Helsinki")
DICTIONARY = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"
STATUS = {"toteutunut": "completed", "peruttu": "cancelled", "ei saapunut": "no_show"}
"""The city's visit states as the warehouse names them (config/mappings/visit_status.csv)."""


@dataclass(frozen=True)
class Counts:
    """What an analyst would count for the day: events, events per status, diagnoses."""

    events: int
    by_status: dict[str, int]
    diagnoses: int


@dataclass(frozen=True)
class History:
    root: Path
    before: states.State  # after the original delivery
    after: states.State  # after its correction
    original: Counts
    corrected: Counts


# --- the data root ------------------------------------------------------------------------------------


def point_at(mp: pytest.MonkeyPatch, root: Path) -> None:
    """The TESOMA_* variables for ``root``, with the default (embedded) catalog and warehouse."""
    mp.setenv("TESOMA_DATA_ROOT", str(root))
    mp.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    for name in ("TESOMA_LEDGER_URL", "TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE"):
        mp.delenv(name, raising=False)


def publish_day(root: Path, residents: int = 300) -> Path:
    """One generated day of city_visits published and the views refreshed; returns the delivered CSV."""
    generate(root, start=DAY, days=1, residents=residents, seed=7, fault_rate=0.0)
    (result,) = steps.process_date("city_visits", DAY)
    assert result["state"] == "published", result
    catalog.refresh(Layout(root))
    (delivered,) = sorted((root / "landing" / "city" / "city_visits").glob("*.csv"))
    return delivered


def head(root: Path) -> states.State:
    return states.head(Ledger(Place.for_root(root).ledger_url).engine)


def read_csv(path: Path) -> tuple[str, list[str], list[list[str]]]:
    """(encoding, header, rows) of a city CSV (UTF-8 with BOM or Windows-1252, ';', CRLF)."""
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    header, *rows = csv.reader(io.StringIO(raw.decode(encoding), newline=""), delimiter=";")
    return encoding, header, rows


def counts_in_csv(path: Path) -> Counts:
    """The counts the warehouse must show for a delivered file (every row valid: nothing quarantined)."""
    _, header, rows = read_csv(path)
    status, diagnosis = header.index("tila"), header.index("diagnoosi")
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[STATUS[row[status]]] = by_status.get(STATUS[row[status]], 0) + 1
    return Counts(len(rows), by_status, sum(1 for row in rows if row[diagnosis].strip()))


def land_correction(original: Path) -> Path:
    """The city's corrected re-delivery of the day (``_2``, a higher sequence): one completed visit without a
    diagnosis was in fact cancelled, and one visit with a diagnosis is withdrawn."""
    encoding, header, rows = read_csv(original)
    status, diagnosis = header.index("tila"), header.index("diagnoosi")
    cancelled = next(r for r in rows if r[status] == "toteutunut" and not r[diagnosis].strip())
    cancelled[status] = "peruttu"
    rows.remove(next(r for r in rows if r[diagnosis].strip()))
    text = io.StringIO(newline="")
    csv.writer(text, delimiter=";", lineterminator="\r\n").writerows([header, *rows])
    corrected = original.with_name(original.stem + "_2.csv")
    corrected.write_bytes(text.getvalue().encode(encoding))
    return corrected


def counts(con) -> Counts:
    (events,) = con.execute("select count(*) from service_event").fetchone()
    by_status = dict(con.execute("select status, count(*) from service_event group by status").fetchall())
    (diagnoses,) = con.execute("select count(*) from event_diagnosis").fetchone()
    return Counts(events, by_status, diagnoses)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    """A day of city_visits published (state ``before``), then its correction (state ``after``)."""
    root = tmp_path_factory.mktemp("history") / "data"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, root)
        delivered = publish_day(root, residents=600)
        before = head(root)
        corrected_file = land_correction(delivered)
        results = steps.process_date("city_visits", DAY)
        assert sorted(r["state"] for r in results) == ["published", "superseded"], results
        catalog.refresh(Layout(root))
        yield History(root, before, head(root), counts_in_csv(delivered), counts_in_csv(corrected_file))


@pytest.fixture
def fresh_root(data_root, monkeypatch) -> Path:
    """An empty data root of its own (for the tests that damage it), the Iceberg defaults in force."""
    point_at(monkeypatch, data_root)
    return data_root


def cli_error(capsys, *argv: str) -> str:
    """Run ``tesoma argv…``; it must fail with exit 1 and one line ``tesoma: error: …``, which is returned."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 1, (code, out, err)
    assert err.startswith("tesoma: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


# --- the correction story ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_correction_changes_the_views_and_the_state_before_it_stays_readable(history):
    original, corrected = history.original, history.corrected
    # The correction cancels one completed visit and withdraws one with a diagnosis.
    assert corrected.events == original.events - 1
    assert corrected.by_status["cancelled"] == original.by_status.get("cancelled", 0) + 1
    assert corrected.diagnoses == original.diagnoses - 1
    assert history.after.state_id == history.before.state_id + 1
    assert history.after.delivery_id.startswith(f"city_visits-city-{DAY:%Y%m%d}-2-")

    with warehouse.connect(history.root) as con:
        assert counts(con) == corrected
        assert con.execute("select state_id from warehouse_state").fetchone() == (history.after.state_id,)

    between = history.before.created_at + (history.after.created_at - history.before.created_at) / 2
    naive_helsinki = between.astimezone(HELSINKI).replace(tzinfo=None).isoformat()
    for when in (history.before.state_id, str(history.before.state_id), between, between.isoformat(),
                 naive_helsinki):
        with warehouse.as_of(when, history.root) as con:
            assert counts(con) == original, when
            assert con.execute("select state_id from warehouse_state").fetchone() == (history.before.state_id,)
    for when in (history.after.state_id, history.after.created_at, dt.datetime.now(dt.UTC)):
        with warehouse.as_of(when, history.root) as con:
            assert counts(con) == corrected, when

    ledger = Ledger(Place.for_root(history.root).ledger_url)
    assert ledger.get(history.before.delivery_id).state == "superseded"
    assert ledger.get(history.after.delivery_id).state == "published"


@pytest.mark.e2e
def test_a_tag_pins_the_state_before_the_correction(history):
    history_module = pytest.importorskip("warehouse.history", reason="warehouse.history (tags) is not there yet")
    place = Place.for_root(history.root)
    tagged = history_module.tag(place, "before-correction", state_id=history.before.state_id, note="test")
    assert tagged.state_id == history.before.state_id

    with warehouse.as_of("before-correction", history.root) as con:
        assert counts(con) == history.original
    # Other engines read the same state by the Iceberg tag of the same name on every table.
    cat = open_catalog(place)
    for table, snapshot_id in history.before.snapshots.items():
        assert load_table(cat, table).metadata.refs["before-correction"].snapshot_id == snapshot_id, table


@pytest.mark.e2e
def test_query_as_of_prints_the_count_before_the_correction(history, monkeypatch, capsys):
    point_at(monkeypatch, history.root)
    sql = "select count(*) as events from service_event"

    assert main(["query", "--as-of", str(history.before.state_id), sql]) == 0
    out = capsys.readouterr().out.split()
    assert out == ["events", str(history.original.events)]

    assert main(["query", sql]) == 0
    assert capsys.readouterr().out.split() == ["events", str(history.corrected.events)]


@pytest.mark.e2e
def test_shell_as_of_answers_from_the_state_before_the_correction(history, monkeypatch, capsys):
    point_at(monkeypatch, history.root)
    typed = iter(["select count(*) as events", "from service_event;", ".quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(typed))

    assert main(["shell", "--as-of", str(history.before.state_id)]) == 0
    out = capsys.readouterr().out
    assert f"(warehouse state {history.before.state_id})" in out.splitlines()[0]
    assert re.search(rf"events\s+{history.original.events}\b", out), out


@pytest.mark.e2e
def test_every_commit_names_its_delivery_and_the_delivered_content(history):
    place = Place.for_root(history.root)
    cat, ledger = open_catalog(place), Ledger(place.ledger_url)
    for state in (history.before, history.after):
        sha256 = ledger.get(state.delivery_id).sha256
        assert set(state.snapshots) == {"service_event", "event_diagnosis"}
        for table, snapshot_id in state.snapshots.items():
            summary = load_table(cat, table).snapshot_by_id(snapshot_id).summary
            assert summary["tesoma.delivery-id"] == state.delivery_id, (table, state.state_id)
            assert summary["tesoma.content-sha256"] == sha256, (table, state.state_id)
            assert summary["tesoma.partition"] == f"city/{DAY.isoformat()}"
    assert ledger.get(history.before.delivery_id).sha256 != ledger.get(history.after.delivery_id).sha256


@pytest.mark.e2e
def test_column_descriptions_are_the_iceberg_docs_the_duckdb_comments_and_the_dictionary(history, capsys):
    cat = open_catalog(Place.for_root(history.root))
    assert main(["dictionary"]) == 0
    printed = capsys.readouterr().out
    committed = DICTIONARY.read_text(encoding="utf-8")
    with warehouse.connect(history.root) as con:
        for table in history.after.snapshots:
            described = {name: description for name, _type, description in describe_warehouse(table)}
            assert all(described.values()), f"{table}: a column without a description"

            docs = {f.name: f.doc for f in load_table(cat, table).schema().fields}
            assert docs == described, table

            comments = dict(con.execute("select column_name, comment from duckdb_columns() where table_name = ?",
                                        [table]).fetchall())
            assert comments == described, table

            for name, type_, description in describe_warehouse(table):
                row = f"| `{name}` | {type_} | {description} |"
                assert row in printed.split(f"## `{table}`")[1].split("\n## ")[0], row
                assert row in committed.split(f"## `{table}`")[1].split("\n## ")[0], (
                    f"{row} is not in docs/data-dictionary.md: it is stale, run "
                    "`tesoma dictionary > docs/data-dictionary.md`")


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_a_missing_catalog_names_the_table_and_what_to_do(fresh_root, capsys):
    publish_day(fresh_root)
    state = head(fresh_root)
    (fresh_root / "warehouse" / "iceberg" / "catalog.sqlite").unlink()

    with pytest.raises(WarehouseError) as refreshed:
        catalog.refresh(Layout(fresh_root))
    with pytest.raises(WarehouseError) as old:
        warehouse.as_of(state.state_id, fresh_root)
    not_in_catalog = re.compile(r"the Iceberg catalog \S*catalog\.sqlite is missing, but the ledger's warehouse state "
                                r"records tables in it \(tesoma\.event_diagnosis, tesoma\.service_event\): restore "
                                r"it and warehouse/iceberg from the same backup")
    for message in (str(refreshed.value), str(old.value)):
        assert not_in_catalog.search(message), message

    err = cli_error(capsys, "query", "--as-of", str(state.state_id), "select count(*) from service_event")
    assert not_in_catalog.search(err), err


@pytest.mark.e2e
def test_a_corrupt_catalog_is_a_clear_error(fresh_root, capsys):
    publish_day(fresh_root)
    state = head(fresh_root)
    catalog_file = fresh_root / "warehouse" / "iceberg" / "catalog.sqlite"
    catalog_file.write_bytes(b"this is not an SQLite database\n" * 200)

    for attempt in (lambda: catalog.refresh(Layout(fresh_root)), lambda: warehouse.as_of(state.state_id, fresh_root)):
        with pytest.raises(WarehouseError) as caught:
            attempt()
        message = str(caught.value)
        assert f"cannot open the Iceberg catalog at sqlite:///{catalog_file}" in message
        assert "restore the catalog database from its backup" in message

    err = cli_error(capsys, "query", "--as-of", str(state.state_id), "select 1")
    assert "cannot open the Iceberg catalog" in err and "restore" in err


@pytest.mark.e2e
def test_a_deleted_data_file_is_named_and_republishing_puts_it_back(fresh_root, capsys):
    publish_day(fresh_root)
    state = head(fresh_root)
    with warehouse.connect(fresh_root) as con:
        published = counts(con)
    (data_file,) = readers.files_for(Place.for_root(fresh_root), state)["service_event"]
    assert data_file.name.startswith(state.delivery_id)
    content = data_file.read_bytes()
    data_file.unlink()

    with pytest.raises(WarehouseError) as caught:
        catalog.refresh(Layout(fresh_root))
    message = str(caught.value)
    assert "table tesoma.service_event: 1 data file(s)" in message
    assert str(data_file) in message
    assert "`tesoma run --feed city_visits --date 2026-10-01`" in message
    err = cli_error(capsys, "query", "--as-of", str(state.state_id), "select count(*) from service_event")
    assert data_file.name in err

    result = steps.publish(state.delivery_id)
    assert result["state"] == "published"
    assert data_file.read_bytes() == content  # the same file again, and no new state: nothing else changed
    assert head(fresh_root) == state
    catalog.refresh(Layout(fresh_root))
    with warehouse.connect(fresh_root) as con:
        assert counts(con) == published


@pytest.mark.e2e
def test_an_old_layout_data_root_asks_for_the_migration(fresh_root, capsys):
    partition = fresh_root / "warehouse" / "harmonised" / "x" / "partner=a" / "delivery_date=2026-10-01"
    partition.mkdir(parents=True)
    pq.write_table(pa.table({"n": [1, 2]}), partition / "part-0.parquet")

    for attempt in (lambda: catalog.refresh(Layout(fresh_root)), lambda: warehouse.as_of(1, fresh_root)):
        with pytest.raises(NeedsMigration) as caught:
            attempt()
        assert "pre-Iceberg layout: run `tesoma warehouse migrate`" in str(caught.value)

    for argv in (["query", "select 1"], ["query", "--as-of", "1", "select 1"]):
        assert "run `tesoma warehouse migrate`" in cli_error(capsys, *argv)


@pytest.mark.e2e
def test_as_of_an_unknown_name_or_a_time_before_the_first_state_is_a_clear_error(history, monkeypatch, capsys):
    point_at(monkeypatch, history.root)
    cases = {
        "no-such-tag": "'no-such-tag' is neither a time, a state id nor a tag",
        "2020-01-01T00:00": "the warehouse had no state at 2020-01-01T00:00:00+02:00; the first is from",
        "99": f"no warehouse state 99; states are 1 to {history.after.state_id}",
    }
    for when, expected in cases.items():
        with pytest.raises(WarehouseError, match=re.escape(expected)):
            warehouse.as_of(when, history.root)
        assert expected in cli_error(capsys, "query", "--as-of", when, "select 1")
