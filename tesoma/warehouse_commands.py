"""`tesoma warehouse …`: the warehouse's states and history — list, tag, expire, migrate.

    tesoma warehouse states                 every warehouse state (id, time, delivery, tags)
    tesoma warehouse tag NAME [--state N]   pin a state (default: the current one) for good
    tesoma warehouse expire [--keep-days N] expire untagged snapshots older than N days, delete their files
    tesoma warehouse migrate                turn a pre-Iceberg data root into Iceberg tables (idempotent)
"""

from __future__ import annotations

import argparse

from tesoma.config import settings


def _place():
    from warehouse.iceberg import Place

    s = settings()
    return Place.for_root(s.data_root, s.ledger_url)


def _engine():
    from warehouse.ledger import Ledger

    return Ledger(settings().ledger_url).engine


def cmd_states(args: argparse.Namespace) -> int:
    from warehouse import states

    rows = states.all_states(_engine())
    if not rows:
        print("no warehouse state yet: nothing is published")
        return 0
    print(f"{'state':>6}  {'created (UTC)':<20} {'tables':>6}  {'delivery':<48} tags")
    for st in rows[-args.last:] if args.last else rows:
        created = st.created_at.strftime("%Y-%m-%d %H:%M:%S") if st.created_at else ""
        print(f"{st.state_id:>6}  {created:<20} {len(st.snapshots):>6}  {st.delivery_id or '':<48} "
              f"{', '.join(st.tags)}")
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from warehouse import history

    state = history.tag(_place(), args.name, state_id=args.state, note=args.note)
    print(f"tag {args.name!r} pins warehouse state {state.state_id} ({state.created_at:%Y-%m-%d %H:%M:%S} UTC); "
          f"read it with `tesoma query --as-of {args.name} \"…\"` or warehouse.as_of({args.name!r})")
    return 0


def cmd_expire(args: argparse.Namespace) -> int:
    from warehouse import history

    keep = args.keep_days if args.keep_days is not None else history.retention_days()
    result = history.expire(_place(), keep_days=keep, echo=print)
    print(f"expired {result['snapshots_expired']} snapshots ({result['states_expired']} states) older than {keep} "
          f"days; deleted {result['files_deleted']} unreferenced files ({result['bytes_deleted'] / 1e6:.1f} MB)")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from tesoma import steps
    from warehouse import migrate

    s = settings()
    result = migrate.migrate(s.data_root, s.ledger_url, echo=print)
    print(f"migrated {result['partitions']} partitions of {result['tables']} tables into Iceberg "
          f"({result['skipped']} already there, {result.get('empty', 0)} empty left out); "
          f"warehouse state {result['state_id']}")
    if result["partitions"]:
        views = steps.refresh_catalog(s)  # the old views read the folder that was just renamed
        print(f"catalog refreshed: {', '.join(views)}")
    return 0


def add_parser(sub) -> None:
    w = sub.add_parser("warehouse", help="the warehouse's states and history: states, tag, expire, migrate")
    ws = w.add_subparsers(dest="warehouse_command", required=True, metavar="command")
    st = ws.add_parser("states", help="list the warehouse states (what readers saw when)")
    st.add_argument("--last", type=int, default=20, help="only the newest N (default 20; 0 for all)")
    st.set_defaults(func=cmd_states)
    tg = ws.add_parser("tag", help="pin a warehouse state under a name, for good (never expired)")
    tg.add_argument("name")
    tg.add_argument("--state", type=int, default=None, help="state id (default: the current state)")
    tg.add_argument("--note", default=None, help="why it is kept, e.g. 'scorecard 2026-10'")
    tg.set_defaults(func=cmd_tag)
    ex = ws.add_parser("expire", help="expire untagged snapshots past retention and delete their files")
    ex.add_argument("--keep-days", type=int, default=None,
                    help="days of history to keep (default TESOMA_SNAPSHOT_RETENTION_DAYS or 400)")
    ex.set_defaults(func=cmd_expire)
    mg = ws.add_parser("migrate", help="turn a data root of the pre-Iceberg layout into Iceberg tables")
    mg.set_defaults(func=cmd_migrate)
