"""Waiting for a partner's delivery without holding a worker slot, and telling the operator when it is late.

- :class:`DeliverySensor` — a feed DAG's first task (drop feeds). It looks in ``landing/`` for the feed's
  files of the run's delivery date, exactly as :func:`tesoma.steps.land` will, and succeeds at once when
  they are there (so the demo, the tests and backfills of past dates never wait). Otherwise it defers to
  :class:`DeliveryTrigger`, which runs in Airflow's triggerer and looks again every ``poll_interval``
  seconds until the files arrive or the sensor's ``timeout`` passes — unless waiting cannot help (a
  backfill, or a date whose waiting window is over): then the feed's ``if_not_delivered`` applies at once.
- :func:`delivery_late` — the callback of each feed DAG's deadline alert (:func:`deadline_alert`): logs,
  in the triggerer, which feed and delivery date are late, which partners have not delivered and whom to
  contact.

Only file names and counts are logged and returned, never file contents.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import AsyncCallback, BaseSensorOperator, DeadlineAlert, DeadlineReference, PokeReturnValue
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from connectors.base import LandedFile

log = logging.getLogger(__name__)

TRIGGER_PATH = "orchestration.delivery_sensor.DeliveryTrigger"
# The run_type of runs created by `airflow backfill` / the UI's Backfill (DagRunType.BACKFILL_JOB in Airflow
# core, DagRunType.BACKFILL in the task SDK: both are this string).
BACKFILL = "backfill"


def utcnow() -> dt.datetime:
    """The current time; a function of its own so that tests can set the clock."""
    return dt.datetime.now(dt.UTC)


# --- what has arrived -------------------------------------------------------------------------------------

def landed(feed: str, delivery_date: dt.date, landing: Path) -> list[LandedFile]:
    """The feed's complete deliveries for the date under ``landing`` (what ``steps.land`` would archive)."""
    from tesoma.feeds import connector_for

    return connector_for(feed).discover_all(Path(landing), delivery_date)


def expected_partners(feed: str) -> tuple[str, ...]:
    import contracts

    return contracts.load(feed).partners


def is_complete(feed: str, found: list[LandedFile], expect: str = "all") -> bool:
    """``all``: every partner of the contract has delivered; ``any``: at least one has."""
    delivered = {f.partner for f in found}
    if expect == "any":
        return bool(delivered)
    return set(expected_partners(feed)) <= delivered


def describe(feed: str, delivery_date: dt.date, found: list[LandedFile]) -> dict[str, Any]:
    """A small, JSON-safe summary (names only) for the log, XCom and trigger events."""
    delivered = sorted({f.partner for f in found})
    return {
        "feed": feed,
        "delivery_date": delivery_date.isoformat(),
        "files": sorted(f"{f.partner}/{f.path.name}" for f in found),
        "partners_delivered": delivered,
        "partners_missing": [p for p in expected_partners(feed) if p not in delivered],
    }


def landing_root() -> Path:
    from tesoma.config import settings
    from warehouse.layout import Layout

    return Layout(settings().data_root).landing


# --- the trigger (runs in the triggerer) ------------------------------------------------------------------

class DeliveryTrigger(BaseTrigger):
    """Fires once the feed's files for ``delivery_date`` are in ``landing``; looks every ``poll_interval`` s.

    The directory scan runs in a worker thread so the triggerer's event loop is never blocked.
    """

    def __init__(self, feed: str, delivery_date: str, landing: str, expect: str = "all",
                 poll_interval: float = 300.0):
        super().__init__()
        self.feed = feed
        self.delivery_date = delivery_date
        self.landing = landing
        self.expect = expect
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return TRIGGER_PATH, {"feed": self.feed, "delivery_date": self.delivery_date, "landing": self.landing,
                              "expect": self.expect, "poll_interval": self.poll_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        day = dt.date.fromisoformat(self.delivery_date)
        checks = 0
        while True:
            found = await asyncio.to_thread(landed, self.feed, day, Path(self.landing))
            checks += 1
            if is_complete(self.feed, found, self.expect):
                summary = describe(self.feed, day, found)
                self.log.info("%s %s: %d file(s) arrived after %d check(s): %s", self.feed, self.delivery_date,
                              len(found), checks, ", ".join(summary["files"]))
                yield TriggerEvent({"status": "delivered", **summary})
                return
            await asyncio.sleep(self.poll_interval)


# --- the sensor (the DAG's first task) --------------------------------------------------------------------

class DeliverySensor(BaseSensorOperator):
    """Waits (deferrable) until the feed's delivery for the run's delivery date is in ``landing/``.

    :param feed: the feed (its contract says the partners, the landing folder and the file names)
    :param cadence: daily, monthly or yearly: gives the delivery date of a run
        (:func:`tesoma.schedule.delivery_date_for`)
    :param expect: ``all`` partners of the contract, or ``any`` one of them
    :param poll_interval: seconds (or a timedelta) between two looks while deferred
    :param timeout: seconds (or a timedelta) before giving up; then the task fails without retrying
        (:class:`~airflow.sdk.exceptions.AirflowSensorTimeout`), or is skipped with ``soft_fail=True``.

    It gives up at once, without deferring, when waiting cannot bring the files: in a backfill, and when
    the date's waiting window (the run's data interval end + ``timeout``) is already over.
    """

    ui_color = "#fdf0d5"

    def __init__(self, *, feed: str, cadence: str, expect: str = "all",
                 poll_interval: dt.timedelta | float = 300, timeout: dt.timedelta | float = 86400,
                 **kwargs: Any) -> None:
        super().__init__(poke_interval=poll_interval, timeout=timeout, mode="poke", **kwargs)
        if expect not in ("all", "any"):
            raise ValueError(f"expect must be 'all' or 'any', not {expect!r}")
        self.feed = feed
        self.cadence = cadence
        self.expect = expect

    def delivery_date(self, context: Any) -> dt.date:
        from tesoma.schedule import delivery_date_for

        moment = context.get("logical_date") or context["dag_run"].run_after
        return delivery_date_for(moment, self.cadence)

    def window_end(self, context: Any) -> dt.datetime | None:
        """When waiting for the run's delivery ends: the end of its data interval (the scheduled time)
        plus ``timeout``. None when the run has no such moment."""
        dag_run = context.get("dag_run")
        start = (context.get("data_interval_end") or context.get("logical_date")
                 or getattr(dag_run, "run_after", None))
        return start + dt.timedelta(seconds=self.timeout) if start is not None else None

    def reason_not_to_wait(self, context: Any) -> str | None:
        """Why deferring could not bring the files, or None when it could."""
        if getattr(context.get("dag_run"), "run_type", None) == BACKFILL:
            # A backfill replays past dates: what was delivered is in landing/ already. Waiting up to
            # ``timeout`` per missing date (NGO Sundays) would only hold the backfill's active runs for hours.
            return "backfill run"
        end = self.window_end(context)
        if end is not None and utcnow() > end:
            return f"its waiting window ended at {end.isoformat()}"
        return None

    def not_delivered(self, context: Any) -> NoReturn:
        """Apply ``if_not_delivered`` now, by the very code path a deferral that timed out takes
        (``resume_execution`` with Airflow's trigger-timeout signal): :class:`AirflowSensorTimeout`, failing
        without retry, or a skip with ``soft_fail`` — so the two ways of giving up can never differ."""
        self.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context)
        raise AssertionError("resume_execution returned from a trigger timeout")  # it always raises

    def poke(self, context: Any) -> PokeReturnValue:
        day = self.delivery_date(context)
        found = landed(self.feed, day, landing_root())
        summary = describe(self.feed, day, found)
        return PokeReturnValue(is_done=is_complete(self.feed, found, self.expect), xcom_value=summary)

    def execute(self, context: Any) -> dict[str, Any]:
        from orchestration.delivery_tasks import refuse_uncovered

        refuse_uncovered(self.feed, self.delivery_date(context))  # a date the feed has no deliveries for
        checked = self.poke(context)
        summary = checked.xcom_value
        if checked.is_done:
            self.log.info("%s %s: delivered (%d file(s): %s)", self.feed, summary["delivery_date"],
                          len(summary["files"]), ", ".join(summary["files"]))
            return summary
        reason = self.reason_not_to_wait(context)
        if reason is not None:
            self.log.info("%s %s: not delivered (partners missing: %s); not waiting (%s): if_not_delivered "
                          "applies now: %s", self.feed, summary["delivery_date"],
                          ", ".join(summary["partners_missing"]), reason, "skip" if self.soft_fail else "fail")
            self.not_delivered(context)
        self.log.info("%s %s: not delivered yet (partners missing: %s); waiting in the triggerer, looking every "
                      "%.0f s for up to %.0f s", self.feed, summary["delivery_date"],
                      ", ".join(summary["partners_missing"]), self.poke_interval, self.timeout)
        self.defer(
            trigger=DeliveryTrigger(feed=self.feed, delivery_date=summary["delivery_date"], landing=str(landing_root()),
                                    expect=self.expect, poll_interval=self.poke_interval),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        if not event or event.get("status") != "delivered":
            raise AirflowException(f"{self.feed}: the delivery trigger ended without a delivery: {event!r}")
        self.log.info("%s %s: delivered while waiting (%d file(s): %s)", self.feed, event["delivery_date"],
                      len(event["files"]), ", ".join(event["files"]))
        return {k: v for k, v in event.items() if k != "status"}


# --- the deadline alert -----------------------------------------------------------------------------------

def deadline_alert(feed: str, cadence: str, late_after: dt.timedelta) -> DeadlineAlert:
    """The feed DAG's deadline: ``late_after`` after the run was queued, :func:`delivery_late` is called.

    ``DAGRUN_QUEUED_AT`` rather than the logical date: for a scheduled run the two are the same moment,
    but a backfill of past dates would otherwise be "late" the moment it is created.
    """
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=late_after,
        callback=AsyncCallback(delivery_late, kwargs={"feed": feed, "cadence": cadence}),
        name=f"{feed} delivery late",
    )


def contacts(feed: str) -> list[str]:
    """Who to ask about a feed: the contract's ``team`` and ``support`` entries (names and addresses)."""
    import yaml

    import contracts

    raw = yaml.safe_load(contracts.load(feed).path.read_text(encoding="utf-8")) or {}
    out = []
    for member in raw.get("team") or []:
        who = member.get("username") or member.get("name")
        if who:
            role = "; ".join(str(x) for x in (member.get("role"), member.get("description")) if x)
            out.append(f"{who} ({role})" if role else str(who))
    for channel in raw.get("support") or []:
        where = channel.get("url") or channel.get("channel")
        if where:
            out.append(f"{where} ({channel['description']})" if channel.get("description") else str(where))
    return out


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and value:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


async def delivery_late(feed: str, cadence: str, context: dict | None = None, **_: Any) -> str:
    """Deadline-alert callback (run by the triggerer): log an operator message saying what is late.

    ``context`` is what Airflow passes to deadline callbacks: ``{"dag_run": {...}, "deadline": {...}}``.
    Returns the message (Airflow stores it as the callback's result).
    """
    from tesoma.schedule import delivery_date_for

    dag_run = (context or {}).get("dag_run") or {}
    deadline = ((context or {}).get("deadline") or {}).get("deadline_time")
    moment = _moment(dag_run.get("logical_date")) or _moment(dag_run.get("run_after"))
    lines = []
    if moment is None:
        day = None
        lines.append("delivery date unknown (the run has no logical date)")
    else:
        day = delivery_date_for(moment, cadence)
        try:
            found = await asyncio.to_thread(landed, feed, day, landing_root())
            summary = describe(feed, day, found)
        except Exception as exc:  # the alert must still go out
            summary = None
            lines.append(f"landing/ could not be checked ({type(exc).__name__})")
        if summary is not None:
            if summary["partners_missing"]:
                lines.append(f"not delivered by: {', '.join(summary['partners_missing'])}")
            if summary["partners_delivered"]:
                lines.append(f"delivered ({len(summary['files'])} file(s)) by: "
                             f"{', '.join(summary['partners_delivered'])}")
            if not summary["partners_missing"]:
                lines.append("every partner has delivered: the run itself is slow or stuck, look at its tasks")
    who = contacts(feed)
    message = (
        f"DELIVERY LATE: feed {feed}, delivery date {day or '?'}, run {dag_run.get('run_id', '?')} has not "
        f"finished by its deadline {deadline or '?'}. " + "; ".join(lines) + ". "
        f"Contact: {' / '.join(who) if who else 'see contracts/' + feed + '.yaml'}. "
        f"What to do: docs/operations.md, 'Late deliveries'."
    )
    log.warning(message)
    return message
