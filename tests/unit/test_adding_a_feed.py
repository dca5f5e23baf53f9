"""docs/developer-guide.md "Adding a feed" works as written: this test takes the section's code blocks
(each fenced as ```<language> <path>), puts them where the guide says — in temporary copies, never in
the checkout — and runs the example delivery through ``tesoma.steps.process_date``."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

import connectors
import contracts
import transforms.harmonise
from tesoma import feed_config, feeds, steps
from warehouse.readers import read_table

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "developer-guide.md"
STEPS = ["### 1. The contract", "### 2. The connector", "### 3. The harmonise function", "### 4. The registry entry",
         "### 5. Try a delivery", "### 6. Tests and generated docs"]


def section() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("## Adding a feed\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def code_blocks() -> dict[str, str]:
    """``path → text`` of the section's code blocks that name a file."""
    return {m["path"]: m["code"] for m in re.finditer(r"^```\w+ (?P<path>\S+)\n(?P<code>.*?)^```$", section(),
                                                      re.MULTILINE | re.DOTALL)}


def test_the_guide_has_its_steps_in_order_and_a_file_for_each_of_the_first_five():
    text = section()
    assert [text.index(step) for step in STEPS] == sorted(text.index(step) for step in STEPS)
    assert sorted(code_blocks()) == sorted([
        "contracts/library_events.yaml", "connectors/library.py", "transforms/harmonise/library_events.py",
        "config/feeds.yaml", "landing/city/library_events/library_events_20261001.csv"])


@pytest.fixture
def checkout(tmp_path, data_root, monkeypatch):
    """Temporary copies of what the guide's steps change (contracts, the registry, the connector and harmonise
    packages) with every step's block in place; the TESOMA_* variables point at them."""
    blocks = code_blocks()
    contracts_dir = tmp_path / "contracts"
    shutil.copytree(contracts.CONTRACTS_DIR, contracts_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    # step 1: the contract
    (contracts_dir / "library_events.yaml").write_text(blocks["contracts/library_events.yaml"], encoding="utf-8")
    # steps 2 and 3: modules of the connector and harmonise packages (extra folders of those packages)
    for name, package in (("connectors/library.py", connectors), ("transforms/harmonise/library_events.py",
                                                                   transforms.harmonise)):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(blocks[name], encoding="utf-8")
        monkeypatch.setattr(package, "__path__", [*package.__path__, str(path.parent)])
    # step 4: the entry, under `feeds:` (the last mapping of the registry)
    registry = tmp_path / "feeds.yaml"
    registry.write_text((ROOT / "config" / "feeds.yaml").read_text(encoding="utf-8").rstrip("\n") + "\n"
                        + blocks["config/feeds.yaml"], encoding="utf-8")
    # step 5: the delivery
    delivery = data_root / "landing/city/library_events/library_events_20261001.csv"
    delivery.parent.mkdir(parents=True)
    delivery.write_text(blocks["landing/city/library_events/library_events_20261001.csv"], encoding="utf-8")

    monkeypatch.setenv("TESOMA_CONTRACTS_DIR", str(contracts_dir))
    monkeypatch.setenv("TESOMA_FEEDS_CONFIG", str(registry))
    contracts.load.cache_clear()
    feeds.pipeline.cache_clear()
    yield data_root
    contracts.load.cache_clear()
    feeds.pipeline.cache_clear()
    for module in ("connectors.library", "transforms.harmonise.library_events"):
        sys.modules.pop(module, None)


def test_a_feed_added_as_the_guide_says_is_published_into_its_declared_table(checkout):
    assert feed_config.entry("library_events").tables == ("activity_count",)

    results = steps.process_date("library_events", dt.date(2026, 10, 1))

    assert [(r["state"], r["rows_read"], r["rows_published"]) for r in results] == [("published", 2, 2)]
    rows = read_table(checkout, "activity_count", partner="city", delivery_date=dt.date(2026, 10, 1)).to_pylist()
    assert sorted((r["feed"], r["activity_type"], r["measure"], r["value"]) for r in rows) == [
        ("library_events", "lukupiiri", "participants", 9.0), ("library_events", "satutunti", "participants", 14.0)]


def test_a_feed_added_as_the_guide_says_gets_a_dag_publishing_its_table(checkout):
    import airflow.sdk

    spec = importlib.util.spec_from_file_location("dag_under_test_added_feed", ROOT / "dags" / "feeds.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag_library_events
    assert isinstance(dag, airflow.sdk.DAG)
    assert [o.uri for o in dag.get_task("publish").outlets] == [feed_config.asset_uri("activity_count")]
