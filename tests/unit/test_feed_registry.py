"""The feed registry (config/feeds.yaml): every entry names things that exist and agree with each other, a
bad entry fails with a message that says what to fix, and reading it stays cheap for the DAG parser."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import connectors
import contracts
from connectors.base import ROW_ERRORS, ROW_NUMBER, DeliveryRejected, FileConnector, ReadReport
from tesoma import feed_config, feeds
from tesoma.config import settings
from tesoma.feeds import connector_for
from tesoma.keys import load_key
from tests.golden import cases, delivery_of
from transforms.pseudonymise import pseudonymise
from warehouse.schemas import TABLES as CANONICAL

ROOT = Path(__file__).resolve().parents[2]
FEEDS = sorted(feed_config.load())


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Write a registry of one feed (``shop``) and point TESOMA_FEEDS_CONFIG at it."""

    def write(**entry: str) -> Path:
        path = tmp_path / f"feeds-{len(list(tmp_path.glob('feeds-*.yaml')))}.yaml"  # the registry is cached by path
        lines = ["defaults: {owner: x, retries: 2, run_at: '07:00'}", "feeds:", "  shop:", "    cadence: daily",
                 *(f"    {k}: {v}" for k, v in entry.items())]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        monkeypatch.setenv("TESOMA_FEEDS_CONFIG", str(path))
        feeds.pipeline.cache_clear()
        return path

    yield write
    feeds.pipeline.cache_clear()


def test_every_carried_feed_is_declared_with_connector_harmonise_tables_and_contract():
    assert FEEDS == sorted(contracts.available()) == feeds.carried()
    for feed in FEEDS:
        assert connector_for(feed).feed == feed
        pipeline = feeds.pipeline(feed)
        assert pipeline.contract.feed == feed
        assert pipeline.tables and set(pipeline.tables) <= set(CANONICAL), f"{feed}: tables must be canonical tables"


def test_every_connector_class_in_the_package_is_declared():
    """No connector is written and then forgotten: every FileConnector of a feed is the one its entry names."""
    for module in pkgutil.iter_modules(connectors.__path__):
        importlib.import_module(f"connectors.{module.name}")
    declared = {feed: feeds.connector_class(feed) for feed in FEEDS}

    def subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    def in_package(cls: type) -> bool:  # (not a module another test added to the package for a while)
        module = sys.modules.get(cls.__module__)
        return module is not None and Path(module.__file__).parent == Path(connectors.__file__).parent

    found = [c for c in subclasses(FileConnector) if "feed" in vars(c) and in_package(c)]
    assert found
    for cls in found:
        assert declared.get(cls.feed) is cls, f"{cls.__name__} (feed {cls.feed}) is not declared in config/feeds.yaml"


def _accepted_rows(feed: str) -> pa.Table:
    """The rows of the feed's golden deliveries that the connector reads without a problem, pseudonymised."""
    pipeline = feeds.pipeline(feed)
    tables = []
    for _, case in cases(feed):
        try:
            batches = list(connector_for(feed).read(delivery_of(case), ReadReport()))
        except DeliveryRejected:
            continue
        if batches:
            tables.append(pa.Table.from_batches(batches))
    table = pa.concat_tables(tables, promote_options="default")
    table = table.filter(pc.is_null(table[ROW_ERRORS]))
    spec = pipeline.identity_spec(pipeline.contract.partner)
    if spec is not None:
        table = pseudonymise(table, spec, load_key(settings()))
        table = table.filter(pc.is_null(table[ROW_ERRORS]))
    return table.drop_columns([ROW_NUMBER, ROW_ERRORS])


@pytest.mark.parametrize("feed", FEEDS)
def test_harmonise_writes_exactly_the_declared_tables(feed, data_root):
    """Each entry's harmonise function, given the feed's golden rows, returns the tables its entry declares,
    each in its canonical schema, and the first (the one each source row becomes) is not empty."""
    pipeline = feeds.pipeline(feed)
    rows = _accepted_rows(feed)
    assert rows.num_rows
    out, _ = pipeline.harmonise(rows, settings(), pipeline.contract.partner, "d-registry")
    assert set(out) == set(feed_config.canonical_tables(feed))
    for table, data in out.items():
        assert data.schema.equals(CANONICAL[table], check_metadata=False), f"{feed} → {table}: not the canonical schema"
    assert out[pipeline.tables[0]].num_rows


def test_reading_the_registry_imports_no_pyarrow_no_connector_and_no_harmonise_module():
    """The scheduler parses the DAG files continuously: their schedules and tables come from yaml alone."""
    code = ("import sys; import tesoma.feed_config as f; runs = f.load(); "
            "print(sorted({t for r in runs.values() for t in r.tables})); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pyarrow', 'pandas', 'connectors', 'transforms', 'contracts', 'airflow')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    tables, heavy = out.stdout.splitlines()
    assert "service_event" in tables and "population" in tables
    assert heavy == "[]"


def test_an_unknown_feed_is_a_key_error_naming_the_known_ones():
    for ask in (feed_config.entry, feeds.pipeline, connector_for):
        with pytest.raises(KeyError, match=r"no feed 'nope'; known: city_access, city_activity, city_visits"):
            ask("nope")


def test_an_entry_naming_a_missing_connector_says_which(registry):
    registry(connector="connectors.shop:ShopCsv", harmonise="transforms.harmonise.costs:harmonise", tables="[x]")
    with pytest.raises(LookupError, match=r"feed shop: connector connectors.shop:ShopCsv cannot be imported"):
        connector_for("shop")
    registry(connector="connectors.city:ShopCsv")
    with pytest.raises(LookupError, match=r"connector connectors.city:ShopCsv: module connectors.city has no ShopCsv"):
        connector_for("shop")
    registry(connector="connectors.city:CityVisitsCsv")
    with pytest.raises(ValueError, match=r"connector connectors.city:CityVisitsCsv is the connector of feed 'city_v"):
        connector_for("shop")
    registry(harmonise="transforms.harmonise.costs:harmonise")
    with pytest.raises(LookupError, match=r"feed shop names no connector \(connector: connectors.<module>:<Class>\)"):
        connector_for("shop")


def test_an_entry_naming_a_missing_contract_harmonise_function_or_tables_says_which(registry, monkeypatch, tmp_path):
    registry(connector="connectors.city:CityVisitsCsv", harmonise="transforms.harmonise.shop:harmonise", tables="[x]")
    with pytest.raises(contracts.ContractError, match=r"no contract for feed 'shop': expected .*shop.yaml"):
        feeds.pipeline("shop")
    monkeypatch.setenv("TESOMA_CONTRACTS_DIR", str(tmp_path))
    contracts.load.cache_clear()
    try:
        (tmp_path / "shop.yaml").write_text((contracts.CONTRACTS_DIR / "costs.yaml").read_text(encoding="utf-8")
                                            .replace("name: costs", "name: shop"), encoding="utf-8")
        with pytest.raises(LookupError, match=r"harmonise transforms.harmonise.shop:harmonise cannot be imported"):
            feeds.pipeline("shop")
        registry(harmonise="transforms.harmonise.costs:harmonize")
        with pytest.raises(LookupError, match=r"module transforms.harmonise.costs has no harmonize"):
            feeds.pipeline("shop")
        registry(harmonise="transforms.harmonise.costs:harmonise")
        with pytest.raises(ValueError, match=r"feed shop declares no tables"):
            feeds.pipeline("shop")
    finally:
        contracts.load.cache_clear()


def test_a_malformed_entry_is_refused_when_the_registry_is_read(registry):
    with pytest.raises(ValueError, match=r"feed shop: connector must be <module>:<name>"):
        feed_config.load(registry(connector="connectors/city.py"))
    with pytest.raises(ValueError, match=r"feed shop: tables must be a list"):
        feed_config.load(registry(tables="service_event"))
