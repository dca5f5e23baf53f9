"""Headless Chromium for checks of the operator's pages: a screenshot and the DOM after the page's scripts ran.

Debian package ``chromium`` (``/usr/bin/chromium``). Started with a fresh profile, no sandbox (containers),
and no background traffic of its own (updates, sync, component downloads).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str | None:
    """The Chromium executable, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(url: str, *args: str, window: str, wait_ms: int) -> subprocess.CompletedProcess:
    binary = chromium()
    if binary is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run([binary, *FLAGS, f"--window-size={window}", f"--virtual-time-budget={wait_ms}",
                               f"--user-data-dir={profile}", *args, url],
                              check=True, capture_output=True, text=True, timeout=180)


def screenshot(url: str, out: Path, window: str = "1400,900", wait_ms: int = 15000) -> str:
    """Write a PNG of ``url`` to ``out``; return the page's DOM (a second load) after its scripts ran."""
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(url, f"--screenshot={out}", window=window, wait_ms=wait_ms)
    return _run(url, "--dump-dom", window=window, wait_ms=wait_ms).stdout
