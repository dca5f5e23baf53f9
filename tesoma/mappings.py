"""Load the code-mapping tables (``config/mappings/*.csv``) into the harmonise step's CodeMaps."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from transforms.harmonise import CodeMap, Mapping
from transforms.harmonise.city_visits import CityVisitMaps


@cache
def _rows(path: Path) -> tuple[dict[str, str], ...]:
    with path.open(encoding="utf-8", newline="") as f:
        return tuple(csv.DictReader(f))


def load_map(directory: Path, name: str, mapping: Mapping, partner: str) -> CodeMap:
    path = directory / f"{mapping.file}.csv"
    if not path.exists():
        raise FileNotFoundError(f"code mapping {path} is missing (needed for {name})")
    rows = [r for r in _rows(path) if not mapping.by_partner or r.get("partner") == partner]
    return CodeMap(name=mapping.file, mapping={r[mapping.key]: r[mapping.value] for r in rows})


def load_maps(directory: Path, mappings: dict[str, Mapping], partner: str) -> dict[str, CodeMap]:
    return {name: load_map(directory, name, m, partner) for name, m in mappings.items()}


def city_visit_maps(directory: Path, partner: str = "city") -> CityVisitMaps:
    from transforms.harmonise.city_visits import MAPPINGS

    return CityVisitMaps(**load_maps(directory, MAPPINGS, partner))
