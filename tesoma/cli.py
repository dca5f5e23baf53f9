"""The `tesoma` command: drives the pipeline's steps without a scheduler.

    tesoma generate --days 30          synthetic deliveries for every feed into data/landing
    tesoma demo                        generate + run the city_visits DAG for each day + example query
    tesoma generate --scale county     five years of every feed for ~530,000 residents (streaming)
    tesoma run --feed city_visits --date 2026-10-01     one feed, one day, without Airflow
    tesoma run --from 2026-10-01 --to 2026-10-31        every feed over a range, in batches, without Airflow
    tesoma backfill --from 2026-10-01 --to 2026-10-31   every feed through Airflow's backfill (PostgreSQL stack)
    tesoma check --feed city_visits FILE       a partner's pre-flight check (writes nothing)
    tesoma query "select ..."          SQL against the warehouse (DuckDB)
    tesoma shell                       an interactive SQL prompt on the warehouse
    tesoma query --as-of 2026-11-01T12:00 "select ..."   the warehouse as it was then (or a state id, a tag)
    tesoma warehouse states|tag|expire|migrate          the warehouse's history (tesoma/warehouse_commands.py)
    tesoma status                      deliveries per feed from the ledger
    tesoma airflow [--stop]            the Airflow UI on http://127.0.0.1:8080 with demo data
    tesoma audit                       scan warehouse, docs and logs for identifying data
    tesoma quality-report              quality results of every delivery, as a page
    tesoma data-docs                   Great Expectations Data Docs (HTML) of every delivery's checks
    tesoma purge                       retention: delete identifiable copies past their time
    tesoma reprocess                   re-ingest everything still in raw/ (after a key rotation)
    tesoma bench pseudonymise          throughput of the pseudonymise step
    tesoma bench read-memory           peak memory reading a 2M-row CSV and a 1 GiB FHIR export
    tesoma bench publish               the whole publish path against a bare DuckDB copy
    tesoma bench commits               Iceberg commit cost per delivery as a table's snapshots grow
    tesoma bench queries               the analysts' worked questions on the demo warehouse, and a view refresh
    tesoma bench marts                 the scorecard on a county-scale warehouse against hand-written queries
    tesoma bench backfill              county deliveries backfilled through Airflow against one process
    tesoma bench day                   one day of every feed, files in landing to queryable, via `make airflow`
    tesoma dictionary                  the data dictionary of the canonical tables
    tesoma report --month 2026-10      publish the month's scorecard (tables + report.html) from the warehouse
    tesoma report --reproduce 2026-10-1    rebuild a publication from its tagged state; identical per table?

A problem (a bad argument, a missing file, an unknown feed, a weak key, bad SQL) is one line on stderr,
`tesoma: error: …`, and exit code 2 (arguments) or 1; anything else is one line `tesoma: internal error …`
(exit 70); TESOMA_DEBUG=1 shows its traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path

from tesoma.config import settings

DEFAULT_START = dt.date(2026, 10, 1)
EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL = 1, 2, 70  # 70: EX_SOFTWARE of sysexits.h


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-01") from None


def _feed(text: str) -> str:
    """A feed with a contract; the error lists the known ones."""
    import contracts

    known = contracts.available()
    if text not in known:
        raise argparse.ArgumentTypeError(f"unknown feed {text!r}; known feeds: {', '.join(known)}")
    return text


def _existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"no such folder: {text}")
    return text


def _existing_path(text: str) -> str:
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {text}")
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (with where to find the usage), not the usage block."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"tesoma: error: {message} (see `{self.prog} --help`)\n")


def cmd_generate(args: argparse.Namespace) -> int:
    from synthetic import generate, main_summary_lines

    root = args.root or settings().data_root
    started = time.monotonic()
    if args.scale == "county":
        return _generate_county(args, root, started)
    args.residents = args.residents or 16_000
    summary = generate(root, start=args.start, days=args.days, residents=args.residents, seed=args.seed,
                       fault_rate=args.fault_rate, progress=(lambda line: print(f"  {line}")) if args.verbose else None)
    for line in main_summary_lines(summary):
        print(line)
    print(f"generated {args.days} days for {args.residents} residents into {root / 'landing'} "
          f"in {time.monotonic() - started:.1f}s")
    return 0


def _generate_county(args: argparse.Namespace, root, started: float) -> int:
    """``--scale county``: five years (``--months`` ending ``--last-month``) of every feed for a county."""
    from synthetic.county_deliveries import DEFAULT_RESIDENTS, generate_county_deliveries

    residents = args.residents or DEFAULT_RESIDENTS
    summary = generate_county_deliveries(root, residents=residents, months=args.months, last_month=args.last_month,
                                         seed=args.seed, fault_rate=args.fault_rate, progress=print)
    width = max(len(feed) for feed in summary["feeds"])
    for feed, info in summary["feeds"].items():
        print(f"  {feed:<{width}}  {len(info['deliveries']):>6} deliveries  {info['files']:>6} files  "
              f"{info['rows']:>11,} rows")
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(summary["fault_counts"].items())) or "none"
    print(f"faults: {len(summary['faults'])} ({counts}); answer key landing/_generated.json")
    print(f"generated {args.months} months for {residents:,} residents ({summary['contacts']:,} contacts) into "
          f"{root / 'landing'} in {time.monotonic() - started:.1f}s")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from synthetic import generate
    from tesoma.demo import EXAMPLE_QUERY, run_days, run_other_feeds
    from tesoma.keys import ensure_demo_key, load_key

    s = settings()
    if ensure_demo_key(s):
        print(f"created a demo pseudonym key in {s.key_file} (mode 0600); production keys come from a secrets store")
    load_key(s)  # a weak configured key stops the demo here, in one line, not inside a DAG run
    started = time.monotonic()
    generate(s.data_root, start=args.start, days=args.days, residents=args.residents, seed=args.seed,
             fault_rate=args.fault_rate)
    print(f"generated {args.days} days of deliveries for {args.residents} residents "
          f"in {time.monotonic() - started:.1f}s")
    print("\ncity_visits through its Airflow DAG, one dag.test() run per day:")
    summary = run_days(s, "city_visits", args.start, args.days)
    total = {k: sum(r[k] for r in summary) for k in ("read", "published", "quarantined")}
    print(f"{'total':<24}{total['read']:>7}{total['published']:>11}{total['quarantined']:>13}")
    print("\nthe other feeds, every landed delivery, through the same steps (tesoma run):")
    run_other_feeds(s)
    print(f"\nquarantine reports: {s.data_root / 'quarantine'}; ledger: tesoma status\n")
    print(f"$ tesoma query \"{EXAMPLE_QUERY}\"")
    _print_query(EXAMPLE_QUERY)
    _demo_report(s, args.start + dt.timedelta(days=args.days - 1))
    # A run with a rejected delivery fails on purpose (the operator must see it); any other failure is a defect.
    unexplained = [r for r in summary if "success" not in r["dag_state"] and "rejected" not in r["states"]]
    rejected = [r for r in summary if "rejected" in r["states"]]
    if rejected:
        print(f"{len(rejected)} run(s) failed because a delivery was rejected, as the demo's faults intend: "
              f"{', '.join(str(r['date']) for r in rejected)} (reasons: tesoma status --all)")
    if unexplained:
        print(f"{len(unexplained)} DAG run(s) did not succeed: {[str(r['date']) for r in unexplained]}",
              file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from tesoma import steps

    if args.date is not None and (args.start or args.end):
        print("tesoma: error: give either --date or --from/--to, not both", file=sys.stderr)
        return EXIT_USAGE
    if args.date is None:
        return _run_range(args)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for feed in args.feed or ["city_visits"]:
        for result in steps.process_date(feed, args.date, pull=args.pull):
            print(result)
    steps.refresh_catalog()
    return 0


def _run_range(args: argparse.Namespace) -> int:
    """``tesoma run --from … --to …``: a range of delivery dates in one process, in batches (the backfill
    without Airflow), a line per feed and month, then the counts."""
    from tesoma import backfill, steps

    if not (args.start and args.end):
        print("tesoma: error: give --date, or both --from and --to", file=sys.stderr)
        return EXIT_USAGE
    if args.start > args.end:
        print(f"tesoma: error: --from {args.start} is after --to {args.end}: give the earlier date as --from",
              file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    feeds = list(dict.fromkeys(args.feed)) if args.feed else backfill.feeds()
    done = steps.process_range(feeds, args.start, args.end, progress=lambda line: print(line, flush=True))
    print(f"{done.get('deliveries', 0)} deliveries in {done['batches']} batch(es), {done['seconds']:.1f} s: "
          f"{done.get('published', 0)} published, {done.get('rejected', 0)} rejected, "
          f"{done.get('superseded', 0)} superseded ({done.get('already_done', 0)} already done before); "
          f"{done.get('rows_quarantined', 0)} row(s) quarantined; catalog refreshed in {done['catalog_seconds']:.1f} s")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Backfill feeds through Airflow's backfill API, with progress and a summary (tesoma/backfill/)."""
    from tesoma import backfill

    if args.start > args.end:
        print(f"tesoma: error: --from {args.start} is after --to {args.end}: give the earlier date as --from",
              file=sys.stderr)
        return EXIT_USAGE
    status, _ = backfill.run(args.feed, args.start, args.end, url=args.airflow_url, rerun=args.rerun,
                             max_active_runs=args.max_active_runs, poll=args.poll, daily=args.daily,
                             history=args.history)
    return status


def _connect(as_of: str | None = None):
    """The analysts' catalog, or the same views at an earlier state (``--as-of``)."""
    from warehouse import catalog
    from warehouse.layout import Layout

    layout = Layout(settings().data_root)
    if as_of is None:
        return catalog.connect(layout)
    return catalog.as_of(layout, as_of, settings().ledger_url)


def _print_query(sql: str, as_of: str | None = None) -> None:
    with _connect(as_of) as con:
        frame = con.sql(sql).df()
    print(frame.to_string(index=False) if len(frame) else "(no rows)")


def cmd_query(args: argparse.Namespace) -> int:
    _print_query(args.sql, args.as_of)  # a DuckDB error (bad SQL, unknown view) becomes one line in main
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    """An interactive SQL prompt on the catalog (read-only); ``.quit`` or Ctrl-D leaves."""
    import duckdb

    from warehouse.layout import Layout

    con = _connect(args.as_of)
    views = [r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()]
    state = con.execute("select state_id from warehouse_state").fetchall() if "warehouse_state" in views else []
    where = Layout(settings().data_root).catalog if args.as_of is None else f"the warehouse as of {args.as_of}"
    print(f"tesoma shell on {where} (warehouse state {state[0][0] if state else 'none'}) — views: {', '.join(views)}")
    print("end a statement with ';'; .quit to leave")
    buffer = ""
    while True:
        try:
            line = input("tesoma> " if not buffer else "   ...> ")
        except EOFError:
            print()
            return 0
        if line.strip() in (".quit", ".exit", "\\q"):
            return 0
        buffer += line + "\n"
        if not buffer.strip().endswith(";"):
            continue
        try:
            frame = con.sql(buffer).df()
            print(frame.to_string(index=False) if len(frame) else "(no rows)")
        except duckdb.Error as exc:
            print(f"error: {exc}")
        buffer = ""


def cmd_status(args: argparse.Namespace) -> int:
    from collections import defaultdict

    from warehouse.ledger import Ledger, newest

    ledger = Ledger(settings().ledger_url)
    deliveries = ledger.all(args.feed)
    findings = ledger.findings(args.feed)
    if not deliveries and not findings:
        print("no deliveries in the ledger yet (run `tesoma demo` or `tesoma run`)")
        return 0
    if args.all:
        print(f"{'delivery':<48}{'state':<12}{'read':>7}{'published':>11}{'quarantined':>13}  reason")
        for d in deliveries:
            print(f"{d.delivery_id:<48}{d.state:<12}{d.rows_read or 0:>7}{d.rows_published or 0:>11}"
                  f"{d.rows_quarantined or 0:>13}  {(d.reason or '')[:70]}")
    else:
        by_feed: dict[tuple[str, str], list] = defaultdict(list)
        for d in deliveries:
            by_feed[(d.feed, d.partner)].append(d)
        print(f"{'feed':<17}{'partner':<17}{'last date':<12}{'state':<12}{'rows':>7}{'quarant.':>9}"
              f"{'deliveries':>11}{'rejected':>9}  last problem")
        for (feed, partner), items in sorted(by_feed.items()):
            last_date = max(d.delivery_date for d in items)
            # The delivery of the last date that counts, as publish picks it (a correction, or a resend).
            last = newest(d for d in items if d.delivery_date == last_date)
            rejected = [d for d in items if d.state == "rejected"]
            problem = max(rejected, key=lambda d: d.delivery_date) if rejected else None
            print(f"{feed:<17}{partner:<17}{last.delivery_date.isoformat():<12}{last.state:<12}"
                  f"{last.rows_read or 0:>7}{last.rows_quarantined or 0:>9}{len(items):>11}{len(rejected):>9}  "
                  + (f"{problem.delivery_date}: {(problem.reason or '')[:60]}" if problem else ""))
    if findings:
        print(f"\nnot a delivery: {len(findings)} name(s) in landing/ (partners read "
              "quarantine/<partner>/_landing/<feed>.md)")
        for f in findings:
            print(f"  {f.feed:<17}{f.partner:<17}{f.name}: {f.reason}")
    if not args.all:
        print("\n(`tesoma status --all` lists every delivery)")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tesoma import audit

    s = settings()
    if args.paths:  # files or folders named here: all of them, every time (the record is the default targets')
        findings, scanned = audit.run(s, [Path(p).resolve() for p in args.paths])
        summary = f"{scanned} files scanned, {len(findings)} finding(s)"
    else:  # new or changed files only, unless --full (tesoma.audit.scan_incrementally)
        result = audit.scan_incrementally(s, full=args.full)
        findings, summary = result.findings, str(result)
    for finding in findings:
        print(finding)
    print(f"audit: {summary}")
    if not args.paths:  # the whole warehouse: how identifiable its persons are (informational)
        print(audit.k_anonymity(s))
    return 1 if findings else 0


def cmd_purge(args: argparse.Namespace) -> int:
    from tesoma import steps

    result = steps.purge()
    print(f"deleted {result['raw_files']} raw file(s) and {result['quarantine_folders']} quarantine folder(s) "
          "past retention (TESOMA_RAW_RETENTION_DAYS, TESOMA_QUARANTINE_RETENTION_DAYS)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from tesoma import benchmarks

    if args.what == "pseudonymise":
        benchmarks.pseudonymise(rows=args.rows, distinct=args.distinct)
    elif args.what == "publish":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tesoma-bench-", dir=args.dir) as tmp:
            benchmarks.publish_path(tmp, rows=args.rows, repeats=args.repeats)
    elif args.what == "read-memory":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tesoma-bench-", dir=args.dir) as tmp:
            benchmarks.read_memory(tmp, csv_rows=args.rows)
    elif args.what == "commits":
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tesoma-bench-", dir=args.dir) as tmp:
            benchmarks.commits(tmp, snapshots=args.snapshots, catalog=args.catalog)
    elif args.what == "queries":
        benchmarks.queries(repeats=args.repeats)
    elif args.what == "marts":
        from scorecard import bench

        bench.run(args.dir, residents=args.residents or benchmarks.COUNTY_RESIDENTS, contacts=args.contacts,
                  months=args.months, last_month=args.last_month or dt.date(2026, 10, 1), seed=args.seed,
                  reuse=args.reuse)
    elif args.what == "backfill":
        benchmarks.backfill(args.dir, residents=args.residents or benchmarks.COUNTY_RESIDENTS, months=args.months,
                            last_month=args.last_month or dt.date(2026, 10, 1), feeds=args.feeds, seed=args.seed,
                            reuse=args.reuse)
    elif args.what == "day":
        figures = benchmarks.day(args.dir, residents=args.residents or 16_000, days=args.days, seed=args.seed)
        return 0 if figures.values["measured"]["seconds"] <= benchmarks.DAY_GOAL_S else 1
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from tesoma import steps

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    result = steps.reprocess(args.feed)
    print(f"reprocessed {result['reprocessed']} deliveries; {result['not_reprocessable']} have no raw copy left")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tesoma import check

    return check.run(args.feed, [Path(p) for p in args.files])


def cmd_contract_docs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tesoma.config import PROJECT_DIR
    from tesoma.contract_pages import write_all

    for path in write_all(Path(args.out) if args.out else PROJECT_DIR / "docs" / "partners"):
        print(f"wrote {path}")
    return 0


def cmd_quality_report(args: argparse.Namespace) -> int:
    from tesoma import quality_report

    print(f"wrote {quality_report.write(settings())}")
    return 0


def cmd_data_docs(args: argparse.Namespace) -> int:
    from expectations import data_docs

    print(data_docs.build(settings(), force=True))
    return 0


def cmd_airflow(args: argparse.Namespace) -> int:
    from orchestration import ui as airflow_ui

    s = settings()
    if args.stop:
        return airflow_ui.stop(s)
    return airflow_ui.start(s)


def _month(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2026-10") from None


def _demo_report(s, last_day: dt.date) -> None:
    """The demo's last step: the monthly scorecard of its last month (marts, disclosure control, report)."""
    print(f"\n$ tesoma report --month {last_day:%Y-%m}   # the steering group's monthly scorecard")
    logging.getLogger("scorecard").setLevel(logging.WARNING)  # a line per dbt node: the log's, not the demo's
    _publish(s, last_day)


def _publish(s, month: dt.date) -> None:
    from scorecard import publication, report
    from warehouse import catalog
    from warehouse.layout import Layout

    published = publication.publish(s, month, echo=lambda line: print(f"  {line}"))
    catalog.refresh(Layout(s.data_root), s.ledger_url)  # the kpi_* views now show this publication
    print()
    for line in report.summary_lines(published):
        print(line)


def cmd_report(args: argparse.Namespace) -> int:
    from scorecard import publication

    s = settings()
    if args.reproduce:
        result = publication.reproduce(s, args.reproduce)
        return 0 if result.identical else 1
    if args.month is None:
        raise ValueError("say which month to publish (--month 2026-10) or which publication to reproduce "
                         "(--reproduce 2026-10-1)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    _publish(s, args.month)
    return 0


def cmd_dictionary(args: argparse.Namespace) -> int:
    from warehouse.dictionary import render

    print(render(), end="")
    return 0


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tesoma", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--start", type=_date, default=DEFAULT_START, help="first day (default 2026-10-01)")
        sp.add_argument("--days", type=_positive, default=30, help="number of days (default 30)")
        sp.add_argument("--residents", type=_positive, default=16_000, help="synthetic residents (default 16000)")
        sp.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        sp.add_argument("--fault-rate", type=float, default=0.03,
                        help="probability per delivery of each kind of fault (default 0.03)")

    g = sub.add_parser("generate", help="write synthetic deliveries for every feed")
    data_args(g)
    g.add_argument("--root", type=lambda t: __import__("pathlib").Path(t).resolve(), default=None,
                   help="data root (default $TESOMA_DATA_ROOT or ./data)")
    g.add_argument("-v", "--verbose", action="store_true", help="print progress per day and feed")
    g.add_argument("--scale", choices=("demo", "county"), default="demo",
                   help="demo: the Tesoma area, --start/--days (default); county: a wellbeing county, 530000 "
                        "residents unless --residents, --months ending --last-month, progress per month")
    g.add_argument("--months", type=_positive, default=60, help="--scale county: months of deliveries (default 60)")
    g.add_argument("--last-month", type=lambda t: dt.date.fromisoformat(f"{t}-01"), default=dt.date(2026, 10, 1),
                   metavar="YYYY-MM", help="--scale county: the last month (default 2026-10)")
    g.set_defaults(func=cmd_generate, residents=None)

    d = sub.add_parser("demo", help="generate, run the city_visits DAG per day, print a summary and a query")
    data_args(d)
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser("run", help="process one feed for one date, or feeds over a range of dates, without Airflow")
    r.add_argument("--feed", type=_feed, action="append", default=None,
                   help="a feed (repeatable; --date: default city_visits; --from/--to: default every feed)")
    r.add_argument("--date", type=_date, default=None, help="one delivery date")
    r.add_argument("--from", dest="start", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="first delivery date of a range (in batches, as the history DAGs do)")
    r.add_argument("--to", dest="end", type=_date, default=None, metavar="YYYY-MM-DD",
                   help="last delivery date of the range (included)")
    r.add_argument("--pull", action="store_true",
                   help="pull from the partner's database (city_visits: TESOMA_CITY_REPORTING_URL) instead of landing/")
    r.set_defaults(func=cmd_run)

    bf = sub.add_parser("backfill", help="backfill feeds over delivery dates through Airflow's backfill API "
                        "(PostgreSQL stack), with progress and a summary")
    bf.add_argument("--feed", type=_feed, action="append", default=None,
                    help="a feed to backfill (repeatable; default: every feed)")
    bf.add_argument("--from", dest="start", type=_date, required=True, metavar="YYYY-MM-DD",
                    help="first delivery date")
    bf.add_argument("--to", dest="end", type=_date, required=True, metavar="YYYY-MM-DD",
                    help="last delivery date (included)")
    bf.add_argument("--airflow-url", default=None, metavar="URL",
                    help="Airflow's API server (default $TESOMA_AIRFLOW_URL or http://127.0.0.1:8080); "
                         "credentials from $TESOMA_AIRFLOW_USERNAME and $TESOMA_AIRFLOW_PASSWORD")
    bf.add_argument("--rerun", choices=["none", "failed", "completed"], default="none",
                    help="dates that already have a run: leave them (none, the default), run the failed ones "
                         "again, or every one (completed)")
    bf.add_argument("--max-active-runs", type=_positive, default=4, help="runs at once per feed (default 4)")
    bf.add_argument("--poll", type=float, default=5.0, help="seconds between progress updates (default 5)")
    which = bf.add_mutually_exclusive_group()
    which.add_argument("--daily", action="store_true",
                       help="the daily feed DAGs: a run per feed and delivery date (default below 28 days)")
    which.add_argument("--history", action="store_true",
                       help="the <feed>_history DAGs: a run per month, batches of dates (default for ranges of "
                            "28 days or more)")
    bf.set_defaults(func=cmd_backfill)

    q = sub.add_parser("query", help="run SQL against the warehouse catalog (DuckDB)")
    q.add_argument("sql")
    q.add_argument("--as-of", default=None, metavar="WHEN",
                   help="the warehouse as readers saw it then: a time (Helsinki), a state id or a tag")
    q.set_defaults(func=cmd_query)

    sh = sub.add_parser("shell", help="interactive SQL on the warehouse catalog (read-only)")
    sh.add_argument("--as-of", default=None, metavar="WHEN", help="as `query --as-of`")
    sh.set_defaults(func=cmd_shell)

    from tesoma import warehouse_commands

    warehouse_commands.add_parser(sub)

    st = sub.add_parser("status", help="deliveries and their row accounting, from the ledger")
    st.add_argument("--feed", type=_feed, default=None)
    st.add_argument("--all", action="store_true", help="every delivery, not just the latest per feed")
    st.set_defaults(func=cmd_status)
    a = sub.add_parser("audit", help="scan warehouse, docs and logs for identity codes, names, phones, e-mails")
    a.add_argument("paths", nargs="*", type=_existing_path,
                   help="files or folders, scanned in full (default: warehouse, staging, docs, logs: only the files "
                        "new or changed since an audit found them clean)")
    a.add_argument("--full", action="store_true",
                   help="scan every file of the default targets again (and rewrite the record of clean files)")
    a.set_defaults(func=cmd_audit)

    pg = sub.add_parser("purge", help="delete raw/ and quarantine/ copies past their retention period")
    pg.set_defaults(func=cmd_purge)

    b = sub.add_parser("bench", help="print speed figures (e.g. `tesoma bench pseudonymise`)")
    b.add_argument("what", choices=["pseudonymise", "read-memory", "publish", "commits", "queries", "marts",
                                    "backfill", "day"])
    b.add_argument("--dir", type=_existing_dir, default=None,
                   help="where to build the big test files (default: the temp folder; marts, backfill, day: "
                        "data/bench)")
    b.add_argument("--rows", type=_positive, default=2_000_000)
    b.add_argument("--distinct", type=_positive, default=20_000)
    b.add_argument("--repeats", type=_positive, default=3,
                   help="timed rounds of the publish benchmark, after one warm-up")
    b.add_argument("--snapshots", type=_positive, default=5000,
                   help="commits: snapshots of one table to grow to (default 5000)")
    b.add_argument("--catalog", choices=["sqlite", "postgres"], default="sqlite",
                   help="commits: the catalog database (postgres: TESOMA_BENCH_POSTGRES_URL or the local server)")
    b.add_argument("--residents", type=_positive, default=None,
                   help="marts, backfill: residents of the county (default 530000); day: of the demo (16000)")
    b.add_argument("--days", type=_positive, default=30,
                   help="day: the demo's days, the last one measured through Airflow (default 30)")
    b.add_argument("--contacts", type=_positive, default=25_000_000, help="marts: contacts over the months")
    b.add_argument("--months", type=_positive, default=60, help="marts, backfill: months of data (default 60)")
    b.add_argument("--last-month", type=_month, default=None, metavar="YYYY-MM",
                   help="marts, backfill: the last month of data (default 2026-10)")
    b.add_argument("--seed", type=int, default=42, help="marts, backfill, day: the generator's seed")
    b.add_argument("--feeds", type=_feed, nargs="+", default=None, metavar="FEED",
                   help="backfill: only these feeds (default: every feed)")
    b.add_argument("--reuse", action="store_true",
                   help="marts, backfill: keep the county warehouse (marts) or deliveries (backfill) made before "
                        "with the same parameters (under --dir, "
                        "default data/bench)")
    b.set_defaults(func=cmd_bench)

    rp = sub.add_parser("reprocess", help="ingest and publish again every delivery still in raw/ (key rotation)")
    rp.add_argument("--feed", type=_feed, default=None)
    rp.set_defaults(func=cmd_reprocess)

    ck = sub.add_parser("check", help="partners' pre-flight check of files against the feed's contract")
    ck.add_argument("--feed", required=True)  # check.run answers an unknown feed itself (on stdout, exit 2)
    ck.add_argument("files", nargs="+", type=_existing_path, help="delivery files (or folders, for FHIR exports)")
    ck.set_defaults(func=cmd_check)

    cd = sub.add_parser("contract-docs", help="write the partner pages docs/partners/<feed>.md from the contracts")
    cd.add_argument("--out", default=None)
    cd.set_defaults(func=cmd_contract_docs)

    qr = sub.add_parser("quality-report", help="write the quality results of every delivery to data/docs/quality.md")
    qr.set_defaults(func=cmd_quality_report)

    ddocs = sub.add_parser("data-docs", help="build the GX Data Docs of the recorded quality results into "
                           "data/docs/data-docs/ (counts and rule names only); prints its index.html")
    ddocs.set_defaults(func=cmd_data_docs)

    af = sub.add_parser("airflow", help="start the Airflow UI (standalone, SQLite) with demo data; --stop stops it")
    af.add_argument("--stop", action="store_true")
    af.set_defaults(func=cmd_airflow)

    dd = sub.add_parser("dictionary", help="print the data dictionary (Markdown) of the canonical tables")
    dd.set_defaults(func=cmd_dictionary)

    rep = sub.add_parser("report", help="publish a month's scorecard (disclosure-controlled tables, report.html) "
                         "or reproduce a publication")
    which = rep.add_mutually_exclusive_group(required=True)
    which.add_argument("--month", type=_month, metavar="YYYY-MM", help="the month to publish, e.g. 2026-10")
    which.add_argument("--reproduce", metavar="ID", help="rebuild publication ID (e.g. 2026-10-1) from its tagged "
                       "warehouse state and compare table by table (exit 1 when any differs)")
    rep.set_defaults(func=cmd_report)
    return p


def _one_line(text: str) -> str:
    """A message on one line: DuckDB's "LINE 1: …" / caret lines dropped, the other lines joined."""
    lines = [line.strip() for line in text.splitlines()]
    kept = [line for line in lines if line and not line.startswith("LINE ") and set(line) != {"^"}]
    return " ".join(kept) or "(no message)"


def _problem(exc: Exception) -> str | None:
    """The message of an error a user can fix (bad input, file, key, contract, SQL); None for anything else."""
    from connectors.base import DeliveryRejected
    from contracts import ContractError
    from transforms.pseudonymise import KeyProblem

    if isinstance(exc, FileNotFoundError):
        return f"no such file or folder: {exc.filename}" if exc.filename else str(exc)
    if isinstance(exc, OSError) and exc.filename:  # permission denied, a folder where a file was expected…
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, KeyError) and "feed" in str(exc):  # unknown feed, or one without a connector/harmonise
        return exc.args[0] if exc.args else str(exc)
    from warehouse.iceberg import WarehouseError

    if isinstance(exc, KeyProblem | ContractError | DeliveryRejected | ValueError | WarehouseError):
        return str(exc)
    duckdb = sys.modules.get("duckdb")  # only a command that imported DuckDB can raise its errors
    if duckdb is not None and isinstance(exc, duckdb.Error):
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command. Errors end here, each as one line on stderr (see the module's docstring)."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`tesoma check … | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error while exiting
        return 141
    except Exception as exc:
        if os.environ.get("TESOMA_DEBUG"):
            import traceback

            traceback.print_exc()
        problem = _problem(exc)
        if problem is not None:
            print(f"tesoma: error: {_one_line(problem)}", file=sys.stderr)
            return EXIT_ERROR
        print(f"tesoma: internal error ({type(exc).__name__}): {_one_line(str(exc))}; "
              "run with TESOMA_DEBUG=1 for the traceback", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
