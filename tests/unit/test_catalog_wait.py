"""The catalog waits while history is backfilled (orchestration/catalog_wait.py): a backfill is one burst,
refreshed once when it ends; daily runs are never held; the wait is bounded."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from orchestration import catalog_wait
from orchestration.catalog_wait import verdict


@pytest.mark.parametrize(("active", "waited", "most", "go"), [
    ({}, 0, 1200, True),                                              # nothing registered
    ({"city_visits_history": 0, "costs_history": 0}, 0, 1200, True),  # daily operation: never held
    ({"city_visits_history": 2, "costs_history": 0}, 0, 1200, False),
    ({"city_visits_history": 2}, 1199, 1200, False),
    ({"city_visits_history": 2}, 1200, 1200, True),                   # bounded: refresh anyway
    ({"city_visits_history": 1}, 0, 0, True),                         # 0 = never wait
])
def test_the_catalog_waits_only_while_history_runs_are_active_and_at_most_so_long(active, waited, most, go):
    allowed, why = verdict(active, waited, most)
    assert allowed is go
    if active.get("city_visits_history"):
        assert "city_visits_history" in why and "costs_history" not in why  # names only the busy DAGs
    if not go:
        assert f"{most - waited:.0f} s" in why


def test_the_limits_come_from_the_environment_and_bad_values_say_what_to_give(monkeypatch):
    monkeypatch.delenv("TESOMA_CATALOG_MAX_WAIT_SECONDS", raising=False)
    monkeypatch.delenv("TESOMA_CATALOG_POKE_SECONDS", raising=False)
    assert catalog_wait.most_wait() == 1200 and catalog_wait.poke_seconds() == 15
    monkeypatch.setenv("TESOMA_CATALOG_MAX_WAIT_SECONDS", "0")
    monkeypatch.setenv("TESOMA_CATALOG_POKE_SECONDS", "5")
    assert catalog_wait.most_wait() == 0 and catalog_wait.poke_seconds() == 5
    for name, bad in [("TESOMA_CATALOG_MAX_WAIT_SECONDS", "-1"), ("TESOMA_CATALOG_MAX_WAIT_SECONDS", "soon"),
                      ("TESOMA_CATALOG_POKE_SECONDS", "0")]:
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=f"{name}=.*give the seconds"):
            catalog_wait.most_wait() if "WAIT" in name else catalog_wait.poke_seconds()
        monkeypatch.delenv(name)


def test_the_poke_asks_airflow_for_every_history_dag_and_waits_while_one_is_active(capsys):
    """What the sensor does with Airflow's answers (the real API is exercised by
    tests/integration/test_history_backfill.py)."""
    asked = []

    class TaskInstance:
        @staticmethod
        def get_dr_count(dag_id, states):
            asked.append((dag_id, tuple(states)))
            return 3 if dag_id == "costs_history" else 0

    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    context = {"ti": TaskInstance(), "dag_run": SimpleNamespace(start_date=started)}
    assert catalog_wait.backfills_settled(context) is False
    assert {dag_id for dag_id, _ in asked} == set(catalog_wait.history_dag_ids())
    assert "costs_history" in catalog_wait.history_dag_ids() and len(catalog_wait.history_dag_ids()) >= 7
    assert {s for _, s in asked} == {("queued", "running")}
    assert "backfill running (costs_history 3 active run(s))" in capsys.readouterr().out
