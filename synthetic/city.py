"""The City of Tampere's deliveries: the CSV drops under ``landing/city/`` and the reporting database.

The city's exports follow one convention, which the connector is written against:

- encoding UTF-8 with a byte-order mark (``utf-8-sig``) or Windows-1252 (``cp1252``): the city has
  two export tools, so it varies by day (seeded, about half each);
- ``;`` separator, a header row, CRLF line ends, standard CSV quoting (fields with ``;``, ``"`` or a
  line break in double quotes, a ``"`` inside doubled);
- Finnish dates ``dd.mm.yyyy`` and times ``dd.mm.yyyy hh:mm`` (local Helsinki time), decimal comma;
- one file per day, ``<feed>_YYYYMMDD.csv``, arriving at 06:00 the next morning; a corrected
  re-delivery of the same day is ``<feed>_YYYYMMDD_2.csv`` and replaces the first file completely.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from synthetic import city_access, city_activity, city_reporting_db, city_visits, faults
from synthetic.answer_key import AnswerKey, OutputFile
from synthetic.fileformats import Table, delimited_text, set_arrival
from synthetic.population import Population
from synthetic.schedule import daily_arrival, iso_with_offset
from synthetic.seeding import stream

PARTNER = "city"
ENCODINGS = ("utf-8-sig", "cp1252")
REDELIVERY_DELAY = dt.timedelta(hours=8)
FEEDS = ("city_visits", "city_activity", "city_access")


def landing_path(feed: str, day: dt.date, sequence: int = 1) -> str:
    suffix = "" if sequence == 1 else f"_{sequence}"
    return f"landing/{PARTNER}/{feed}/{feed}_{day:%Y%m%d}{suffix}.csv"


def day_encoding(seed: int, feed: str, day: dt.date) -> str:
    return stream(seed, PARTNER, feed, day.isoformat(), "encoding").choice(ENCODINGS)


def deliver_csv(
    key: AnswerKey, plan: faults.FaultPlan, seed: int, feed: str, day: dt.date, table: Table
) -> int:
    """Deliver one day's CSV of a city feed, with the faults planned for it. Returns the record count."""
    kinds = plan.kinds(feed, day)
    encoding = day_encoding(seed, feed, day)
    path = landing_path(feed, day)
    expected = daily_arrival(day)
    first = table.copy()
    injected: list[dict] = []

    def record(kind: str, detail: dict | None) -> dict | None:
        if detail is None:
            return None
        fault = {"kind": kind, "forced": kinds[kind], "path": path, **detail}
        injected.append(fault)
        return fault

    def rng(kind: str):
        return faults.fault_rng(seed, feed, day, kind)

    redelivery = None
    if faults.REDELIVERY in kinds:
        detail = faults.degrade_for_redelivery(first, rng(faults.REDELIVERY))
        if detail is not None:
            detail["corrected_path"] = landing_path(feed, day, 2)
        redelivery = record(faults.REDELIVERY, detail)
    duplicates = None
    if faults.DUPLICATE_ROWS in kinds:
        duplicates = record(
            faults.DUPLICATE_ROWS, faults.duplicate_records(first, rng(faults.DUPLICATE_ROWS))
        )
    if faults.INVALID_CODES in kinds and feed == "city_visits":
        record(
            faults.INVALID_CODES,
            faults.invalid_city_visit_codes(first, rng(faults.INVALID_CODES), duplicates),
        )
    delivered_encoding = encoding
    if faults.WRONG_ENCODING in kinds:
        data, detail = faults.encode_wrongly(first, encoding, rng(faults.WRONG_ENCODING))
        record(faults.WRONG_ENCODING, detail)
        delivered_encoding = "utf-16" if detail["variant"] == "utf16" else encoding
    else:
        data = delimited_text(first).encode(encoding)
    arrived = expected
    if faults.LATE_FILE in kinds:
        arrived = expected + faults.LATENESS
        record(
            faults.LATE_FILE,
            {"expected_at": iso_with_offset(expected), "arrived_at": iso_with_offset(arrived)},
        )
    delivery = key.deliver(
        partner=PARTNER,
        feed=feed,
        covers=day.isoformat(),
        files=[OutputFile(path, data, len(first.rows))],
        expected_at=expected,
        arrived_at=arrived,
        faults=injected,
        encoding=delivered_encoding,
    )
    if redelivery is not None:
        corrected = redelivery["corrected_path"]
        second = key.deliver(
            partner=PARTNER,
            feed=feed,
            covers=day.isoformat(),
            sequence=2,
            replaces=path,
            files=[OutputFile(corrected, delimited_text(table).encode(encoding), len(table.rows))],
            expected_at=expected,
            arrived_at=arrived + REDELIVERY_DELAY,
            encoding=encoding,
        )
        second["faults"].extend(f for f in delivery["faults"] if key.fault(f)["kind"] == faults.REDELIVERY)
    return len(first.rows)


def deliver(
    key: AnswerKey,
    plan: faults.FaultPlan,
    population: Population,
    days: list[dt.date],
    seed: int,
    progress: Callable[[str], None],
) -> None:
    """All of the city's deliveries over the period, and the reporting database at the period's end."""
    visits = city_visits.simulate(population, days, seed)
    access = city_access.tables(days, seed)
    residents = len(population.residents)
    for day in days:
        visit_table = Table(list(city_visits.COLUMNS), [v.csv_row() for v in visits.by_day[day]])
        counts = {
            "city_visits": deliver_csv(key, plan, seed, "city_visits", day, visit_table),
            "city_activity": deliver_csv(
                key, plan, seed, "city_activity", day, city_activity.day_table(day, residents, seed)
            ),
            "city_access": deliver_csv(key, plan, seed, "city_access", day, access[day]),
        }
        progress(f"{day.isoformat()} city: " + ", ".join(f"{feed} {n} rows" for feed, n in counts.items()))
    path = key.root / city_reporting_db.DATABASE
    rows = city_reporting_db.write(path, list(visits.latest.values()))
    if days:
        set_arrival(path, daily_arrival(days[-1]))
    key.source(
        "city_reporting",
        path=city_reporting_db.DATABASE.as_posix(),
        table=city_reporting_db.TABLE,
        rows=rows,
        watermark_column="paivitetty",
    )
    key.extra.setdefault("notable_records", {})["city_visits"] = visits.showcase
    progress(f"city reporting database: {rows} visits")
