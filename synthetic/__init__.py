"""A seeded synthetic world for the Tesoma alliance: residents and every partner's deliveries.

:func:`generate` draws a population of residents of the Tesoma area and simulates, day by day, what the
partners deliver about them: the city's visit extracts (CSV drops and a reporting database), its daily
activity counts and access times, Mehiläinen's FHIR bulk exports, the NGOs' activity reports, monthly
costs and the reference population. Realistic faults are injected at a chosen rate and listed in the
answer key ``landing/_generated.json``. The same arguments always give byte-identical files (and file
modification times). See ``docs/synthetic-data.md``.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
from collections.abc import Callable

from synthetic import city, costs, fhir, ngo, reference
from synthetic.answer_key import ANSWER_KEY, AnswerKey, main_summary_lines
from synthetic.faults import FaultPlan
from synthetic.identity_codes import has_new_sign, is_temporary
from synthetic.population import Population, Resident, generate_population
from synthetic.schedule import period

__all__ = ["Population", "Resident", "generate", "generate_population", "main_summary_lines", "owned_paths"]


def owned_paths(root: pathlib.Path) -> list[pathlib.Path]:
    """Everything the generator writes (and so may delete before writing again), all inside
    ``root/landing`` and ``root/sources``."""
    feed_folders = [
        *(("city", feed) for feed in city.FEEDS),
        ("mehilainen", fhir.FEED),
        *((org.partner, ngo.FEED) for org in ngo.ORGANISATIONS),
        *((partner, costs.FEED) for partner in costs.MONTHLY_COST_PER_16000_EUR),
        (reference.PARTNER, reference.FEED),
    ]
    return [
        *(root / "landing" / partner / feed for partner, feed in feed_folders),
        root / city.city_reporting_db.DATABASE,
        root / ANSWER_KEY,
    ]


def _clear(root: pathlib.Path) -> None:
    allowed = [(root / zone).resolve() for zone in ("landing", "sources")]
    for path in owned_paths(root):
        resolved = path.resolve()
        if not any(resolved.is_relative_to(zone) and resolved != zone for zone in allowed):
            raise RuntimeError(f"refusing to delete {path}: outside landing/ and sources/")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def generate(
    root: pathlib.Path,
    *,
    start: dt.date,
    days: int = 30,
    residents: int = 16_000,
    seed: int = 42,
    fault_rate: float = 0.03,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Writes the deliveries under root (the data root, e.g. ./data) and returns a summary dict
    (JSON-serialisable: counts of files/rows per feed, the list of injected faults)."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if residents < 1:
        raise ValueError("residents must be at least 1")
    if not 0 <= fault_rate <= 1:
        raise ValueError("fault_rate must be between 0 and 1")
    root = pathlib.Path(root)
    report = progress or (lambda line: None)
    _clear(root)
    calendar_days = period(start, days)
    population = generate_population(residents, seed=seed, reference_date=start)
    report(f"population: {residents} residents")
    key = AnswerKey(
        root,
        {
            "start": start.isoformat(),
            "days": days,
            "residents": residents,
            "seed": seed,
            "fault_rate": fault_rate,
        },
    )
    key.extra["period"] = {
        "first_day": calendar_days[0].isoformat(),
        "last_day": calendar_days[-1].isoformat(),
    }
    key.extra["population"] = {
        "residents": residents,
        "new_century_signs": sum(has_new_sign(r.hetu) for r in population.residents),
        "temporary_codes": sum(is_temporary(r.hetu) for r in population.residents),
        "century_sign_twin_pairs": len(population.century_sign_twins),
    }
    plan = FaultPlan.draw(seed, fault_rate, calendar_days)
    reference.deliver(key, population, calendar_days, report)
    city.deliver(key, plan, population, calendar_days, seed, report)
    fhir.deliver(key, plan, population, calendar_days, seed, report)
    ngo.deliver(key, population, calendar_days, seed, report)
    costs.deliver(key, calendar_days, residents, seed, report)
    summary = key.write()
    report(f"answer key: {ANSWER_KEY.as_posix()} ({len(summary['faults'])} faults)")
    return summary
