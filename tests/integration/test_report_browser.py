"""The monthly report in a real browser: headless Chromium renders report.html (opened as a file, offline)
to a PNG and its DOM.

The page is a publication made by hand (tests/unit/test_report.py's ``make_publication``). The screenshot
goes to ``$TESOMA_SCREENS`` (default ``<temp folder>/tesoma-screens``) to be looked at. Needs Chromium
(Debian package ``chromium``); skipped without it unless CI=true. Takes a few seconds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from orchestration.browser import screenshot
from tests.unit.test_report import make_publication

pytestmark = pytest.mark.integration

SCREENS = Path(os.environ.get("TESOMA_SCREENS", Path(tempfile.gettempdir()) / "tesoma-screens"))


def test_report_renders_in_chromium(browser, tmp_path):
    from PIL import Image

    from scorecard import report

    folder = tmp_path / "published" / "2026-10-1"
    page = report.write(folder, make_publication(folder))
    png = SCREENS / "report-2026-10-1.png"
    png.unlink(missing_ok=True)
    dom = screenshot(page.as_uri(), png, window="1400,2200", wait_ms=3000)

    for text in ("Tesoma alliance scorecard — October 2026", "not delivered", "EXAMPLE values",
                 "KPI trends against targets", "Cumulative actual cost against the cumulative target budget",
                 "publication-2026-10-1"):
        assert text in dom, text
    assert dom.count("<svg") >= 3
    image = Image.open(png).convert("L")
    assert image.size == (1400, 2200)
    low, high = image.getextrema()
    assert high - low > 100, "the screenshot is blank"
    # Ink on the page: the scorecard, the charts' lines and text (a blank or error page has far less).
    dark = sum(count for value, count in enumerate(image.histogram()) if value < 128)
    assert dark > 0.01 * image.size[0] * image.size[1]
