"""Load the code-mapping tables (``config/mappings/*.csv``) into the harmonise step's CodeMaps."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from transforms.harmonise import CodeMap
from transforms.harmonise.city_visits import CityVisitMaps


def _read(directory: Path, name: str, key: str, value: str, partner: str | None = None) -> CodeMap:
    path = directory / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if partner is None or r.get("partner") == partner]
    return CodeMap(name=name, mapping={r[key]: r[value] for r in rows})


@cache
def city_visit_maps(directory: Path, partner: str = "city") -> CityVisitMaps:
    return CityVisitMaps(
        service_area=_read(directory, "service_codes", "source_value", "service_area", partner),
        contact_mode_label=_read(directory, "contact_modes", "code", "label"),
        professional_group=_read(directory, "professional_groups", "source_value", "professional_group", partner),
        status=_read(directory, "visit_status", "source_value", "status", partner),
        diagnosis_system=_read(directory, "diagnosis_systems", "source_value", "diagnosis_system"),
    )
