"""The Data Docs open on a machine without internet: no page loads a script, stylesheet or image from
elsewhere, and each page still shows its delivery's results."""

from __future__ import annotations

import re

from expectations import data_docs
from tesoma.config import settings
from tests.unit.test_data_docs import DELIVERY, distinct_values_validation

REMOTE = re.compile(r"<(script|link|img)\b[^>]*\b(src|href)\s*=\s*[\"']?(https?:)?//"
                    r"|@import\s+url\(\s*[\"']?(https?:)?//", re.IGNORECASE)


def test_no_generated_page_loads_anything_from_the_internet(data_root):
    s = settings()
    data_docs.record(s, DELIVERY, {"t_docs.contract": distinct_values_validation()}, rows={"t_docs.contract": 5})
    index = data_docs.build(s)
    site = index.parent
    generated = sorted(site.rglob("*.html"))
    assert index in generated and len(generated) >= 3  # the index, the delivery's page, the suite's page
    for page in generated:
        text = page.read_text(encoding="utf-8")
        assert not REMOTE.search(text), f"{page.relative_to(site)} loads {REMOTE.search(text)[0]!r}"
        assert "<style>" in text, f"{page.relative_to(site)} has no style of its own"
    (page,) = [p for p in generated if p.name == f"{DELIVERY}.html"]
    assert "60% of 5 total rows" in page.read_text(encoding="utf-8")  # the content is still there
    for css in site.rglob("*.css"):  # GX's own stylesheets, copied into the site
        assert not REMOTE.search(css.read_text(encoding="utf-8")), css
