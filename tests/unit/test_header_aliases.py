"""Header variants partners use are accepted through the contract's synonyms."""

from __future__ import annotations

from dataclasses import replace

import contracts
from connectors.base import ReadReport
from connectors.delimited import check_header, resolve_aliases

CONTRACT = contracts.load("city_visits")


def with_alias(column: str, *aliases: str) -> contracts.FeedContract:
    columns = tuple(replace(c, aliases=aliases) if c.name == column else c for c in CONTRACT.columns)
    return replace(CONTRACT, columns=columns)


def test_alias_and_case_resolve_to_the_contract_name():
    contract = with_alias("kaynti_id", "Käynnin tunnus")
    header = [" käynnin TUNNUS ", "HENKILOTUNNUS", "palvelu", "unknown"]
    assert resolve_aliases(header, contract) == ["kaynti_id", "henkilotunnus", "palvelu", "unknown"]


def test_a_second_column_with_the_same_meaning_stays_an_extra_column():
    contract = with_alias("kaynti_id", "id")
    assert resolve_aliases(["kaynti_id", "id"], contract) == ["kaynti_id", "id"]


def test_header_with_an_alias_passes_the_required_check():
    contract = with_alias("alkuaika", "Aloitusaika")
    header = resolve_aliases([("Aloitusaika" if c == "alkuaika" else c) for c in CONTRACT.column_names], contract)
    report = ReadReport()
    check_header(header, contract, report)
    assert report.warnings == []
