"""The house rules a reader relies on: a delivery's way reads as small named stages, and the pipeline's
steps run without Airflow and without the synthetic data maker."""

from __future__ import annotations

import ast
from pathlib import Path

STEPS = Path(__file__).resolve().parents[2] / "tesoma" / "steps"
LONGEST = 60


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_function_in_the_steps_is_longer_than_sixty_lines():
    long = {f"{path.name}:{node.name}": node.end_lineno - node.lineno + 1
            for path in STEPS.glob("*.py") for node in functions(path)
            if node.end_lineno - node.lineno + 1 > LONGEST}
    assert not long, f"split these into named stages: {long}"


def test_the_steps_import_neither_airflow_nor_the_synthetic_data_maker():
    imported = set()
    for path in STEPS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {(path.name, a.name.split(".")[0]) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module.split(".")[0]))
    assert not {i for i in imported if i[1] in ("airflow", "synthetic", "orchestration", "dags")}


def test_ingest_reads_as_its_list_of_stages():
    from tesoma.steps import stages

    for name in ("read", "account", "check_contracts", "pseudonymise", "harmonise", "stage", "record", "judge"):
        assert callable(getattr(stages, name)), name


def test_the_lower_packages_never_import_the_front_package():
    """connectors, transforms, expectations and warehouse run without tesoma (ARCHITECTURE.md, section 4):
    the front package asks them, never the other way round."""
    root = STEPS.parents[1]
    offenders = []
    for package in ("connectors", "transforms", "expectations", "warehouse", "contracts"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                offenders += [f"{path.relative_to(root)}: {n}" for n in names
                              if n.split(".")[0] in ("tesoma", "orchestration", "synthetic", "dags")]
    assert not offenders, offenders
