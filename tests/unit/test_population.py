"""population → population: age bands in one spelling, sex as male/female, and a generated yearly file
through the steps with every resident accounted for."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pyarrow as pa
import pytest

import contracts
from synthetic import generate
from tesoma import steps
from tesoma.config import settings
from tesoma.feeds import connector_for
from transforms.harmonise import Context
from transforms.harmonise.population import harmonise, normalise_age_band
from warehouse.ledger import Ledger
from warehouse.readers import read_table
from warehouse.schemas import POPULATION

CONTEXT = Context(partner="reference", feed="population", delivery_id="d-pop")


def population_rows(**overrides: list) -> pa.Table:
    """Three validated rows of a population file, as the connector types them."""
    columns = {
        "vuosi": pa.array([2026, 2026, 2026], pa.int64()),
        "postinumero": pa.array(["33310", "33310", "33400"]),
        "postinumeroalue": pa.array(["Tesoma", "Tesoma", "Lentävänniemi"]),
        "ikaryhma": pa.array(["0-4", "0-4", "100-"]),
        "sukupuoli": pa.array(["mies", "nainen", "nainen"]),
        "asukkaat": pa.array([114, 109, 1], pa.int64()),
    }
    for name, values in overrides.items():
        columns[name] = pa.array(values, columns[name].type)
    return pa.table(columns)


def test_population_rows_become_canonical_rows():
    tables, report = harmonise(population_rows(), {}, CONTEXT)

    assert list(tables) == ["population"]
    assert tables["population"].to_pylist() == [
        {"year": 2026, "postal_code": "33310", "age_band": "0-4", "sex": "male", "residents": 114,
         "delivery_id": "d-pop"},
        {"year": 2026, "postal_code": "33310", "age_band": "0-4", "sex": "female", "residents": 109,
         "delivery_id": "d-pop"},
        {"year": 2026, "postal_code": "33400", "age_band": "100+", "sex": "female", "residents": 1,
         "delivery_id": "d-pop"},
    ]
    assert tables["population"].schema.equals(POPULATION, check_metadata=True)
    assert report.unmapped == {}


@pytest.mark.parametrize(("given", "expected"), [
    ("0-4", "0-4"),
    ("95-99", "95-99"),
    ("100-", "100+"),
    ("85+", "85+"),
    ("85 -", "85+"),
    ("5 – 9", "5-9"),  # an en dash, spaces around it
    ("05-09", "5-9"),
    ("00-04", "0-4"),
    ("100 - 104", "100-104"),
])
def test_age_bands_are_normalised(given, expected):
    assert normalise_age_band(pa.array([given, None])).to_pylist() == [expected, None]


def test_every_age_band_spelling_the_contract_accepts_is_normalised():
    pattern = contracts.load("population").column("ikaryhma").pattern
    for given in ("0-4", "100-", "85+", "85 -", "5 – 9", "5–9", "05-09"):
        assert re.match(pattern, given), given
        assert re.fullmatch(r"\d+-\d+|\d+\+", normalise_age_band(pa.array([given]))[0].as_py())
    for rejected in ("0-4 v", "yli 85", "85-v", ""):
        assert not re.match(pattern, rejected), rejected


def test_an_unknown_sex_maps_to_null_and_is_counted():
    # The contract allows only mies/nainen, so this happens only if the two drift apart.
    tables, report = harmonise(population_rows(sukupuoli=["mies", "yhteensä", "nainen"]), {}, CONTEXT)
    assert tables["population"]["sex"].to_pylist() == ["male", None, "female"]
    assert dict(report.unmapped) == {"population_sex": 1}


def test_input_is_not_modified():
    table = population_rows()
    before = table.to_pylist()
    harmonise(table, {}, CONTEXT)
    assert table.to_pylist() == before


def test_population_is_reference_data_without_person_columns():
    connector = connector_for("population")
    assert connector.contract.partner == "reference"
    assert {c.classification for c in connector.contract.columns} <= {"internal", "quasi_identifier"}


def test_a_generated_population_file_is_published_whole(data_root):
    generate(data_root, start=dt.date(2026, 10, 1), days=1, residents=500, seed=1, fault_rate=0)
    path = data_root / "landing" / "reference" / "population" / "population_2026.csv"
    source = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline=""), delimiter=";"))
    (landed,) = connector_for("population").discover_all(data_root / "landing")
    assert landed.delivery_date == dt.date(2026, 1, 1)  # population_YYYY.csv: delivered for 1 January

    (result,) = steps.process_date("population", dt.date(2026, 1, 1))

    assert result["state"] == "published"
    (delivery,) = Ledger(settings().ledger_url).for_date("population", dt.date(2026, 1, 1))
    assert delivery.rows_read == len(source) == 7 * 21 * 2
    assert delivery.rows_read == delivery.rows_published + delivery.rows_quarantined
    assert delivery.rows_quarantined == 0
    out = read_table(data_root, "population", partner="reference", delivery_date=dt.date(2026, 1, 1))
    assert out.num_rows == delivery.rows_published
    assert sum(out["residents"].to_pylist()) == sum(int(r["asukkaat"]) for r in source) > 0
    assert set(out["sex"].to_pylist()) == {"male", "female"}
    assert set(out["year"].to_pylist()) == {2026}
    assert "100+" in out["age_band"].to_pylist() and "100-" not in out["age_band"].to_pylist()
