"""The Data Docs keep up with the history: a build renders only what changed since the last one, the
index lists every result, and a build with nothing new does not even import Great Expectations."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from expectations import data_docs
from tesoma.config import settings
from tests.unit.test_data_docs import distinct_values_validation

ROOT = Path(__file__).resolve().parents[2]
SUITE = "t_docs.contract"
A, B, C, D = (f"city_visits-city-2026100{day}-1-0123abc{day}" for day in range(1, 5))


@pytest.fixture(scope="module")
def validation():
    return distinct_values_validation()


def record(delivery: str, validation) -> None:
    data_docs.record(settings(), delivery, {SUITE: validation}, rows={SUITE: 5})


def listed(index: Path) -> list[str]:
    """The deliveries the index links a result page of."""
    return sorted(re.findall(r'<a href="validations/[^"]+">([^<]+)</a>', index.read_text(encoding="utf-8")))


def stamps(site: Path) -> dict[str, int]:
    """Every generated page → when it was written."""
    return {p.relative_to(site).as_posix(): p.stat().st_mtime_ns
            for folder in ("validations", "expectations") for p in (site / folder).rglob("*.html")}


def results_pages(site: Path) -> dict[str, int]:
    return {page: written for page, written in stamps(site).items() if page.startswith("validations/")}


def build_apart(data_root: Path) -> bool:
    """Build in a fresh process (as the catalog task does); whether it imported Great Expectations."""
    code = ("import sys; from pathlib import Path; from types import SimpleNamespace;"
            "from expectations import data_docs;"
            "data_docs.build(SimpleNamespace(data_root=Path(sys.argv[1])));"
            "print('great_expectations' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(data_root)], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    return done.stdout.strip() == "True"


def test_a_new_delivery_renders_one_page_and_the_index_lists_all(data_root, validation):
    for delivery in (A, B, C):
        record(delivery, validation)
    index = data_docs.build(settings())
    site = index.parent
    before = stamps(site)
    assert listed(index) == [A, B, C]
    assert len(before) == 4  # three results' pages, the suite's page

    record(D, validation)
    data_docs.build(settings())
    after = stamps(site)
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and new[0].endswith(f"/{D}.html")
    assert {page: after[page] for page in before} == before  # nothing rendered again, not even the suite's
    assert listed(index) == [A, B, C, D]


def test_a_removed_deliverys_results_leave_the_site_without_gx(data_root, validation):
    for delivery in (A, B, C):
        record(delivery, validation)
    index = data_docs.build(settings())
    site = index.parent
    (page_of_b,) = (site / "validations").rglob(f"{B}.html")

    data_docs.record(settings(), B, {})  # e.g. a re-run rejected before any check
    assert not build_apart(data_root)
    assert listed(index) == [A, C]
    assert B not in index.read_text(encoding="utf-8")
    assert not page_of_b.exists() and not (site / "validations" / "t_docs" / "contract" / B).exists()

    data_docs.record(settings(), A, {})
    data_docs.record(settings(), C, {})
    data_docs.build(settings())
    assert listed(index) == []
    assert stamps(site) == {}  # no result left: no suite page either


def test_nothing_new_costs_no_gx_import_and_leaves_the_site_as_it_is(data_root, validation):
    record(A, validation)
    index = data_docs.build(settings())
    site = index.parent
    before, index_written = stamps(site), index.stat().st_mtime_ns

    assert not build_apart(data_root)
    assert stamps(site) == before and index.stat().st_mtime_ns == index_written


def test_a_lost_manifest_reuses_the_pages_and_sweeps_the_orphans(data_root, validation):
    """A site built before the manifest existed (or one that lost it): the results' pages on disk are kept,
    not rendered again (the suites' few pages are); a page no recorded result has is removed. Forced, a
    page deleted by hand comes back."""
    for delivery in (A, B):
        record(delivery, validation)
    index = data_docs.build(settings())
    site = index.parent
    orphan = site / "validations" / "t_docs" / "contract" / C / "20260101T000000.000000Z" / f"{C}.html"
    orphan.parent.mkdir(parents=True)
    orphan.write_text("<html><head></head><body>an old run</body></html>")
    before = results_pages(site)
    (site / data_docs.MANIFEST).unlink()
    (site / data_docs.BUILD_STATE).unlink()

    data_docs.build(settings())
    after = results_pages(site)
    assert not orphan.exists() and not orphan.parent.parent.exists()
    del before[orphan.relative_to(site).as_posix()]
    assert after == before
    assert listed(index) == [A, B]

    (page_of_a,) = (site / "validations").rglob(f"{A}.html")
    page_of_a.unlink()
    data_docs.build(settings())
    assert not page_of_a.exists()  # an unforced build trusts the manifest
    data_docs.build(settings(), force=True)
    assert page_of_a.exists()
    rendered_again = {p for p, t in results_pages(site).items() if after[p] != t}
    assert rendered_again == {page_of_a.relative_to(site).as_posix()}


def test_a_build_stopped_between_batches_is_finished_by_the_next(data_root, validation, monkeypatch):
    for delivery in (A, B, C):
        record(delivery, validation)
    monkeypatch.setattr(data_docs, "_RENDER_BATCH", 1)
    real_offline, calls = data_docs.offline, []

    def stopped_after_the_first_batch(page: Path) -> None:
        calls.append(page)
        if len(calls) > 2:  # the first batch: A's page and the suite's
            raise KeyboardInterrupt
        real_offline(page)

    monkeypatch.setattr(data_docs, "offline", stopped_after_the_first_batch)
    with pytest.raises(KeyboardInterrupt):
        data_docs.build(settings())
    monkeypatch.setattr(data_docs, "offline", real_offline)

    index = data_docs.build(settings())
    assert listed(index) == [A, B, C]
    pages = sorted((index.parent / "validations").rglob("*.html"))
    assert [p.name for p in pages] == [f"{A}.html", f"{B}.html", f"{C}.html"]
    for page in pages:
        assert data_docs.OFFLINE_MARK in page.read_text(encoding="utf-8"), page.name


def test_a_build_renders_at_most_its_budget_and_the_rest_on_request(data_root, validation, monkeypatch):
    monkeypatch.setenv("TESOMA_DATA_DOCS_PAGES_PER_BUILD", "2")
    for delivery in (A, B, C):
        record(delivery, validation)
    index = data_docs.build(settings())
    site = index.parent
    # the two newest got their pages; the third is listed at once, its page on request
    assert len(results_pages(site)) == 2
    assert listed(index) == [B, C]
    text = index.read_text(encoding="utf-8")
    assert f'href="../deliveries/{A}/data-docs">{A}</a> (page on request)' in text

    # opening it renders it (the Airflow plugin's delivery page calls this)
    assert data_docs.render_delivery(settings(), A) == 1
    assert len(results_pages(site)) == 3 and listed(index) == [A, B, C]
    assert data_docs.render_delivery(settings(), A) == 0  # nothing waits any more

    # a waiting page is rendered by a later build too: failed and newest first, within the budget
    record(D, validation)
    monkeypatch.setenv("TESOMA_DATA_DOCS_PAGES_PER_BUILD", "0")  # 0: no limit
    data_docs.build(settings())
    assert len(results_pages(site)) == 4


def test_the_budget_setting_says_what_is_wrong(monkeypatch):
    monkeypatch.setenv("TESOMA_DATA_DOCS_PAGES_PER_BUILD", "many")
    with pytest.raises(ValueError, match="whole number of pages"):
        data_docs.pages_per_build()
