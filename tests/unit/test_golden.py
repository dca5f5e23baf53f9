"""Every connector reproduces its golden files (``tests/golden``; regenerate with ``python -m tests.golden``)."""

from __future__ import annotations

import json

import pytest

from tests.golden import actual, cases


@pytest.mark.parametrize(("feed", "case"), cases(), ids=lambda v: getattr(v, "name", v))
def test_golden(feed, case):
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    got = json.loads(json.dumps(actual(feed, case), ensure_ascii=False, sort_keys=True))
    assert got == expected, f"{feed}/{case.name} differs; if intended, run: python -m tests.golden {feed}"
