"""Generated docs are up to date, and every doc the README links to exists."""

from __future__ import annotations

import re
from pathlib import Path

from warehouse.dictionary import render

ROOT = Path(__file__).resolve().parents[2]


def test_data_dictionary_is_current():
    committed = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert committed == render(), "docs/data-dictionary.md is stale: run `tesoma dictionary > docs/data-dictionary.md`"


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    missing = [link for link in links if not link.startswith("http") and not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_readme_has_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert "make demo" in lines and "make test" in lines


def test_partner_pages_are_current():
    import contracts
    from tesoma.contract_pages import render

    for feed in contracts.available():
        page = ROOT / "docs" / "partners" / f"{feed}.md"
        assert page.exists(), f"missing {page}: run `tesoma contract-docs`"
        current = render(contracts.load(feed))
        assert page.read_text(encoding="utf-8") == current, f"{page} is stale: run `tesoma contract-docs`"
