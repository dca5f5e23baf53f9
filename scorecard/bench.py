"""`tesoma bench marts`: the scorecard at county scale, and the same figures by hand-written queries (the floor).

One run, on a county-scale warehouse (``synthetic.county``: about 530,000 residents, 60 months, about 25
million contacts, written straight into the warehouse and kept for ``--reuse``):

(a) **full rebuild**: the monthly publication of the last month exactly as ``tesoma report --month`` makes it
    (``scorecard.publication.publish``): the sources catalog of the warehouse state, every mart for all 60
    months (dbt ``build``, ``scorecard.marts``), disclosure control of every published table
    (``scorecard.disclosure``), the scoring, manifest, ``report.html`` and the tag. Each stage is timed on
    its own by wrapping its function for the run (``marts.build``, ``disclosure.protect``,
    ``report.write``), so the figures say where the time goes. Goal ≤ 120 s.
(b) **adding one month**: the marts built incrementally for the last month only (``full_refresh=False``),
    plus disclosure control and the report as in (a). Goal ≤ 20 s.
(c) **peak memory**: the resident set high-water mark of this process (``RUSAGE_SELF``: dbt and DuckDB run
    in it) over the whole run; the generator runs in a child process of its own, measured alone
    (``os.wait4``), and ``RUSAGE_CHILDREN`` covers any other child. Goal ≤ 4 GiB.
(d) **the floor**: the same reach and continuity-of-care figures computed by one hand-written DuckDB query
    each, over the same sources (the catalog views of the state the marts read), timed and compared value
    by value with the marts' ``kpi_reach`` and ``kpi_continuity``; the marts' time is dbt's own per-model
    time (``MartsRun.models``) of the model and every model upstream of it. Goal: the marts within 1.5× of
    the floor.

When the publication fails (a failing dbt test, say), the table says so and the floor still runs on the
sources catalog. Measured figures and where the time goes: docs/benchmarks.md, "Marts at county scale".

Where: ``data/bench/county-<residents>r-<contacts>c-<months>m-<YYYYMM>-s<seed>/`` under the project (or
under ``--dir``), a data root of its own (ledger, Iceberg catalog and files, restricted and published
layers), never the warehouse of ``$TESOMA_DATA_ROOT``. ``--reuse`` keeps a county made before with the same
parameters (its generation figures are in ``county.json``); without it the folder is made afresh.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tesoma.config import PROJECT_DIR

GOAL_FULL_S = 120.0
GOAL_MONTH_S = 20.0
GOAL_PEAK_GIB = 4.0
GOAL_FLOOR_RATIO = 1.5
DEFAULT_BASE = PROJECT_DIR / "data" / "bench"
_ICEBERG_ENV = ("TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE", "TESOMA_LEDGER_URL")


@dataclass
class Row:
    """One line of the bench's table."""

    phase: str
    seconds: float | None
    goal: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Figures:
    rows: list[Row] = field(default_factory=list)
    values: dict = field(default_factory=dict)

    def add(self, phase: str, seconds: float | None, goal: str = "", met: bool | None = None, note: str = "") -> None:
        self.rows.append(Row(phase, seconds, goal, met, note))


def county_root(base: Path, residents: int, contacts: int, months: int, last_month: dt.date, seed: int) -> Path:
    return Path(base) / f"county-{residents}r-{contacts}c-{months}m-{last_month:%Y%m}-s{seed}"


# --- the county warehouse ---------------------------------------------------------------------------------

_GENERATE = """
import datetime as dt, json, sys
from pathlib import Path
from synthetic.county import generate_county
a = json.loads(sys.argv[1])
figures = generate_county(Path(a["root"]), residents=a["residents"], months=a["months"], seed=a["seed"],
                          last_month=dt.date.fromisoformat(a["last_month"]), contacts=a["contacts"])
Path(a["root"], "county.json").write_text(json.dumps(figures, default=str, indent=1))
"""


def ensure_county(root: Path, *, residents: int, contacts: int, months: int, last_month: dt.date, seed: int,
                  reuse: bool, echo: Callable[[str], object] = print) -> dict:
    """The county warehouse at ``root``: reused when asked and complete, else generated afresh in a child
    process (its wall time and peak memory measured alone). Returns the generator's figures."""
    made = root / "county.json"
    if reuse and made.exists():
        figures = json.loads(made.read_text())
        echo(f"county: reusing {root} ({figures['contacts']:,} contacts, state {figures['state_id']}; generated "
             f"in {figures.get('wall_s', figures['seconds']):.0f} s)")
        return {**figures, "reused": True}
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    args = json.dumps({"root": str(root), "residents": residents, "contacts": contacts, "months": months,
                       "last_month": last_month.isoformat(), "seed": seed})
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", _GENERATE, args], cwd=PROJECT_DIR)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the county generator failed (exit {child.returncode}); its error is above")
    figures = json.loads(made.read_text())
    figures.update(wall_s=time.perf_counter() - started, peak_rss_gib=usage.ru_maxrss / 2**20)
    made.write_text(json.dumps(figures, default=str, indent=1))
    return {**figures, "reused": False}


# --- timing the stages of a publication ---------------------------------------------------------------------

class _Stopwatch:
    """Wraps a module's function for the duration of a ``with`` block, summing its time and keeping its last
    result (the stages of ``publish`` call them by module attribute, so the wrapper is what they call)."""

    def __init__(self, module, name: str):
        self.module, self.name = module, name
        self.seconds, self.calls, self.result, self.args = 0.0, 0, None, None

    def __enter__(self):
        original = self.original = getattr(self.module, self.name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            self.args = (args, kwargs)
            try:
                self.result = original(*args, **kwargs)
                return self.result
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc) -> None:
        setattr(self.module, self.name, self.original)


@contextlib.contextmanager
def _own_data_root(root: Path):
    """The publication reads the settings' data root; the Iceberg/ledger variables of this shell must not
    point it elsewhere for the run."""
    saved = {k: os.environ.pop(k) for k in _ICEBERG_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _settings(root: Path):
    from tesoma.config import Settings

    return Settings(data_root=root, ledger_url=f"sqlite:///{root / 'ledger.sqlite'}",
                    key_file=root / "secrets" / "pseudonym.key")


def full_rebuild(root: Path, month: dt.date, figures: Figures, echo) -> dict:
    """(a): the publication of ``month`` with every stage timed; returns the marts run and where its files are."""
    from scorecard import disclosure, marts, publication, report

    settings = _settings(root)
    echo(f"(a) full rebuild: the publication of {month:%Y-%m} (scorecard.publication.publish) …")
    started = time.perf_counter()
    with _Stopwatch(marts, "build") as built, _Stopwatch(disclosure, "protect") as protect, \
            _Stopwatch(report, "write") as written, _Stopwatch(publication, "build_sources") as sources:
        try:
            published = publication.publish(settings, month, echo=lambda line: echo(f"    {line}"))
        except (publication.PublicationError, marts.MartsError, disclosure.DisclosureError) as exc:
            # The floor still runs on the sources catalog: the table says what failed.
            failed = " ".join(str(exc).split())[:200]
            figures.add("(a) tesoma report: FAILED", time.perf_counter() - started, f"≤ {GOAL_FULL_S:.0f} s", False,
                        failed)
            echo(f"    {exc}")
            if sources.args is None:
                raise
            return {"run": None, "sources_db": Path(sources.args[0][2]), "marts_db": None}
    total = time.perf_counter() - started
    run = built.result
    rest = total - sources.seconds - built.seconds - protect.seconds - written.seconds
    figures.add("(a) sources catalog of the state", sources.seconds)
    figures.add(f"    marts: dbt build, {len(run.models)} models + tests", built.seconds,
                note=f"{run.tests_passed} tests passed")
    slowest = sorted(run.models.items(), key=lambda item: -item[1])[:4]
    figures.add("      of it, the slowest models", sum(seconds for _, seconds in slowest),
                note=", ".join(f"{name} {seconds:.1f}" for name, seconds in slowest))
    figures.add(f"    disclosure control, {protect.calls} tables", protect.seconds)
    figures.add("    report.html", written.seconds)
    figures.add("    scoring, Parquet, manifest, tag", rest)
    figures.add(f"  total: tesoma report --month {month:%Y-%m}", total, f"≤ {GOAL_FULL_S:.0f} s", total <= GOAL_FULL_S)
    (sources_db, marts_db, work_dir), _ = built.args[0][:3], built.args[1]
    return {"run": run, "sources_db": Path(sources_db), "marts_db": Path(marts_db), "work_dir": Path(work_dir),
            "publication": published.publication_id, "after_marts_s": protect.seconds + written.seconds + rest}


def one_month(paths: dict, month: dt.date, figures: Figures, echo) -> None:
    """(b): the marts of the last month only (incremental), then as much disclosure and report as in (a)."""
    from scorecard import marts

    if paths["run"] is None:
        figures.add("(b) adding one month", None, f"≤ {GOAL_MONTH_S:.0f} s", False, "not run: (a) failed")
        return
    echo(f"(b) adding one month: the marts of {month:%Y-%m} only (incremental) …")
    started = time.perf_counter()
    run = marts.build(paths["sources_db"], paths["marts_db"], paths["work_dir"], last_month=month, full_refresh=False)
    seconds = time.perf_counter() - started
    figures.add(f"(b) marts: dbt build of {month:%Y-%m}, incremental", seconds, note=f"{len(run.models)} models")
    figures.add("    disclosure, scoring and report (as in (a))", paths["after_marts_s"])
    total = seconds + paths["after_marts_s"]
    figures.add("  total: adding one month", total, f"≤ {GOAL_MONTH_S:.0f} s", total <= GOAL_MONTH_S)


# --- the floor: one hand-written query each ----------------------------------------------------------------

AREA_SEED = PROJECT_DIR / "marts" / "seeds" / "tesoma_area.csv"

REACH = """
-- Reach of the area's residents, every month of the data, overall, per age group and per service area:
-- persons with a completed contact in the 12 months ending with the month whose latest month with contacts
-- in those months had them living in the area (municipality 837, a postal code of the area; that month's
-- latest contact with a known value), of that month's age group; per
-- residents of the area (population of the month's year, or the latest earlier year; 0-6 and 7-17 cut the
-- five-year bands evenly, rounded once as cumulative counts).
with area as (select postal_code from read_csv(?, header = true, all_varchar = true)),
contacts as (
    select hash(person_id) as person_id, year(event_date) * 12 + month(event_date) - 1 as m, event_start, status,
           age_at_event,
           coalesce(service_area, 'unmapped') as service_area,
           home_municipality = '837' and home_postal_code in (select postal_code from area) as resident
    from service_event_current
    where status in ('completed', 'no_show') and event_date is not null
),
span as (select min(m) as first_n, ? as last_n from contacts),
-- Only a person with some contact in the area can count in a month: the rest is left out at once.
candidates as (select distinct person_id from contacts where resident and status = 'completed'),
person_months as (
    select c.person_id, c.m, arg_max(c.resident, c.event_start) as resident,
           arg_max(c.age_at_event, c.event_start) as age,
           list(distinct c.service_area) filter (where c.service_area <> 'unmapped') as areas
    from contacts as c semi join candidates as k on k.person_id = c.person_id, span
    where c.status = 'completed' and c.m <= span.last_n
    group by all
),
windows as (
    select p.person_id, t.month_n, arg_max_null(p.age, p.m) as age, list_distinct(flatten(list(p.areas))) as areas
    from person_months as p, span,
         lateral (select unnest(range(greatest(p.m, span.first_n), least(p.m + 12, span.last_n + 1))) as month_n) as t
    group by all
    having arg_max_null(p.resident, p.m)
),
labelled as (
    select month_n, 'all' as breakdown, 'all' as group_value from windows
    union all
    select month_n, 'age_group', 'all' from windows
    union all
    select month_n, 'age_group', case when age is null then 'unknown' when age <= 6 then '0-6' when age <= 17
        then '7-17' when age <= 64 then '18-64' when age <= 74 then '65-74' else '75+' end from windows
    union all
    select month_n, 'age_group', '65+' from windows where age >= 65
    union all
    select month_n, 'service_area', unnest(areas) from windows
),
users as (select month_n, breakdown, group_value, count(*) as users from labelled group by all),
bands as (
    select year::integer as year, split_part(replace(age_band, '+', ''), '-', 1)::integer as band_from,
           sum(residents) as residents
    from population where postal_code in (select postal_code from area) group by all
),
cumulative as (
    select year,
           sum(residents) filter (where band_from < 5)
               + round(0.4 * coalesce(sum(residents) filter (where band_from = 5), 0)) as under_7,
           sum(residents) filter (where band_from < 15)
               + round(0.6 * coalesce(sum(residents) filter (where band_from = 15), 0)) as under_18,
           coalesce(sum(residents) filter (where band_from < 65), 0) as under_65,
           coalesce(sum(residents) filter (where band_from < 75), 0) as under_75,
           sum(residents) as total
    from bands group by year
),
residents as (
    select year, unnest(['all', '0-6', '7-17', '18-64', '65-74', '75+', '65+']) as age_group,
           unnest([total, under_7, under_18 - under_7, under_65 - under_18, under_75 - under_65, total - under_75,
                   total - under_65])::bigint as residents
    from cumulative
),
grid as (
    select g.breakdown, g.group_value, unnest(range(span.first_n, span.last_n + 1)) as month_n
    from span, (
        select 'all' as breakdown, 'all' as group_value
        union all select 'age_group', unnest(['all', '0-6', '7-17', '18-64', '65-74', '75+', '65+', 'unknown'])
        union all select 'service_area', unnest(['primary_care', 'dental_care', 'maternity_clinic', 'child_clinic',
            'social_counselling', 'wellbeing_counselling', 'youth_services', 'library', 'ngo_activity',
            'digital_service'])
    ) as g
)
select make_date(g.month_n // 12, g.month_n % 12 + 1, 1) as month, g.breakdown, g.group_value,
       r.residents::bigint as residents, coalesce(u.users, 0)::bigint as users,
       round(100.0 * coalesce(u.users, 0) / nullif(r.residents, 0), 2) as reach_pct
from grid as g
left join users as u using (month_n, breakdown, group_value)
left join residents as r
    on r.year = (select max(year) from cumulative where year <= g.month_n // 12)
   and r.age_group = case when g.breakdown = 'age_group' then g.group_value else 'all' end
order by all
"""

CONTINUITY = """
-- Continuity of care per month and professional group (physician, nurse), for everyone and for persons aged
-- 65 or over at their latest visit: mean Bice-Boxerman COC, UPC and SECON over the persons with at least 3
-- completed visits of the group with a recorded professional in the 12 months ending with the month.
-- One sweep over time per person and group: a visit enters the window in its month and leaves 12 months
-- later, and so does a same-professional pair of consecutive visits (from the later one's month until the
-- earlier one leaves), so the visits and the pairs are running sums of changes. Each professional's count is
-- a running sum too, constant between its own change points; the sum of squares and the largest count at a
-- change point of the person come from the professionals whose interval holds it (a range join). Nothing is
-- expanded to months until the end.
with contacts as (
    -- 64-bit hashes of the pseudonyms: sorting 8-byte keys, not 26-character texts (one-to-one here, as the
    -- marts' test assert_person_key_is_collision_free checks for the same hash)
    select hash(person_id) as person_id, professional_group = 'nurse' as nurse, hash(professional_id) as prof,
           year(event_date) * 12 + month(event_date) - 1 as m, event_start, age_at_event, status,
           professional_group
    from service_event_current
    where status in ('completed', 'no_show') and event_date is not null
),
span as (select min(m) as first_n, ? as last_n from contacts),
visits as (
    select person_id, nurse, prof, m, event_start, age_at_event from contacts, span
    where status = 'completed' and professional_group in ('physician', 'nurse') and prof is not null
      and m <= span.last_n
),
sequenced as (
    select person_id, nurse, m, age_at_event, lag(prof) over w = prof as same, lag(m) over w as previous_m
    from visits window w as (partition by person_id, nurse order by event_start, prof)
),
changes as (
    select person_id, nurse, m as t, count(*) as d_visits, count(*) filter (where same) as d_pairs,
           max(age_at_event) as age
    from sequenced group by all
    union all select person_id, nurse, m + 12, -count(*), 0, null from visits group by all
    union all select person_id, nurse, previous_m + 12, 0, -count(*), null from sequenced where same group by all
    union all select distinct person_id, nurse, span.first_n, 0, 0, null from visits, span
),
timeline as (
    select person_id, nurse, t, lead(t) over w as next_t, sum(sum(d_visits)) over w as visits,
           sum(sum(d_pairs)) over w as same_pairs, max(max(age)) over w as age
    from changes group by person_id, nurse, t
    window w as (partition by person_id, nurse order by t rows between unbounded preceding and current row)
),
eligible as (select timeline.* from timeline, span where visits >= 3 and t between span.first_n and span.last_n),
professionals as (
    select * from (
        select person_id, nurse, prof, t, sum(sum(d)) over w as n, lead(t) over w as next_t
        from (select person_id, nurse, prof, m as t, count(*) as d from visits group by all
              union all select person_id, nurse, prof, m + 12, -count(*) from visits group by all)
        group by person_id, nurse, prof, t
        window w as (partition by person_id, nurse, prof order by t rows between unbounded preceding and current row)
    ) where n > 0
),
scores as (
    select e.person_id, e.nurse, e.t, sum(p.n * p.n) as squares, max(p.n) as usual
    from eligible as e
    join professionals as p on p.person_id = e.person_id and p.nurse = e.nurse and p.t <= e.t and e.t < p.next_t
    group by all
),
months as (
    select e.nurse, unnest(range(e.t, least(coalesce(e.next_t, span.last_n + 1), span.last_n + 1))) as month_n,
           e.age >= 65 as old, (s.squares - e.visits) / (e.visits * (e.visits - 1)) as coc, s.usual / e.visits as upc,
           e.same_pairs / (e.visits - 1) as secon
    from eligible as e join scores as s using (person_id, nurse, t), span
)
select make_date(month_n // 12, month_n % 12 + 1, 1) as month,
       case when nurse then 'nurse' else 'physician' end as professional_group, g.age_group,
       count(*) as eligible_persons, round(avg(coc), 4) as coc_mean, round(avg(upc), 4) as upc_mean,
       round(avg(secon), 4) as secon_mean
from months, (select unnest(['all', '65+']) as age_group) as g
where g.age_group = 'all' or old
group by all
order by all
"""


def compare(con, floor_rows, mart: str, keys: list[str], values: list[str]) -> list[str]:
    """Rows of the mart table ``mart`` (database.schema.table) and of the floor that differ (by ``keys``),
    worded; [] when equal."""
    con.register("floor_rows", floor_rows)
    on = " and ".join(f"f.{k} is not distinct from m.{k}" for k in keys)
    differs = " or ".join(f"f.{v} is distinct from m.{v}" for v in values)
    shown = ", ".join([*(f"coalesce(f.{k}, m.{k})" for k in keys), *(f"f.{v}, m.{v}" for v in values)])
    # Names are our own constants (model, columns); DuckDB cannot bind identifiers.
    rows = con.execute(f"select {shown} from floor_rows as f full join {mart} as m on {on} "  # noqa: S608
                       f"where {differs} order by all").fetchall()
    con.unregister("floor_rows")
    labels = [*keys, *(f"{v} floor|mart" for v in values)]
    return ["; ".join(f"{label}={value}" for label, value in zip(labels, _pairs(row, len(keys)), strict=True))
            for row in rows]


def _pairs(row: tuple, keys: int) -> list:
    values = list(row[keys:])
    return [*row[:keys], *(f"{values[i]}|{values[i + 1]}" for i in range(0, len(values), 2))]


FLOORS = {
    "reach": (REACH, ["month", "breakdown", "group_value"], ["residents", "users", "reach_pct"]),
    "continuity": (CONTINUITY, ["month", "professional_group", "age_group"],
                   ["eligible_persons", "coc_mean", "upc_mean", "secon_mean"]),
}


def upstream(manifest: dict, model: str) -> set[str]:
    """The unique ids of ``model`` and every node it depends on (models and seeds), from dbt's manifest."""
    nodes = manifest["nodes"]
    start = next((uid for uid, n in nodes.items() if n.get("resource_type") == "model" and n["name"] == model), None)
    if start is None:
        raise KeyError(f"the marts have no model {model}")
    seen, todo = set(), [start]
    while todo:
        uid = todo.pop()
        if uid in seen or uid not in nodes:
            continue
        seen.add(uid)
        todo += nodes[uid].get("depends_on", {}).get("nodes", [])
    return seen


def chain_seconds(run, model: str) -> tuple[float, list[str]]:
    """dbt's own time of ``model`` and the models upstream of it (seeds and tests not counted)."""
    names = {run.manifest["nodes"][uid]["name"] for uid in upstream(run.manifest, model)}
    return sum(s for name, s in run.models.items() if name in names), sorted(n for n in names if n in run.models)


def floor(paths: dict, month: dt.date, figures: Figures, echo) -> None:
    """(d): reach and COC by one query each over the sources the marts read, timed; equal to the marts?"""
    import duckdb

    run = paths["run"]
    # The marts' database: dbt (in this process) may still hold it open, and DuckDB opens a file once per
    # process, so this is its instance, with the sources attached as `warehouse` as the profile has them.
    con = duckdb.connect(str(paths["marts_db"]) if run is not None else ":memory:")
    marts_db = '"' + con.execute("select current_database()").fetchall()[0][0].replace('"', '""') + '"'
    if "warehouse" not in {r[0] for r in con.execute("select database_name from duckdb_databases()").fetchall()}:
        con.execute(f"attach '{paths['sources_db']}' as warehouse (read_only)")  # our own path: no binding in DDL
    # As the marts' profile (marts/profiles.yml): two threads, 3 GB.
    con.execute("set threads = 2; set memory_limit = '3GB'; set preserve_insertion_order = false")
    last_n = month.year * 12 + month.month - 1
    for kpi, (query, keys, values) in FLOORS.items():
        model = f"kpi_{kpi}"
        echo(f"(d) floor: {kpi} by one hand-written query …")
        con.execute("use warehouse.main")
        parameters = [str(AREA_SEED), last_n] if kpi == "reach" else [last_n]
        started = time.perf_counter()
        rows = con.sql(query, params=parameters).to_arrow_table()
        seconds = time.perf_counter() - started
        con.execute(f"use {marts_db}.main")
        figures.add(f"(d) floor: {kpi}, one query", seconds, note=f"{rows.num_rows} rows")
        figures.values[kpi] = {"floor_s": seconds}
        if run is None or model not in run.models:
            figures.add(f"    marts: {model}", None, f"≤ {GOAL_FLOOR_RATIO}× floor", False, "not built in this run")
            continue
        chain, models = chain_seconds(run, model)
        ratio = chain / seconds if seconds else float("inf")
        differences = compare(con, rows, f"{marts_db}.main.{model}", keys, values)
        figures.add(f"    marts: {model} and its {len(models) - 1} upstream models", chain,
                    f"≤ {GOAL_FLOOR_RATIO}× floor", ratio <= GOAL_FLOOR_RATIO, f"{ratio:.2f}× the floor")
        figures.add(f"    {model} equal to the floor", None, "every value", not differences,
                    "equal in every month" if not differences else f"{len(differences)} rows differ")
        for line in differences[:10]:
            echo(f"    DIFFERENT {kpi}: {line}")
        figures.values[kpi].update(chain_s=chain, ratio=ratio, models=models, differences=differences)
    con.close()


# --- the run ----------------------------------------------------------------------------------------------

def peak_memory(figures: Figures, county: dict) -> None:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    figures.add("(c) peak RSS: marts, disclosure, report, floor", None, f"≤ {GOAL_PEAK_GIB:.0f} GiB",
                own <= GOAL_PEAK_GIB, f"{own:.2f} GiB (this process, RUSAGE_SELF)")
    if county.get("peak_rss_gib") is not None and not county.get("reused"):
        figures.add("    generator (its own process)", None, note=f"{county['peak_rss_gib']:.2f} GiB")
    figures.add("    any child process (RUSAGE_CHILDREN)", None, note=f"{children:.2f} GiB")
    figures.values.update(peak_rss_gib=own, children_peak_rss_gib=children)


def print_table(figures: Figures, echo) -> None:
    echo("")
    echo(f"{'phase':<50} {'seconds':>9}  {'goal':<14} {'met':<8} note")
    for r in figures.rows:
        seconds = f"{r.seconds:9.1f}" if r.seconds is not None else " " * 9
        met = "" if r.met is None else ("met" if r.met else "NOT MET")
        echo(f"{r.phase:<50} {seconds}  {r.goal:<14} {met:<8} {r.note}".rstrip())


def run(base: Path | None = None, *, residents: int = 530_000, contacts: int = 25_000_000, months: int = 60,
        last_month: dt.date = dt.date(2026, 10, 1), seed: int = 42, reuse: bool = False,
        echo: Callable[[str], object] = print) -> Figures:
    """The whole bench (see the module's docstring); prints progress and the table, returns the figures."""
    root = county_root(Path(base or DEFAULT_BASE).resolve(), residents, contacts, months, last_month, seed)
    figures = Figures()
    county = ensure_county(root, residents=residents, contacts=contacts, months=months, last_month=last_month,
                           seed=seed, reuse=reuse, echo=echo)
    if not county["reused"]:
        figures.add("county warehouse generated (child process)", county["wall_s"],
                    note=f"{county['contacts']:,} contacts, {county['bytes'] / 2**30:.2f} GiB of Parquet")
    figures.values["county"] = county
    with _own_data_root(root):
        paths = full_rebuild(root, last_month, figures, echo)
        one_month(paths, last_month, figures, echo)
        floor(paths, last_month, figures, echo)
    peak_memory(figures, county)
    print_table(figures, echo)
    echo(f"\nwarehouse, marts and publication: {root} (`--reuse` keeps the county for the next run)")
    return figures
