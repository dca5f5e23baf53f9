"""Data contracts: loading city_visits, clear errors for broken contracts, rules generated from them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

import contracts
from contracts import ContractError
from expectations.contract_suite import rules

SOURCE = contracts.CONTRACTS_DIR / "city_visits.yaml"
load_uncached = contracts.load.__wrapped__


# --- the real contract ---------------------------------------------------------------------------------------


def test_city_visits_loads():
    contract = contracts.load("city_visits")
    assert contract.feed == "city_visits"
    assert contract.partner == "city"
    assert contract.canonical_table == "service_event"
    assert contract.source_id_column == "kaynti_id"
    assert contract.path == SOURCE
    assert contracts.load("city_visits") is contract  # cached


def test_city_visits_file_format():
    fmt = contracts.load("city_visits").file_format
    assert (fmt.format, fmt.delimiter, fmt.encodings, fmt.decimal_separator) == (
        "csv", ";", ("utf-8-sig", "cp1252"), ",")
    assert fmt.file_name_pattern is not None


def test_city_visits_arrow_schema():
    schema = contracts.load("city_visits").arrow_schema()
    assert schema.field("asiakasmaksu").type == pa.decimal128(9, 2)
    assert schema.field("kesto_min").type == pa.int64()
    assert schema.field("alkuaika").type == pa.timestamp("s")
    assert schema.field("kaynti_id").type == pa.string()
    assert not schema.field("kaynti_id").nullable  # required
    assert schema.field("diagnoosi").nullable


def test_city_visits_classifications():
    contract = contracts.load("city_visits")
    assert contract.columns_classified("identity_code") == ["henkilotunnus"]
    assert set(contract.columns_classified("direct_identifier")) == {"sukunimi", "etunimet", "lahiosoite", "puhelin",
                                                                      "lisatieto"}
    assert contract.column("alkuaika").format == "%d.%m.%Y %H:%M"
    assert contract.column("alkuaika").timezone == "Europe/Helsinki"
    with pytest.raises(KeyError):
        contract.column("no_such_column")


def test_unknown_feed():
    with pytest.raises(ContractError, match="no contract for feed 'nope'"):
        contracts.load("nope")


# --- broken contracts --------------------------------------------------------------------------------------


def broken(tmp_path: Path, edit, name: str = "city_visits") -> Path:
    """A copy of city_visits.yaml, saved as ``<name>.yaml`` after ``edit(document)``."""
    document = yaml.safe_load(SOURCE.read_text(encoding="utf-8"))
    edit(document)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def expect_error(feed: str, directory: Path, *fragments: str) -> str:
    with pytest.raises(ContractError) as info:
        load_uncached(feed, directory)
    message = str(info.value)
    assert str(directory / f"{feed}.yaml") in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_copy_of_the_real_contract_loads(tmp_path):
    shutil.copy(SOURCE, tmp_path / "city_visits.yaml")
    assert load_uncached("city_visits", tmp_path).column_names == contracts.load("city_visits").column_names


def test_bad_yaml(tmp_path):
    text = SOURCE.read_text(encoding="utf-8").replace("name: city_visits\n", "name: [city_visits\n", 1)
    (tmp_path / "city_visits.yaml").write_text(text, encoding="utf-8")
    expect_error("city_visits", tmp_path, "not valid YAML")


def test_yaml_that_is_not_a_mapping(tmp_path):
    (tmp_path / "city_visits.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    expect_error("city_visits", tmp_path, "not a valid ODCS v3 contract")


def test_unknown_top_level_key(tmp_path):
    def edit(doc):
        doc["deliverySchedule"] = "daily"

    broken(tmp_path, edit)
    message = expect_error("city_visits", tmp_path, "not a valid ODCS v3 contract")
    assert "deliverySchedule" in message


def test_wrong_classification(tmp_path):
    def edit(doc):
        doc["schema"][0]["properties"][1]["classification"] = "secret"

    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "column henkilotunnus", "'secret'", "identity_code")


def test_name_differs_from_file_name(tmp_path):
    def edit(doc):
        doc["name"] = "city_visitz"

    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "'city_visitz'", "city_visits.yaml", "must match")


def test_missing_partner(tmp_path):
    def edit(doc):
        doc["customProperties"] = [p for p in doc["customProperties"] if p["property"] != "partner"]

    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "'partner'")


def test_missing_landing_server(tmp_path):
    def edit(doc):
        doc["servers"][0]["server"] = "elsewhere"

    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "landing")


def test_unsupported_logical_type(tmp_path):
    def edit(doc):
        doc["schema"][0]["properties"][0]["logicalType"] = "array"

    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "kaynti_id")


def test_duplicate_column(tmp_path):
    def edit(doc):
        props = doc["schema"][0]["properties"]
        props.append(dict(props[0]))

    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "unique")


def test_source_id_column_must_exist(tmp_path):
    def edit(doc):
        for p in doc["customProperties"]:
            if p["property"] == "sourceIdColumn":
                p["value"] = "visit_id"

    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "'visit_id'")


# --- rules generated from the contract ---------------------------------------------------------------------


def test_a_required_rule_for_every_required_column():
    contract = contracts.load("city_visits")
    required = [c.name for c in contract.columns if c.required]
    assert {"kaynti_id", "henkilotunnus", "palvelu", "alkuaika", "paivitetty"} <= set(required)
    got = [(kwargs["column"], meta["rule"]) for name, kwargs, meta in rules(contract)
           if name == "ExpectColumnValuesToNotBeNull"]
    assert got == [(c, "required") for c in required]


def test_unique_rule_only_for_kaynti_id():
    got = [kwargs for name, kwargs, _ in rules(contracts.load("city_visits")) if name == "ExpectColumnValuesToBeUnique"]
    assert got == [{"column": "kaynti_id"}]


def test_allowed_values_for_palvelu_are_the_contract_codes():
    got = {kwargs["column"]: kwargs["value_set"] for name, kwargs, _ in rules(contracts.load("city_visits"))
           if name == "ExpectColumnValuesToBeInSet"}
    assert got["palvelu"] == ["TK_VO", "SHT", "AITNEU", "LANEU", "SOSNEU", "HYVNEU"]
    assert got["tila"] == ["toteutunut", "peruttu", "ei saapunut"]


def test_every_rule_has_meta_for_the_partner():
    contract = contracts.load("city_visits")
    for name, kwargs, meta in rules(contract):
        assert name.startswith("ExpectColumn")
        assert meta["column"] == kwargs.get("column", kwargs.get("column_B"))
        assert meta["rule"] in {"required", "unique", "pattern", "allowed_values", "range", "not_after"}
        assert meta["advice"]


def test_assessment_may_not_be_after_the_visit():
    """The contract's ``notAfter`` becomes a rule comparing the two columns of a row, blanks passing."""
    got = [(kwargs, meta["column"]) for name, kwargs, meta in rules(contracts.load("city_visits"))
           if meta["rule"] == "not_after"]
    assert got == [({"column_A": "alkuaika", "column_B": "hoidon_tarve_arvioitu", "or_equal": True,
                     "ignore_row_if": "either_value_is_missing"}, "hoidon_tarve_arvioitu")]


def test_not_after_must_name_a_column_of_the_same_type(tmp_path):
    def edit(raw):
        prop = next(p for p in raw["schema"][0]["properties"] if p["name"] == "hoidon_tarve_arvioitu")
        prop["customProperties"] = [{"property": "notAfter", "value": "kesto_min"}]
    broken(tmp_path, edit)
    expect_error("city_visits", tmp_path, "notAfter 'kesto_min' must name another column of the same logicalType")


def test_pattern_and_range_rules():
    by_rule = {(meta["rule"], kwargs.get("column")): kwargs
               for _, kwargs, meta in rules(contracts.load("city_visits"))}
    assert by_rule[("pattern", "postinumero")]["regex"] == r"^\d{5}$"
    assert by_rule[("range", "kesto_min")] == {"column": "kesto_min", "min_value": 0, "max_value": 1440}
    assert by_rule[("range", "asiakasmaksu")] == {"column": "asiakasmaksu", "min_value": 0, "max_value": 1000}


def test_rules_do_not_import_great_expectations():
    code = ("import sys, contracts; from expectations.contract_suite import rules; "
            "assert rules(contracts.load('city_visits')); "
            "assert 'great_expectations' not in sys.modules, 'rules() imported great_expectations'")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
