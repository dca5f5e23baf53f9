"""Every contract is valid ODCS for the tools partners use, not only for our own loader.

`datacontract lint` (datacontract-cli) reads the YAML without turning dates into timestamps and validates
it against the ODCS JSON schema (draft 2019-09, so `unevaluatedProperties` counts) before parsing it. This
test does the same with the schema shipped in the installed ``open_data_contract_standard`` package, so a
contract our pydantic-based loader accepts but the standard rejects (e.g. ``timezone: Europe/Helsinki``,
which must be a boolean) fails here, with the path of each violation.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

import contracts

CONTRACT_FILES = sorted(contracts.CONTRACTS_DIR.glob("*.yaml"))


class _NoTimestamps(yaml.SafeLoader):
    """YAML as datacontract-cli reads it: `2026-10-01` stays a string, as JSON would have it."""


_NoTimestamps.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text("utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    assert cls is jsonschema.Draft201909Validator, "the ODCS schema declares draft 2019-09"
    return cls(schema)


def violations(validator: jsonschema.protocols.Validator, path: Path) -> list[str]:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoTimestamps)  # a SafeLoader subclass
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{error.json_path}: {error.message}" for error in errors]


def test_there_are_contracts():
    assert len(CONTRACT_FILES) >= 8


@pytest.mark.parametrize("path", CONTRACT_FILES, ids=lambda p: p.stem)
def test_contract_is_valid_odcs(validator, path: Path):
    found = violations(validator, path)
    for line in found:
        print(f"{path.name}: {line}")
    assert not found, f"{path.name} is not valid ODCS:\n" + "\n".join(found)


def test_a_zone_name_as_timezone_is_not_odcs(validator, tmp_path: Path):
    """The check bites: the old `timezone: Europe/Helsinki` is reported at the property's path."""
    text = (contracts.CONTRACTS_DIR / "city_visits.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "city_visits.yaml"
    broken.write_text(text.replace("timezone: false, defaultTimezone: Europe/Helsinki", "timezone: Europe/Helsinki", 1),
                      encoding="utf-8")
    found = violations(validator, broken)
    assert len(found) == 1
    assert "logicalTypeOptions.timezone" in found[0] and "'Europe/Helsinki' is not of type 'boolean'" in found[0]
