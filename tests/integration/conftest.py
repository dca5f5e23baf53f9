"""Fixtures of the tests that drive real programs (a browser)."""

from __future__ import annotations

import os

import pytest

from orchestration.browser import chromium


@pytest.fixture(scope="module")
def browser() -> None:
    if chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI requires it (Debian: apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
