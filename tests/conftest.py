"""Shared test set-up: an isolated data root and Airflow home per session, and real services.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module imports it. The session's directory (Airflow home and metadata database) is removed when the
session ends; set TESOMA_KEEP_TEST_DATA=1 to keep it for a look.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="tesoma-tests-"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    # A worker (pytest -n) inherits the controller's environment, this variable included: each worker needs
    # an Airflow home of its own, beside its own metadata database below.
    os.environ["AIRFLOW_HOME"] = str(_SESSION_DIR / "airflow")
else:
    os.environ.setdefault("AIRFLOW_HOME", str(_SESSION_DIR / "airflow"))
(_SESSION_DIR / "airflow").mkdir(exist_ok=True)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}"
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "t" * 64)
os.environ.pop("TESOMA_PSEUDONYM_KEY", None)
os.environ["TESOMA_RETRY_DELAY_SECONDS"] = "1"

TEST_KEY = "test-key-" + "0123456789abcdef" * 3  # tests only; never a real key


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the session's directory, which would otherwise pile up under the temp dir run after run.

    A hook rather than a fixture: it runs after every fixture's teardown, when nothing in this process uses
    the Airflow home any more. ``ignore_errors``: a file still held open must not turn a green run red.
    """
    if os.environ.get("TESOMA_KEEP_TEST_DATA"):
        print(f"\nkept the test session's directory: {_SESSION_DIR}")
        return
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that use the shared services (PostgreSQL's and MariaDB's ``test`` databases, Airflow
    stacks) with ``xdist_group("services")``, for a ``--dist loadgroup`` run.

    ``make test`` runs ``pytest -n 2 --dist loadfile`` instead: with pytest 9, xdist 3.8's loadgroup does not
    group at all (it renames ``item._nodeid``, which pytest 9 no longer reads; measured: the tests of one
    group ran on both workers, and module fixtures were built once per worker). By file, a module's tests
    and fixtures stay on one worker, one test after another; the service tests of different files use their
    own temporary databases, free ports and Redis numbers."""
    for item in items:
        uses_services = {"postgres_url", "mariadb_url"} & set(getattr(item, "fixturenames", ()))
        if "tests/integration/" in item.nodeid or item.get_closest_marker("integration") or uses_services:
            item.add_marker(pytest.mark.xdist_group("services"))


def service_available(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is down, except under CI=true, where a missing service fails the test."""
    if service_available(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; CI requires it (start it, see the developer guide)")
    pytest.skip(f"{message}; start it to run this test")


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """An empty data root with a test key; the TESOMA_* variables point at it."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(root))
    monkeypatch.delenv("TESOMA_LEDGER_URL", raising=False)
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    return root


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def processed_warehouse(root: Path, *, days: int, residents: int, seed: int, feeds: Iterable[str] | None = None,
                        start: dt.date = dt.date(2026, 10, 1)) -> Iterator[Path]:
    """A data root with ``days`` of synthetic deliveries (no faults) processed through every carried feed
    (or ``feeds``), for a module's tests; the TESOMA_* variables point at it until the block ends."""
    from synthetic import generate
    from tesoma import steps
    from tesoma.feeds import carried

    saved = {k: os.environ.get(k) for k in ("TESOMA_DATA_ROOT", "TESOMA_PSEUDONYM_KEY", "TESOMA_LEDGER_URL")}
    os.environ.update(TESOMA_DATA_ROOT=str(root), TESOMA_PSEUDONYM_KEY=TEST_KEY)
    os.environ.pop("TESOMA_LEDGER_URL", None)
    try:
        generate(root, start=start, days=days, residents=residents, seed=seed, fault_rate=0.0)
        for feed in feeds or carried():
            steps.process_all(feed)
        yield root
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
