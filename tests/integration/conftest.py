"""Fixtures and helpers of the tests that drive real programs (a browser, Airflow stacks)."""

from __future__ import annotations

import os
import time

import pytest

from orchestration.browser import chromium


@pytest.fixture(scope="module")
def browser() -> None:
    if chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI requires it (Debian: apt-get install chromium)")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")


def wait_for(description: str, condition, timeout: float, stack, poll: float = 3):
    """Poll ``condition`` (a truthy result when done) every ``poll`` seconds and return that result; fail
    with the stack components' log tails when it does not come true in ``timeout`` seconds. A crashed
    component (scheduler, worker) fails it at once (``stack.check_alive``), not after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        stack.check_alive()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {description}\n{stack.tail(lines=30)}")
        time.sleep(poll)
