"""`gridpulse rules …`, `gridpulse workorders …`, `gridpulse stats …` and `gridpulse population …`: the
analytics stage's commands."""
from __future__ import annotations

import argparse
import datetime as dt
import json


def _as_of(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _run(args: argparse.Namespace) -> int:
    from analytics.params import params
    from analytics.sweep import run_rules
    from blockdata.db import transaction

    with transaction() as session:
        report = run_rules(session, _as_of(args.as_of), names=args.rule or None, rule_params=params(args.preset),
                           incremental=not args.full)
    print(json.dumps(report, ensure_ascii=False))
    return 0


def _list(_args: argparse.Namespace) -> int:
    """Each rule, its version, what it finds, and its precision as measured at the door (confirmed / judged)."""
    from analytics.alerts import doorstep_precision
    from analytics.rules import RULES, VERSIONS
    from blockdata.db import transaction

    with transaction() as session:
        measured = doorstep_precision(session)
    print(f"{'rule':22} {'ver':>3}  {'doorstep precision':28}  finds")
    for name, fn in RULES.items():
        doc = (__import__(fn.__module__, fromlist=["_"]).__doc__ or "").strip().splitlines()[0]
        m = measured.get((name, VERSIONS[name]))
        if m and m["precision"] is not None:
            figure = f"{m['precision']:.2f} ({m['confirmed']}/{m['confirmed'] + m['dismissed']} confirmed)"
        else:
            figure = f"not yet measured ({m['pending'] if m else 0} pending)"
        print(f"{name:22} {VERSIONS[name]:>3}  {figure:28}  {doc}")
    older = {k: v for k, v in measured.items() if k[1] != VERSIONS.get(k[0])}
    for (name, version), m in sorted(older.items()):
        if m["precision"] is not None:
            print(f"  earlier {name} v{version}: {m['precision']:.2f} ({m['confirmed']}/{m['confirmed'] + m['dismissed']} confirmed)")
    return 0


def _watch(args: argparse.Namespace) -> int:
    from analytics.watch import watch
    from core.process import long_running

    should_stop = long_running("rules-watch")
    sweeps = watch(should_stop, min_interval_s=args.min_interval, full_sweep_every_s=args.full_sweep_every or None,
                   tick_s=args.tick, stats_every_s=args.stats_every or None, metrics_port=args.metrics_port)
    print(f"ran {sweeps} sweeps")
    return 0


def _escalate(args: argparse.Namespace) -> int:
    from analytics.work_orders import escalate_overdue
    from blockdata.db import transaction

    with transaction() as session:
        n = escalate_overdue(session, _as_of(args.as_of) or dt.datetime.now(dt.timezone.utc))
    print(f"escalated {n} overdue work orders")
    return 0


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a day like 2026-12-01") from None


def _stats_refresh(args: argparse.Namespace) -> int:
    from analytics.stats_refresh import refresh
    from blockdata.db import transaction

    with transaction() as session:
        report = refresh(session, _as_of(args.as_of), since=args.since)
    print(json.dumps(report, ensure_ascii=False))
    return 0


def _population_reconcile(args: argparse.Namespace) -> int:
    from analytics.population_reconcile import reconcile
    from blockdata.db import transaction

    with transaction() as session:
        report = reconcile(session, repair=not args.check_only)
    print(json.dumps(report.as_dict(), ensure_ascii=False))
    return 1 if report.drift and args.check_only else 0


def _population_expire(_args: argparse.Namespace) -> int:
    from analytics.population_reconcile import expire
    from blockdata.db import transaction

    with transaction() as session:
        print(json.dumps(expire(session)))
    return 0


def _population_show(args: argparse.Namespace) -> int:
    from analytics.population import live_population
    from blockdata.db import transaction

    with transaction() as session:
        rows = live_population(session, [(args.within or "") + "%"], args.level)
    for p in rows:
        print(f"{p.id}\t居民 {p.residents}\t在内 {p.inside}\t访客 {p.visitors}\t实时人口 {p.realtime}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    rules = sub.add_parser("rules", help="anomaly rules: list them, or sweep them into alerts and work orders")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    p = rules_sub.add_parser("run", help="sweep the rules (only what changed since the last sweep; --full: every "
                                         "subject), raise de-duplicated alerts, dispatch work orders")
    p.add_argument("--rule", action="append", help="only this rule (repeatable); default: all")
    p.add_argument("--full", action="store_true", help="look at every subject of every rule, not only what changed "
                                                      "since each rule's last sweep (the same alerts, slower)")
    p.add_argument("--as-of", help="evaluate as of this time (ISO 8601, default now)")
    p.add_argument("--preset", help="rule parameters: nanjing (default) or shanghai")
    p.set_defaults(func=_run)
    p = rules_sub.add_parser("watch", help="sweep every rule incrementally as events arrive (woken by the ingest "
                                           "worker) and as time passes, fully now and then; keep the day's statistics fresh")
    p.add_argument("--min-interval", type=float, default=5.0, help="seconds between incremental sweeps at least")
    p.add_argument("--tick", type=float, default=60.0, metavar="SECONDS",
                   help="sweep incrementally this often without new events too (time alone fires rules)")
    p.add_argument("--full-sweep-every", type=float, default=600.0, metavar="SECONDS",
                   help="sweep every subject of every rule this often instead (0: never)")
    p.add_argument("--stats-every", type=float, default=300.0, metavar="SECONDS",
                   help="refresh the daily statistics after a sweep at most this often while something changed, "
                        "and at a new local day (0: never)")
    p.add_argument("--metrics-port", type=int, help="serve /metrics and /healthz on this port")
    p.set_defaults(func=_watch)
    p = rules_sub.add_parser("list", help="the rules, their versions, what each finds and its precision measured at the door")
    p.set_defaults(func=_list)

    orders = sub.add_parser("workorders", help="work orders from alerts")
    orders_sub = orders.add_subparsers(dest="workorders_command", required=True)
    p = orders_sub.add_parser("escalate", help="escalate open work orders past their due time")
    p.add_argument("--as-of", help="as of this time (ISO 8601, default now)")
    p.set_defaults(func=_escalate)

    stats = sub.add_parser("stats", help="the indicator set's daily aggregates (docs/INDICATORS.md)")
    stats_sub = stats.add_subparsers(dest="stats_command", required=True)
    p = stats_sub.add_parser("refresh", help="recount the days that can still change and snapshot today's stock figures")
    p.add_argument("--since", type=_day, metavar="DAY", help="recount from this local day (after a back-dated import)")
    p.add_argument("--as-of", help="as of this time (ISO 8601, default now)")
    p.set_defaults(func=_stats_refresh)

    population = sub.add_parser("population", help="the real-time population (实时人口) kept as events land")
    population_sub = population.add_subparsers(dest="population_command", required=True)
    p = population_sub.add_parser("reconcile", help="recompute from the event table, report any drift (log, metric) "
                                  "and rebuild the maintained numbers; exit 1 with --check-only when they drifted")
    p.add_argument("--check-only", action="store_true", help="report the drift, change nothing")
    p.set_defaults(func=_population_reconcile)
    p = population_sub.add_parser("expire", help="take the passages that aged past their window out of the numbers "
                                  "(the scheduler does it every minute; reads are right without it)")
    p.set_defaults(func=_population_expire)
    p = population_sub.add_parser("show", help="the maintained real-time population, per level")
    p.add_argument("--level", default="grid", choices=("building", "compound", "grid", "community", "street"))
    p.add_argument("--within", help="only grids whose code starts with this region or grid code")
    p.set_defaults(func=_population_show)
