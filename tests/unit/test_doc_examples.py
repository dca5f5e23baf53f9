"""Examples in the documentation never reuse a real-looking identity code (e.g. one copied from a generated
delivery): a code with a valid check character must be on the allow-list of documented fake examples."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from transforms.pseudonymise.hetu import decode_many

ROOT = Path(__file__).resolve().parents[2]
CODE_SHAPED = re.compile(r"(?<![0-9A-Za-z])\d{6}[-+ABCDEFUVWXY]\d{3}[0-9A-Y](?![0-9A-Za-z])")

ALLOWED = {
    "010101-123N",  # 1 Jan 1901, individual number 123: the fake example to use where a whole code must be shown
}
"""Documented fake examples. Prefer the placeholder ``DDMMYY-ZZZQ``: ``tesoma audit`` flags any code-shaped
string under docs/, allowed here or not."""


def documents() -> list[Path]:
    docs = ROOT / "docs"
    return [ROOT / "README.md", *sorted(docs.glob("*.md")), *sorted((docs / "partners").glob("*.md"))]


def valid_codes(text: str) -> set[str]:
    found = sorted(set(CODE_SHAPED.findall(text)))
    if not found:
        return set()
    valid = decode_many(pa.array(found, pa.string())).valid.tolist()
    return {code for code, ok in zip(found, valid, strict=True) if ok}


def test_finds_valid_codes_only():
    assert valid_codes("visit of 131052-308T; typo 131052-308U; 010190Y1234 nope; DDMMYY-ZZZQ") == {"131052-308T"}


def test_docs_hold_no_identity_code_but_the_documented_fakes():
    assert len(documents()) > 10
    found = {f"{path.relative_to(ROOT)}: {len(codes - ALLOWED)} code(s)"
             for path in documents() if (codes := valid_codes(path.read_text(encoding="utf-8"))) - ALLOWED}
    assert not found, "replace with DDMMYY-ZZZQ or an allow-listed fake example: " + "; ".join(sorted(found))
