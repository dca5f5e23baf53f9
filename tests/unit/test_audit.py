"""`tesoma audit` finds identifying data, names file and column or line, and never prints the value."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tesoma import audit
from tesoma.cli import main
from transforms.pseudonymise.detect import names_from, scan


def test_detectors():
    assert scan("code 131052-308T here")["identity_code"] == 1
    assert scan("new signs 010105B123C and 010190Y1234")["identity_code"] == 2
    assert scan("call +358 40 1234567 or 050-123 4567")["phone_number"] == 2
    assert scan("mail matti.meikalainen@gmail.com")["email_address"] == 1
    assert not scan("support data@tesoma.example; noreply@example.com")  # RFC 2606 documentation domains
    assert scan("Visit by Ella Mäki", {"Ella", "Mäki"})["name"] == 2
    # pseudonyms, dates, postal codes and amounts are not findings
    assert not scan("aafzliwvabdswuvhumlmjp7ily 2026-10-01 33310 20.90 K194249191", {"Ella"})


def test_names_from_name_fields():
    assert names_from(["Ella Sofia", "Mäki-Kuusela", None, "Li"]) == {"Ella", "Sofia", "Mäki-Kuusela"}


def test_audit_names_file_and_column_not_value(tmp_path, data_root, capsys):
    clean = tmp_path / "warehouse" / "clean.parquet"
    clean.parent.mkdir()
    pq.write_table(pa.table({"person_id": ["aafzliwvabdswuvhumlmjp7ily"], "n": [3]}), clean)
    leaky = tmp_path / "warehouse" / "leaky.parquet"
    pq.write_table(pa.table({"note": ["ok", "asiakas 131052-308T soitti"], "n": [1, 2]}), leaky)
    log = tmp_path / "run.log"
    log.write_text("INFO start\nINFO phone +358 40 7654321\n", encoding="utf-8")

    findings, scanned = audit.run(__import__("tesoma.config", fromlist=["settings"]).settings(),
                                  [tmp_path / "warehouse", log])
    assert scanned == 3
    assert {(f.path.name, f.where, f.kind) for f in findings} == {
        ("leaky.parquet", "column note", "identity_code"), ("run.log", "line 2", "phone_number")}

    assert main(["audit", str(tmp_path / "warehouse"), str(log)]) == 1
    out = capsys.readouterr().out
    assert "leaky.parquet: column note" in out and "run.log: line 2" in out
    assert "131052-308T" not in out and "7654321" not in out

    assert main(["audit", str(clean)]) == 0


def test_k_anonymity_of_birth_year_sex_and_postal_code_over_persons(data_root):
    import datetime as dt

    from tesoma.config import settings
    from warehouse import catalog
    from warehouse.layout import Layout
    from warehouse.schemas import SERVICE_EVENT

    def events(person: str, birth_year: int, sex: str | None, postal_codes: list[str]) -> list[dict]:
        return [{"event_id": f"{person}-{i}", "person_id": person, "person_id_kind": "hetu", "partner": "city",
                 "feed": "city_visits", "event_start": dt.datetime(2026, 10, 1 + i, 8, tzinfo=dt.UTC),
                 "event_date": dt.date(2026, 10, 1 + i), "birth_year": birth_year, "sex": sex,
                 "home_postal_code": code, "delivery_id": "d1"} for i, code in enumerate(postal_codes)]

    rows = [
        *(e for p in ("p1", "p2", "p3", "p4", "p5") for e in events(p, 1980, "female", ["33310"])),
        *events("p6", 1980, "female", ["33400", "33310"]),  # moved: counted at the latest postal code
        *events("p7", 1990, "male", ["33300"]), *events("p8", 1990, "male", ["33300", "33300"]),
        *events("p9", 1936, "female", ["33400"]),
        *events("n1", 1950, None, ["33310"]),  # an NGO member without sex: a class of its own
    ]
    part = data_root / "warehouse" / "harmonised" / "service_event" / "partner=city" / "delivery_date=2026-10-01"
    part.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([{f.name: r.get(f.name) for f in SERVICE_EVENT} for r in rows],
                                        schema=SERVICE_EVENT), part / "part-0.parquet")

    assert str(audit.k_anonymity(settings())) == (
        "k-anonymity (birth_year, sex, home_postal_code) over 0 persons: nothing to measure")  # no catalog yet
    catalog.refresh(Layout(data_root))
    measured = audit.k_anonymity(settings())

    assert (measured.persons, measured.smallest_class, measured.persons_under_k, measured.classes_under_k) == (
        10, 1, 4, 3)
    assert str(measured) == ("k-anonymity (birth_year, sex, home_postal_code) over 10 persons: smallest class 1; "
                             "4 persons in 3 classes under 5")
