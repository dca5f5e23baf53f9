"""Runs named by feed and delivery date: ``city_visits__2026-10-01``, not ``scheduled__2026-10-02T04:00:00+00:00``.

A feed DAG's schedule is Airflow's cron trigger; only the run ids differ. The id says which delivery a run
processes (``tesoma.schedule.delivery_date_for`` of the run's moment), so the grid, URLs and logs name it.
A scheduled run has exactly that id (one per delivery date); a run started by hand or by a backfill gets
its kind and a random tail (``city_visits__2026-10-01__manual_3f9a1c``), so a date can be run again
beside an earlier run. Triggering with an explicit run id (``tesoma.schedule.run_id``) still works.

Airflow serialises a DAG's timetable for the scheduler and the API server, so a custom timetable must be
registered by a plugin (:class:`orchestration.plugin.TesomaPlugin`) in every Airflow process.
"""

from __future__ import annotations

import secrets
from typing import Any

from airflow.timetables.trigger import CronTriggerTimetable
from airflow.utils.types import DagRunType


class DeliveryDateTimetable(CronTriggerTimetable):
    """A cron trigger whose runs are named ``<feed>__<delivery date>`` (see the module's docstring)."""

    def __init__(self, cron: str, *, timezone: Any, feed: str, cadence: str, **kwargs: Any) -> None:
        super().__init__(cron, timezone=timezone, **kwargs)
        self.feed = feed
        self.cadence = cadence

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
