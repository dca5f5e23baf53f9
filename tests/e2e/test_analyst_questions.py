"""Every SQL block in docs/analysts.md runs against a generated warehouse and answers something."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import warehouse
from tesoma import steps

DOC = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"
QUESTIONS = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


# One worker runs them all: the module's warehouse is built once, not once per worker (~30 s each).
pytestmark = pytest.mark.xdist_group("analyst_questions")

@pytest.fixture(scope="module")
def warehouse_root(tmp_path_factory):
    from tests.conftest import processed_warehouse

    with processed_warehouse(tmp_path_factory.mktemp("analysts") / "data", days=8, residents=16_000, seed=42) as root:
        steps.refresh_catalog()
        yield root


def test_the_doc_has_at_least_five_questions():
    assert len(QUESTIONS) >= 5


@pytest.mark.e2e
@pytest.mark.parametrize("number", range(len(QUESTIONS)), ids=lambda n: f"question_{n + 1}")
def test_question_answers(warehouse_root, number):
    with warehouse.connect(warehouse_root) as con:
        rows = con.execute(QUESTIONS[number]).fetchall()
    assert rows, f"question {number + 1} gave no rows"
    assert any(v not in (None, 0) for row in rows for v in row)


@pytest.mark.e2e
def test_multi_partner_residents_are_found(warehouse_root):
    with warehouse.connect(warehouse_root) as con:
        (count,) = con.execute(QUESTIONS[0]).fetchall()[0]
    assert count > 0  # city and Mehiläinen share pseudonyms through the identity code
