"""Runs named by feed and delivery date: ``city_visits__2026-10-01``, not ``scheduled__2026-10-02T04:00:00+00:00``.

A feed DAG's schedule is Airflow's cron trigger; only the run ids differ. The id says which delivery a run
processes (``tesoma.schedule.delivery_date_for`` of the run's moment), so the grid, URLs and logs name it.
A scheduled run has exactly that id (one per delivery date); a run started by hand or by a backfill gets
its kind and a random tail (``city_visits__2026-10-01__manual_3f9a1c``), so a date can be run again
beside an earlier run. Triggering with an explicit run id (``tesoma.schedule.run_id``) still works.

**No run on unpause.** With ``catchup=False`` and a ``start_date`` in the past, Airflow's cron trigger
creates the most recent past run as soon as a DAG is unpaused (or the first time it is scheduled): at
14:00 a daily feed would start its 07:00 run at once, and in the demo, where nobody delivers, that run
waits in the triggerer for ``wait_up_to`` for a delivery that cannot come. This timetable creates a run
for a past moment only when it is the next one after the DAG's last scheduled run (the scheduler is
merely late, e.g. it was restarted at 07:00 — Airflow's own rule since 2.7: it skips only whole missed
intervals) or when that moment passed less than :data:`LATE_START_GRACE` ago. Otherwise the next run is
the next scheduled moment: unpausing a new DAG, or one paused over a run, starts nothing by itself, and
the dates it missed are run on purpose (triggered, or backfilled: docs/operations.md, *Backfill*).

Airflow serialises a DAG's timetable for the scheduler and the API server, so a custom timetable must be
registered by a plugin (:class:`orchestration.plugin.TesomaPlugin`) in every Airflow process.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from airflow._shared.timezones.timezone import coerce_datetime, utcnow
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable
from airflow.utils.types import DagRunType

LATE_START_GRACE = dt.timedelta(minutes=5)
"""How long after its scheduled moment a run is still created when it does not follow the DAG's last
scheduled run: covers the seconds between the moment and the scheduler creating the run (the DAG processor
may recompute the next run meanwhile), far less than any feed's waiting window."""


class DeliveryDateTimetable(CronTriggerTimetable):
    """A cron trigger whose runs are named ``<feed>__<delivery date>`` (see the module's docstring)."""

    def __init__(self, cron: str, *, timezone: Any, feed: str, cadence: str, **kwargs: Any) -> None:
        super().__init__(cron, timezone=timezone, **kwargs)
        self.feed = feed
        self.cadence = cadence

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        """Airflow's choice, except that a past moment reached by skipping runs is replaced by the next
        moment to come (see the module's docstring); with ``catchup`` every moment is run, as Airflow does."""
        info = super().next_dagrun_info(last_automated_data_interval=last_automated_data_interval,
                                        restriction=restriction)
        if info is None or restriction.catchup:
            return info
        now = coerce_datetime(utcnow())
        moment = info.run_after
        if moment >= now - LATE_START_GRACE:
            return info  # to come, or just due
        if last_automated_data_interval is not None and moment == self._get_next(last_automated_data_interval.end):
            return info  # the next of the sequence: the scheduler is late, nothing was skipped
        upcoming = self._align_to_next(now)
        if restriction.latest is not None and restriction.latest < upcoming:
            return None
        return DagRunInfo.interval(coerce_datetime(upcoming - self._interval), upcoming)

    def generate_run_id(self, *, run_type: DagRunType, run_after: Any, data_interval: Any, **extra: Any) -> str:
        from tesoma.schedule import delivery_date_for, run_id

        # A run triggered for a logical date has it as its data interval; otherwise it runs "now".
        moment = data_interval.end if data_interval is not None else run_after
        kind = DagRunType(run_type)
        suffix = "" if kind == DagRunType.SCHEDULED else f"{kind.value}_{secrets.token_hex(3)}"
        return run_id(self.feed, delivery_date_for(moment, self.cadence), suffix)

    def serialize(self) -> dict[str, Any]:
        return {**super().serialize(), "feed": self.feed, "cadence": self.cadence}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DeliveryDateTimetable:
        from airflow._shared.timezones.timezone import parse_timezone
        from airflow.serialization.decoders import decode_interval, decode_run_immediately

        return cls(data["expression"], timezone=parse_timezone(data["timezone"]),
                   interval=decode_interval(data["interval"]),
                   run_immediately=decode_run_immediately(data.get("run_immediately", False)),
                   feed=data["feed"], cadence=data["cadence"])


class BackfillOnlyTimetable(CronDataIntervalTimetable):
    """Monthly (or any cron) data intervals that only a backfill creates: the scheduler never starts a run
    by itself, so unpausing a ``<feed>_history`` DAG — which ``tesoma backfill`` must do, Airflow runs no
    backfill run of a paused DAG — leaves no empty run of the latest month in the grid.

    The scheduler asks with the DAG's ``catchup`` (False for these DAGs) and gets no run; a backfill lists
    its runs with ``catchup=True`` (``iter_dagrun_infos_between``) and gets every interval, as from
    Airflow's own cron timetable. Registered by :class:`orchestration.plugin.TesomaPlugin`.
    """

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        if not restriction.catchup:
            return None
        return super().next_dagrun_info(last_automated_data_interval=last_automated_data_interval,
                                        restriction=restriction)

    @property
    def summary(self) -> str:
        return f"{self._expression} (backfill only)"
