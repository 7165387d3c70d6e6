"""The ``fastpipesim`` command: run the default experiment, replay, generate, import and fit traces.

A thin layer over the Python API: it parses options, calls :func:`simulate`
and formats :class:`Results` for a terminal. It holds no simulation logic.

    fastpipesim run                       # the default ModelOps experiment
    fastpipesim run --replications 30 --policy sjf --out results/
    fastpipesim replay TRACE_DIR --cluster cluster.csv --tasks-out tasks.parquet
    fastpipesim generate --seed 3 --days 2 --out traces/x     # a synthetic trace
    fastpipesim import alibaba-gpu-2023 NODES.csv PODS.csv --out traces/openb
    fastpipesim fit traces/x --out params.json
    fastpipesim campaign experiment.toml --out results/ [--workers 2] [--resume]
    fastpipesim report results/

Exit codes: 0 success, 1 a file could not be written, 2 bad input or options
(the message names the file and the rule), 130 interrupted.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

SECONDS_PER_DAY = 86400.0
DEFAULT_REPLICATIONS = 100  # enough for intervals a few percent wide; ~2 s on 2 cores once compiled
DEFAULT_SEED = 1
# The cluster starts empty, so the first day's queues are not the steady state:
# leave one day out, or a seventh of a shorter run.
DEFAULT_WARMUP_DAYS = 1.0


# ----------------------------------------------------------------------------- formatting

def _time_unit(seconds: float) -> tuple[str, float]:
    """A readable unit for a duration: seconds below 2 minutes, minutes below 2 hours, else hours."""
    a = abs(seconds) if math.isfinite(seconds) else 0.0
    if a >= 7200.0:
        return "h", 3600.0
    if a >= 120.0:
        return "min", 60.0
    return "s", 1.0


def _decimals(*values: float) -> int:
    """Decimals that show about three significant digits of the largest value, never fewer than 0."""
    finite = [abs(v) for v in values if math.isfinite(v)]
    m = max(finite, default=0.0)
    return 0 if m >= 1000 else 1 if m >= 100 else 2


def _fmt(x: float, decimals: int) -> str:
    """Fixed-point with thousands separators; never scientific notation, never ``-0.00``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    s = f"{x:,.{decimals}f}"
    if s.startswith("-") and float(s.replace(",", "")) == 0.0:
        s = s[1:]
    return s


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Aligned columns: the first left-aligned, the others right-aligned. A row of one cell is a heading."""
    full = [r for r in rows if len(r) == len(header)]
    widths = [max(len(r[i]) for r in [header] + full) for i in range(len(header))]
    sep = "  "

    def line(r):
        return sep.join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]).rstrip()

    out = [line(header), sep.join("-" * w for w in widths)]
    for r in rows:
        out.append(line(r) if len(r) == len(header) else r[0] if r else "")
    return "\n".join(out)


# A metric row: (label, summary column, kind). Kinds: "time" (seconds, shown in a
# readable unit), "count", "percent" (a fraction shown in %), "number".
_PIPELINE_ROWS = {
    "submitted": ("pipelines submitted", "count"),
    "completed": ("pipelines completed", "count"),
    "unfinished": ("pipelines unfinished at the horizon", "count"),
    "rejected": ("pipelines rejected", "count"),
    "response_mean": ("response time, mean", "time"),
    "response_p50": ("response time, p50", "time"),
    "response_p95": ("response time, p95", "time"),
    "response_p99": ("response time, p99", "time"),
    "wait_mean": ("task wait, mean", "time"),
    "wait_p95": ("task wait, p95", "time"),
    "slowdown_mean": ("slowdown, mean (x critical path)", "number"),
    "slowdown_p95": ("slowdown, p95 (x critical path)", "number"),
    "throughput_per_hour": ("throughput (pipelines/h)", "number"),
    "queue_length_mean": ("ready queue length, mean (tasks)", "number"),
    "cost": ("cluster cost over the window", "number"),
    "model_accuracy_mean": ("deployed accuracy, time average", "ratio"),
    "model_frac_below": ("time below threshold (%)", "percent"),
    "crossing_to_deploy_mean": ("threshold crossing to redeploy, mean", "time"),
    "deployments": ("deployments", "count"),
    "rejected_evaluate": ("  rejected by evaluate", "count"),
    "rejected_bias_check": ("  rejected by bias_check", "count"),
    "rejected_robustness_check": ("  rejected by robustness_check", "count"),
    "submitted_on_drift": ("retrainings submitted on drift", "count"),
    "submitted_periodic": ("retrainings submitted periodically", "count"),
    "end_time": ("simulated until", "time"),
    "events": ("events", "count"),
}

# Rows of `fastpipesim replay`: every pipeline metric (then utilization and waits by type).
_REPLAY_KEYS = (
    "submitted", "completed", "unfinished", "rejected",
    "response_mean", "response_p50", "response_p95", "response_p99",
    "wait_mean", "wait_p95", "slowdown_mean", "slowdown_p95",
    "throughput_per_hour", "queue_length_mean", "cost",
)

# The lifecycle block of `replay` (MODEL.md 7), when the trace has a models table.
_REPLAY_LIFECYCLE_KEYS = (
    "model_accuracy_mean", "model_frac_below", "crossing_to_deploy_mean", "deployments",
    "rejected_evaluate", "rejected_bias_check", "rejected_robustness_check",
    "submitted_on_drift", "submitted_periodic",
)
_LIFECYCLE_HEADING = "ML models (all models; accuracy and time below threshold averaged over models)"


def _metric_rows(res, keys, all_dims: bool):
    """[(label, column, kind)] for ``keys``, then utilization, as present in the summary."""
    summary_cols = set(res.summary.columns)
    rows = []
    for key in keys:
        if key not in summary_cols:
            continue
        label, kind = _PIPELINE_ROWS.get(key, (key.replace("_", " "), "number"))
        rows.append((label, key, kind))
    util = []
    for _, pool in res.cluster.pools.iterrows():
        name = pool["pool"]
        # one dimension per pool unless asked for all: the scarce one (gpu where there are GPUs)
        dims = ("cpu", "gpu", "mem_gb") if all_dims else (("gpu",) if pool["gpu"] > 0 else ("cpu",))
        for dim in dims:
            col = f"util_{name}_{dim}"
            if col in summary_cols:
                util.append((f"utilization, pool {name}: {dim} (%)", col, "percent"))
    return rows, util


def _elastic_rows(res):
    """[(label, column, kind)] of an elastic cluster's outputs (MODEL.md 11.6), as present in the summary."""
    cols = set(res.summary.columns)
    rows = []
    for name in res.cluster.pool_names:
        for col, label in ((f"nodes_up_mean_{name}", f"pool {name}: nodes up, time average"),
                           (f"node_hours_{name}", f"pool {name}: node hours billed")):
            if col in cols:
                rows.append((label, col, "number"))
    for col, label in (("scale_ups", "nodes requested by the autoscaler"), ("scale_downs", "nodes released by it"),
                       ("replacements", "nodes replacing interrupted ones"), ("interruptions", "spot interruptions"),
                       ("tasks_restarted", "tasks restarted"), ("work_lost_h", "work lost (reference hours)")):
        if col in cols:
            rows.append((label, col, "number" if col == "work_lost_h" else "count"))
    return rows


_ELASTIC_HEADING = "elastic cluster (MODEL.md 11)"


def _gpu_rows(res):
    """[(label, column, kind)] of a run on devices (MODEL.md 12.9), as present in the summary."""
    cols = set(res.summary.columns)
    return [(label, col, kind) for col, label, kind in (
        ("gpu_unallocated_pct", "unallocated GPUs, time average (% of GPUs)", "number"),
        ("gpu_fragmented_pct", "fragmented GPUs, time average (% of GPUs)", "number"),
        ("gpu_frag_ratio", "fragmentation ratio (fragmented / unallocated)", "ratio")) if col in cols]


_GPU_HEADING = "GPUs as devices (MODEL.md 12): fragmentation"


def _type_wait_rows(res):
    """[(type name, summary column)] of the task types that had tasks, in type order."""
    cols = set(res.summary.columns)
    types = list(dict.fromkeys(res.type_waits["type"].astype(str)))
    return [(t, f"wait_mean_{t}") for t in types if f"wait_mean_{t}" in cols]


def _scaled(kind: str, ref: float):
    """(unit suffix for the label, divisor) of a row, its unit chosen from ``ref``."""
    if kind == "time":
        unit, div = _time_unit(ref)
        return f" ({unit})", div
    if kind == "percent":
        return "", 0.01
    return "", 1.0


def format_stats(res, stats) -> str:
    """The table of ``fastpipesim run``: metric, mean and 95% interval across replications."""
    from .results import HEADLINE_METRICS, LIFECYCLE_HEADLINE

    def cells(col, kind, div):
        mean, lo, hi = (float(stats.at[col, c]) / div for c in ("mean", "ci_low", "ci_high"))
        d = 1 if kind == "percent" else 3 if kind == "ratio" else _decimals(mean, lo, hi)
        return _fmt(mean, d), _fmt(lo, d), _fmt(hi, d)

    def row(label, col, kind, div=None, suffix=None):
        if div is None:
            suffix, div = _scaled(kind, float(stats.at[col, "mean"]))
        return [label + suffix, *cells(col, kind, div)]

    main, util = _metric_rows(res, HEADLINE_METRICS, all_dims=False)
    rows = [row(*r) for r in main] + [[]] + [row(*r) for r in util]
    models, _ = _metric_rows(res, LIFECYCLE_HEADLINE, all_dims=False)
    # the rules' counts only when some rule submitted something
    models = [r for r in models if not (r[1].startswith("submitted_") and not res.summary[r[1]].any())]
    if models:
        rows += [[], [_LIFECYCLE_HEADING]] + [row(*r) for r in models]
    elastic = _elastic_rows(res)
    if elastic:
        rows += [[], [_ELASTIC_HEADING]] + [row(*r) for r in elastic]
    gpu = _gpu_rows(res)
    if gpu:
        rows += [[], [_GPU_HEADING]] + [row(*r) for r in gpu]
    waits = _type_wait_rows(res)
    if waits:
        ref = max((abs(float(stats.at[c, "mean"])) for _, c in waits), default=0.0)
        suffix, div = _scaled("time", ref)  # one unit for the block, so the types compare at a glance
        rows += [[], [f"task wait by type, mean{suffix}"]]
        rows += [row(f"  {t}", c, "time", div, "") for t, c in waits]
    lo_w = max([len(r[2]) for r in rows if len(r) == 4] + [0])
    hi_w = max([len(r[3]) for r in rows if len(r) == 4] + [0])
    conf = stats.attrs.get("confidence", 0.95)
    out = [[r[0], r[1], f"{r[2].rjust(lo_w)} to {r[3].rjust(hi_w)}"] if len(r) == 4 else r for r in rows]
    return _table(["metric", "mean", f"{conf:.0%} interval"], out)


def format_replication(res) -> str:
    """The table of ``fastpipesim replay``: every metric of its one replication."""
    s = res.summary.iloc[0]

    def row(label, col, kind, div=None, suffix=None):
        v = float(s[col])
        if div is None:
            suffix, div = _scaled(kind, v)
        d = 0 if kind == "count" else 1 if kind == "percent" else 3 if kind == "ratio" else _decimals(v / div)
        return [label + suffix, _fmt(v / div, d)]

    main, util = _metric_rows(res, _REPLAY_KEYS, all_dims=True)
    rows = [row(*r) for r in main] + [[]] + [row(*r) for r in util]
    models, _ = _metric_rows(res, _REPLAY_LIFECYCLE_KEYS, all_dims=False)
    models = [r for r in models if not (r[1].startswith("submitted_") and not res.summary[r[1]].any())]
    if models:
        rows += [[], [_LIFECYCLE_HEADING]] + [row(*r) for r in models]
    elastic = _elastic_rows(res)
    if elastic:
        rows += [[], [_ELASTIC_HEADING]] + [row(*r) for r in elastic]
    gpu = _gpu_rows(res)
    if gpu:
        rows += [[], [_GPU_HEADING]] + [row(*r) for r in gpu]
    waits = _type_wait_rows(res)
    if waits:
        ref = max((abs(float(s[c])) for _, c in waits if math.isfinite(float(s[c]))), default=0.0)
        suffix, div = _scaled("time", ref)
        rows += [[], [f"task wait by type, mean{suffix}"]]
        rows += [row(f"  {t}", c, "time", div, "") for t, c in waits]
    rows += [[]] + [row(_PIPELINE_ROWS[k][0], k, _PIPELINE_ROWS[k][1])
                    for k in ("end_time", "events") if k in s.index]
    return _table(["metric", "value"], rows)


def _days(seconds: float) -> str:
    return f"{seconds / SECONDS_PER_DAY:g} day" + ("" if seconds == SECONDS_PER_DAY else "s")


def _describe_cluster(cluster) -> str:
    def node(p):
        dims = [f"{p[d]:g} {d}" for d in ("cpu", "gpu") if p[d] > 0] + [f"{p['mem_gb']:g} GiB"]
        return f"{int(p['count'])} x {p['pool']} ({', '.join(dims)})"

    pools = ", ".join(node(p) for _, p in cluster.pools.iterrows())
    return f"cluster {cluster.source}: {pools}"


def _describe_policy(args) -> str:
    ties = "" if args.ties == "index" else f" (ties {args.ties})"
    return f"policy {args.policy}, {args.placement}{ties}, {'no backfill' if args.no_backfill else 'backfill'}"


# ----------------------------------------------------------------------------- output files

def _write_table(frame, path: Path, index: bool) -> None:
    """CSV, or Parquet when the name ends with .parquet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        from ._io import write_parquet

        write_parquet(frame.reset_index() if index else frame, path)
    else:
        frame.to_csv(path, index=index)


# ----------------------------------------------------------------------------- commands

def cmd_run(args) -> int:
    from .cluster import default_cluster, read_cluster
    from .modelops import ModelOpsWorkload
    from .simulate import simulate

    changes = {}
    if args.days is not None:
        changes["days"] = args.days
    if args.on_drift:
        changes["on_drift"] = True
    if args.period_days is not None:
        changes["period_days"] = args.period_days
    if args.gpu_share is not None:
        changes["gpu_share"] = _gpu_share(args.gpu_share)
    workload = ModelOpsWorkload(**changes)
    horizon = workload.days * SECONDS_PER_DAY
    warmup_days = args.warmup_days
    if warmup_days is None:
        warmup_days = min(DEFAULT_WARMUP_DAYS, workload.days / 7.0)
    warmup = warmup_days * SECONDS_PER_DAY
    if not (0.0 <= warmup < horizon):
        raise ValueError(f"--warmup-days must be >= 0 and less than --days ({workload.days:g}), "
                         f"got {warmup_days:g}")
    cluster = default_cluster() if args.cluster is None else read_cluster(args.cluster)
    scaler = _autoscaler_kwarg(args)
    out = None if args.out is None else Path(args.out)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)  # fail before the run, not after it
    print(
        f"ModelOps workload: {_days(horizon)}, ~{workload.expected_pipelines():,.0f} pipelines "
        f"per replication, {workload.n_models} models | {_describe_cluster(cluster)} | "
        f"{_describe_policy(args)} | {args.replications} replications, seed {args.seed}, "
        f"warmup {_days(warmup)}",
        flush=True,
    )
    res = simulate(
        workload, cluster,
        policy=args.policy, placement=args.placement, backfill=not args.no_backfill, ties=args.ties,
        horizon=horizon, warmup=warmup, replications=args.replications, seed=args.seed,
        threads=args.threads, progress=False if args.quiet else None, **_gate_kwargs(args), **scaler,
    )
    stats = res.stats()
    print()
    print(format_stats(res, stats))
    n = len(res.replications)
    print(f"\n{n} replications in {res.elapsed:.1f} s, {res.n_events / max(n, 1):,.0f} events each; "
          f"observed from day {warmup / SECONDS_PER_DAY:g} to {horizon / SECONDS_PER_DAY:g}; "
          "Student-t intervals across replications")
    if out is not None:
        written = [out / "summary.csv", out / "stats.csv", out / "type_waits.csv"]
        _write_table(res.summary, written[0], index=True)
        _write_table(stats, written[1], index=True)
        _write_table(res.type_waits, written[2], index=False)
        if not res.models.empty:
            written.append(out / "models.csv")
            _write_table(res.models, written[-1], index=False)
        if not res.nodes.empty:
            written.append(out / "nodes.csv")
            _write_table(res.nodes, written[-1], index=False)
        print("wrote " + ", ".join(str(p) for p in written))
    if args.nodes_out is not None:
        _write_nodes(res, args, [])
    return 0


def cmd_replay(args) -> int:
    from .cluster import read_cluster
    from .simulate import simulate
    from .trace import read_trace

    trace = read_trace(args.trace)
    cluster = read_cluster(args.cluster)
    if args.horizon is not None and not (args.horizon > 0):
        raise ValueError(f"--horizon must be > 0 seconds, got {args.horizon:g}")
    window = f"horizon {args.horizon:g} s" if args.horizon is not None else "no horizon"
    models = f", {trace.n_models} models" if trace.models is not None else ""
    print(f"trace {trace.source}: {trace.n_pipelines:,} pipelines, {trace.n_tasks:,} tasks{models} | "
          f"{_describe_cluster(cluster)} | {_describe_policy(args)} | {window}, warmup {args.warmup:g} s",
          flush=True)
    out = None if args.out is None else Path(args.out)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)  # fail before the run, not after it
    res = simulate(
        trace, cluster,
        policy=args.policy, placement=args.placement, backfill=not args.no_backfill, ties=args.ties,
        horizon=args.horizon, warmup=args.warmup, replications=1, seed=args.seed,
        record_tasks=args.tasks_out is not None or out is not None, progress=False if args.quiet else None,
        **_gate_kwargs(args), **_autoscaler_kwarg(args),
    )
    print()
    print(format_replication(res))
    written = []
    if out is not None:
        # the records: tasks, pipelines, the summary; on devices (MODEL.md 12.9) the devices of each part
        # and the GPU timeline
        tables = [("tasks.csv", res.tasks, False), ("pipelines.csv", res.pipelines, False),
                  ("summary.csv", res.summary, True)]
        if "gpu_unallocated_pct" in res.summary.columns:
            tables += [("devices.csv", res.devices, False), ("gpu_timeline.csv", res.gpu_timeline, False)]
        for name, frame, index in tables:
            _write_table(frame, out / name, index=index)
            written.append(out / name)
    if args.tasks_out is not None:
        _write_table(res.tasks, Path(args.tasks_out), index=False)
        written.append(args.tasks_out)
    if args.summary_out is not None:
        _write_table(res.summary, Path(args.summary_out), index=True)
        written.append(args.summary_out)
    _write_nodes(res, args, written)
    if written:
        print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_campaign(args) -> int:
    """Run (or resume) the campaign of an experiment file into a folder."""
    from .campaign import Campaign

    camp = Campaign.from_toml(args.experiment)
    e = camp.experiment
    plan = e.replications
    reps = (f"{plan.min} replications" if plan.fixed else
            f"{plan.min} to {plan.max} replications until {', '.join(plan.metrics)} are within "
            f"{plan.target:.1%} (95% half-width / mean)")
    print(f"campaign {e.name!r}: {len(e.scenarios)} scenario(s) x {reps}, seed {e.seed}"
          f"{' (resuming)' if args.resume else ''}", flush=True)
    res = camp.run(args.out, resume=args.resume, threads=args.threads, workers=args.workers,
                   scheduler=args.scheduler, progress=False if args.quiet else None, batch=args.batch)
    n = len(res.replications)
    took = f" in {res.seconds:.1f} s" if res.seconds is not None else ""
    print(f"{n:,} replications of {len(res.scenarios)} scenario(s){took}; results in {args.out}/ "
          "(replications.parquet, stats.csv" + (", compare.csv" if not res.compare.empty else "") + ")")
    short = [k for k, v in res.precision.items() if v.get("precise") is False]
    if short:
        print(f"warning: {len(short)} scenario(s) reached max replications without the precision asked for: "
              f"{', '.join(short)}", file=sys.stderr)
    print(f"write the report with: fastpipesim report {args.out}")
    return 0


def cmd_report(args) -> int:
    """Write report.md and plots for a campaign folder."""
    from .campaign import CampaignResults

    res = CampaignResults.open(args.dir)
    path = res.report(args.out)
    print(f"wrote {path} and its plots")
    return 0


def cmd_generate(args) -> int:
    """Write one replication of a synthetic workload as a trace folder, with its cluster table."""
    import dataclasses

    from .cluster import default_cluster
    from .modelops import ModelOpsWorkload
    from .trace import Trace

    out = Path(args.out)
    if args.params is not None:
        from .fit import FitResult

        if args.rate is not None:
            raise ValueError("--rate goes with the default workload; with --params scale the fitted rate "
                             "with --rate-scale")
        workload = FitResult.load(args.params).generator(rate_scale=args.rate_scale, days=args.days)
    else:
        workload = ModelOpsWorkload()
        changes = {}
        if args.days is not None:
            changes["days"] = args.days
        if args.rate is not None:
            changes["base_rate"] = args.rate
        if args.rate_scale != 1.0:
            changes["base_rate"] = changes.get("base_rate", workload.base_rate) * args.rate_scale
        workload = dataclasses.replace(workload, **changes)
    if args.cluster is not None:
        from .cluster import read_cluster

        cluster = read_cluster(args.cluster)
    else:
        cluster = default_cluster()
    tables = workload.tables(args.seed, args.replication)
    trace = Trace.from_frames(tables["pipelines"], tables["tasks"], tables.get("models"), source=str(out))
    trace.write(out, format=args.format)
    cluster.to_csv(out / "cluster.csv")
    print(f"wrote {trace.n_pipelines:,} pipelines and {trace.n_tasks:,} tasks "
          f"({_days(workload.default_horizon)}, seed {args.seed}, replication {args.replication}) to {out}/, "
          f"with its cluster table cluster.csv")
    gates = ""
    if trace.models is not None and hasattr(workload, "accuracy_gate"):
        # the gates are the platform's, not part of a trace: pass the generator's
        gates = (f" --accuracy-gate {workload.accuracy_gate:g} --fairness-gate {workload.fairness_gate:g}"
                 f" --robustness-gate {workload.robustness_gate:g}")
    print(f"replay it with: fastpipesim replay {out} --cluster {out / 'cluster.csv'} "
          f"--horizon {workload.default_horizon:g}{gates}")
    return 0


def cmd_import(args) -> int:
    """Import a public trace into the fastpipesim format, saying what was dropped and why."""
    import inspect

    from . import importers

    options = {}
    accepted = [n for n, prm in inspect.signature(importers.importer(args.format).read).parameters.items()
                if prm.kind == prm.KEYWORD_ONLY or (prm.default is not prm.empty)]
    for item in args.option or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--option {item!r}: expected KEY=VALUE")
        if key not in accepted:
            raise ValueError(f"--option {key}: not an option of the {args.format} importer; "
                             f"its options are {accepted or 'none'}")
        options[key] = _option_value(value.strip())
    result = importers.read(args.format, *args.source, **options)
    out = Path(args.out)
    result.trace.write(out, format=args.out_format)
    lines = [f"# Imported with `fastpipesim import {args.format}`", ""]
    lines += [f"- {n}" for n in result.notes]
    if result.cluster is not None:
        result.cluster.to_csv(out / "cluster.csv")
    dropped = result.dropped
    lines += ["", "## Dropped", ""]
    if len(dropped):
        lines += ["| reason | rows | example |", "|---|---:|---|"]
        lines += [f"| {r.reason} | {r.rows} | {r.example} |" for r in dropped.itertuples()]
    else:
        lines += ["nothing"]
    (out / "IMPORT.md").write_text("\n".join(lines) + "\n")
    print(f"imported {result.trace.n_pipelines:,} pipelines and {result.trace.n_tasks:,} tasks to {out}/"
          + (" with cluster.csv" if result.cluster is not None else ""))
    if len(dropped):
        print("dropped (see IMPORT.md):")
        print(dropped.to_string(index=False))
    return 0


def _option_value(text: str):
    """An importer option's value: a number, true/false, or the text as given."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def cmd_fragmentation(args) -> int:
    """The GPU-fragmentation experiment of the openb study (MODEL.md 12.11) on an imported trace."""
    import pandas as pd

    from .cluster import read_cluster
    from .fragmentation import fragmentation_study
    from .trace import read_trace

    trace = read_trace(args.trace)
    cluster = read_cluster(args.cluster)
    target = None if args.target is None else pd.read_csv(args.target, keep_default_na=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # fail before the runs, not after them
    print(f"trace {trace.source}: {trace.n_tasks:,} tasks | {_describe_cluster(cluster)} | {args.seeds} seeds "
          f"from {args.seed}, inflated to {args.inflate:g}x the cluster's GPUs, ties {args.ties}, node order "
          f"{args.node_order}" + ("" if args.memory else ", memory not checked"), flush=True)
    res = fragmentation_study(trace, cluster, policies=args.policies, replications=args.seeds, seed=args.seed,
                              inflate=args.inflate, ties=args.ties, node_order=args.node_order, target=target,
                              memory=args.memory, threads=args.threads)
    rows = []
    for x in (90, 100, 110, 120, 130):
        at = res.at(x)
        for policy, r in at.iterrows():
            rows.append([f"{policy} @ {x}%", _fmt(r["median"], 2), f"{_fmt(r['p25'], 2)} to {_fmt(r['p75'], 2)}",
                         _fmt(r["mean"], 2)])
        rows.append([])
    print()
    print("unallocated GPUs (% of the cluster's) against arrived GPU demand (% of the cluster's GPUs):")
    print(_table(["policy @ arrived", "median", "25-75%", "mean"], rows[:-1]))
    written = res.write(out)
    pods = int(res.runs["pods"].mean())
    print(f"\n{len(res.runs)} runs of ~{pods:,} pods in {res.elapsed:.1f} s; target workload of "
          f"{len(res.target)} shapes")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_fit(args) -> int:
    """Fit the generator's parameters to a trace."""
    from .fit import fit_trace
    from .trace import read_trace

    start = args.start if args.start == "first" else float(args.start)
    kw = {}
    if args.families is not None:
        kw["families"] = tuple(f.strip() for f in args.families.split(",") if f.strip())
    if args.smooth is not None:
        kw["smoothing"] = args.smooth if args.smooth == "auto" else float(args.smooth)
    fitted = fit_trace(read_trace(args.trace), start=start, days=args.days, arrivals=args.arrivals,
                       correlation=not args.independent, **kw)
    fitted.save(args.out)
    print(fitted.summary())
    for line in fitted.load_warnings():  # loudly: also where a script that keeps only stderr sees it
        print(line, file=sys.stderr)
    print(f"\nwrote {args.out}; make a workload like it with: "
          f"fastpipesim generate --params {args.out} --rate-scale 10 --out DIR")
    if args.plot:
        fitted.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0


# ----------------------------------------------------------------------------- parser

def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _gpu_share(text: str) -> dict:
    """--gpu-share "evaluate=0.25,robustness_check=0.5" -> {"evaluate": 0.25, "robustness_check": 0.5}."""
    out = {}
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise ValueError(f"--gpu-share: expected STEP=SHARE[,STEP=SHARE...], got {item!r}")
    return out


def _policy_options(p: argparse.ArgumentParser) -> None:
    from .engine.constants import DEVICE_PLACEMENTS, POLICIES, TIES

    p.add_argument("--policy", default="fifo", choices=[x for x in POLICIES if x != "custom"],
                   help="scheduling policy (MODEL.md 5; default fifo)")
    p.add_argument("--placement", default="first_fit", choices=list(DEVICE_PLACEMENTS),
                   help="placement rule (MODEL.md 6; default first_fit); random, dot_product, gpu_clustering, "
                        "gpu_packing, gpu_best_fit and fgd place GPUs as devices (MODEL.md 12.5)")
    p.add_argument("--ties", default="index", choices=list(TIES),
                   help="on devices, equally scored nodes: the lowest index, or random from the "
                        "placement stream (MODEL.md 12.5-12.6; default index)")
    p.add_argument("--no-backfill", action="store_true",
                   help="strict order: a task that does not fit stops the scheduling pass")
    p.add_argument("--quiet", action="store_true", help="no progress report on stderr")


def _lifecycle_options(p: argparse.ArgumentParser, defaults) -> None:
    """Gates and the lifecycle switch (MODEL.md 7); ``defaults`` names where the defaults come from."""
    for gate, task in (("accuracy", "evaluate"), ("fairness", "bias_check"), ("robustness", "robustness_check")):
        p.add_argument(f"--{gate}-gate", type=float, default=None, metavar="G",
                       help=f"{task} rejects a pipeline whose candidate {gate} is below G ({defaults})")
    p.add_argument("--no-lifecycle", action="store_true",
                   help="run the pipelines as plain jobs: no gates, deploys, drift or retraining rules")


def _elastic_options(p: argparse.ArgumentParser) -> None:
    """MODEL.md 11: the autoscaler and its parameters (they act on a cluster with elastic or spot pools)."""
    g = p.add_argument_group("elastic clusters (MODEL.md 11; act when a pool has min_count/max_count or spot)")
    g.add_argument("--autoscaler", default="static", choices=["static", "reactive", "target_utilization", "schedule"],
                   help="autoscaler (default static: none)")
    g.add_argument("--autoscaler-interval", type=float, default=None, metavar="S",
                   help="seconds between ticks (default 10, 15 for target_utilization)")
    g.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                   help="reactive: release a node idle this long (default 600)")
    g.add_argument("--expander", default=None, choices=["least_waste", "cheapest", "first"],
                   help="reactive: which pool a scale-up takes (default least_waste)")
    g.add_argument("--target", type=float, default=None, metavar="U",
                   help="target_utilization: the target in (0, 1] (default 0.7)")
    g.add_argument("--tolerance", type=float, default=None, metavar="X",
                   help="target_utilization: no change within this band (default 0.1)")
    g.add_argument("--stabilization", type=float, default=None, metavar="S",
                   help="target_utilization: scale-down window, seconds (default 300)")
    g.add_argument("--resource", default=None, choices=["auto", "cpu", "gpu", "mem_gb"],
                   help="target_utilization: the dimension (default auto)")
    g.add_argument("--schedule", default=None, metavar="FILE",
                   help="schedule: CSV with columns pool, day, hour, count")
    g.add_argument("--nodes-out", default=None, metavar="FILE",
                   help="write the node timeline (CSV, or Parquet if FILE ends with .parquet)")


def _autoscaler_kwarg(args) -> dict:
    from .autoscalers import build_autoscaler

    params = {name: getattr(args, attr) for name, attr in (
        ("interval", "autoscaler_interval"), ("idle_timeout", "idle_timeout"), ("expander", "expander"),
        ("target", "target"), ("tolerance", "tolerance"), ("stabilization", "stabilization"),
        ("resource", "resource"), ("table", "schedule")) if getattr(args, attr) is not None}
    return {"autoscaler": build_autoscaler(args.autoscaler, params)}


def _write_nodes(res, args, written: list) -> None:
    if args.nodes_out is not None:
        _write_table(res.nodes, Path(args.nodes_out), index=False)
        written.append(args.nodes_out)


def _gate_kwargs(args) -> dict:
    return dict(lifecycle=not args.no_lifecycle, accuracy_gate=args.accuracy_gate,
                fairness_gate=args.fairness_gate, robustness_gate=args.robustness_gate)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .modelops import ModelOpsWorkload

    parser = argparse.ArgumentParser(
        prog="fastpipesim",
        description="Simulate ML pipelines on a CPU/GPU cluster (discrete-event, Numba-compiled).",
        epilog="Run 'fastpipesim COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"fastpipesim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run", help="run the default ModelOps experiment and print statistics across replications",
        description="Run the default experiment: the synthetic ModelOps workload (MODEL.md 8) on the "
                    "default cluster, and print each metric's mean and 95% interval across replications.",
    )
    run.add_argument("--replications", type=_positive_int, default=DEFAULT_REPLICATIONS, metavar="N",
                     help=f"independent replications (default {DEFAULT_REPLICATIONS})")
    run.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                     help=f"random seed (default {DEFAULT_SEED})")
    run.add_argument("--days", type=float, default=None, metavar="D",
                     help=f"days of arrivals; also the horizon (default {ModelOpsWorkload.days:g})")
    run.add_argument("--warmup-days", type=float, default=None, metavar="W",
                     help=f"days left out of the statistics at the start (default {DEFAULT_WARMUP_DAYS:g}, "
                          "or a seventh of --days when that is shorter than 7 days)")
    run.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                     help="threads (default: all cores)")
    run.add_argument("--out", default=None, metavar="DIR",
                     help="write summary.csv (per replication), stats.csv, type_waits.csv and models.csv "
                          "(lifecycle metrics per replication and model) to DIR")
    run.add_argument("--on-drift", action="store_true",
                     help="retrain each model when its accuracy drifts below its threshold (MODEL.md 7)")
    run.add_argument("--period-days", type=float, default=None, metavar="P",
                     help="also retrain each model every P days (default: no periodic retraining)")
    run.add_argument("--gpu-share", default=None, metavar="STEP=SHARE,...",
                     help="deep-learning tasks of these steps ask for a share of one GPU, e.g. "
                          "evaluate=0.25,robustness_check=0.5 (GPUs as devices, MODEL.md 12; default: none)")
    _policy_options(run)
    _lifecycle_options(run, "default: the workload's, "
                            f"{ModelOpsWorkload.accuracy_gate:g} / {ModelOpsWorkload.fairness_gate:g} / "
                            f"{ModelOpsWorkload.robustness_gate:g} for accuracy / fairness / robustness")
    run.add_argument("--cluster", default=None, metavar="FILE",
                     help="cluster table, one row per pool (CSV or Parquet; default: the default cluster)")
    _elastic_options(run)
    run.set_defaults(func=cmd_run)

    camp = sub.add_parser(
        "campaign", help="run an experiment file: scenarios x replications, on threads or Dask",
        description="Run every scenario of an experiment file (TOML) with common random numbers, writing "
                    "results to DIR as they complete; --resume computes only what is missing.",
    )
    camp.add_argument("experiment", metavar="EXP.toml")
    camp.add_argument("--out", required=True, metavar="DIR", help="the campaign folder (new or empty)")
    camp.add_argument("--resume", action="store_true",
                      help="continue the campaign in DIR (refuses if the experiment file changed)")
    camp.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                      help="threads in this process (default: all cores), or per Dask worker")
    camp.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                      help="run on a local Dask cluster of N worker processes")
    camp.add_argument("--scheduler", default=None, metavar="ADDRESS",
                      help="run on an existing Dask cluster (tcp://host:8786)")
    camp.add_argument("--batch", type=_positive_int, default=None, metavar="B",
                      help="replications per unit of work (default 25)")
    camp.add_argument("--quiet", action="store_true", help="no progress bar")
    camp.set_defaults(func=cmd_campaign)

    rep = sub.add_parser("report", help="write report.md and plots for a campaign folder",
                         description="Write DIR/report.md and PNG plots: each metric against each swept axis, "
                                     "paired differences against the baseline, Welch plots of time series.")
    rep.add_argument("dir", metavar="DIR")
    rep.add_argument("--out", default=None, metavar="FOLDER", help="where to write (default: DIR)")
    rep.set_defaults(func=cmd_report)

    rp = sub.add_parser(
        "replay", help="replay a trace once on a cluster and print its metrics",
        description="Replay a trace folder (pipelines and tasks tables, MODEL.md 2) on a cluster table: "
                    "one deterministic run.",
    )
    rp.add_argument("trace", metavar="TRACE_DIR",
                    help="folder with pipelines.csv and tasks.csv (or .parquet)")
    rp.add_argument("--cluster", required=True, metavar="FILE",
                    help="cluster table, one row per pool (CSV or Parquet)")
    rp.add_argument("--horizon", type=float, default=None, metavar="S",
                    help="seconds; events after it are not applied (default: run until every task ends)")
    rp.add_argument("--warmup", type=float, default=0.0, metavar="S",
                    help="seconds left out of the statistics at the start (default 0)")
    rp.add_argument("--tasks-out", default=None, metavar="FILE",
                    help="write the task records (CSV, or Parquet if FILE ends with .parquet)")
    rp.add_argument("--summary-out", default=None, metavar="FILE",
                    help="write the replication's summary (CSV, or Parquet if FILE ends with .parquet)")
    rp.add_argument("--seed", type=int, default=0, metavar="S",
                    help="seed of the spot pools' interruption times (MODEL.md 11.5) and of the placement "
                         "stream (MODEL.md 12.6; default 0)")
    rp.add_argument("--out", default=None, metavar="DIR",
                    help="write tasks.csv, pipelines.csv and summary.csv to DIR, and on devices devices.csv "
                         "and gpu_timeline.csv (MODEL.md 12.9)")
    _policy_options(rp)
    _lifecycle_options(rp, "default 0: off; with a models table only")
    _elastic_options(rp)
    rp.set_defaults(func=cmd_replay)

    gen = sub.add_parser(
        "generate", help="write a synthetic workload as a trace folder, with its cluster table",
        description="Write one replication of the synthetic ModelOps workload (or of a workload fitted "
                    "with 'fastpipesim fit') as a trace folder (MODEL.md 2) plus cluster.csv. Replaying "
                    "it gives exactly the results of simulating the generator with the same seed.",
    )
    gen.add_argument("--out", required=True, metavar="DIR", help="the trace folder to write")
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                     help=f"random seed (default {DEFAULT_SEED})")
    gen.add_argument("--replication", type=int, default=0, metavar="R",
                     help="which replication of the seed (default 0)")
    gen.add_argument("--days", type=float, default=None, metavar="D",
                     help=f"days of arrivals (default {ModelOpsWorkload.days:g})")
    gen.add_argument("--rate", type=float, default=None, metavar="R",
                     help=f"mean pipelines per hour (default {ModelOpsWorkload.base_rate:g})")
    gen.add_argument("--params", default=None, metavar="PARAMS",
                     help="a workload fitted by 'fastpipesim fit' instead of the default ModelOps one")
    gen.add_argument("--rate-scale", type=float, default=1.0, metavar="X",
                     help="multiply the arrival rate by X (default 1)")
    gen.add_argument("--cluster", default=None, metavar="FILE",
                     help="the cluster table to write beside the trace (default: the default cluster)")
    gen.add_argument("--format", default="csv", choices=["csv", "parquet"], help="table format (default csv)")
    gen.set_defaults(func=cmd_generate)

    imp = sub.add_parser(
        "import", help="import a public cluster trace into the fastpipesim trace format",
        description="Import a public trace (Alibaba, Helios, Philly) into a trace folder, with a "
                    "cluster table when the source describes the machines, and IMPORT.md saying how "
                    "fields were mapped and what was dropped and why.",
    )
    from . import importers

    imp.add_argument("format", choices=importers.formats(), metavar="FORMAT",
                     help="one of: " + ", ".join(importers.formats()))
    imp.add_argument("source", nargs="+", metavar="SOURCE", help="the trace's file(s) or folder")
    imp.add_argument("--out", required=True, metavar="DIR", help="the trace folder to write")
    imp.add_argument("--option", action="append", metavar="KEY=VALUE",
                     help="an option of the importer, for example phases=all (alibaba-gpu-2023: keep "
                          "pods that never ran, as the fragmentation study does) or multi_node=split "
                          "(helios, philly); repeatable")
    imp.add_argument("--out-format", default="csv", choices=["csv", "parquet"],
                     help="table format (default csv)")
    imp.set_defaults(func=cmd_import)

    frag = sub.add_parser(
        "fragmentation", help="the GPU-fragmentation experiment of the openb study on an imported trace",
        description="Pods (the trace's tasks) arrive one by one and never leave; the list is shuffled and "
                    "inflated to --inflate x the cluster's GPUs per seed, each pod is placed once or fails, and "
                    "the unallocated and fragmented GPUs are recorded (MODEL.md 12.11). Writes unallocated.csv, "
                    "frag_ratio.csv, curves.csv, runs.csv, target.csv and fragmentation.png to DIR.",
    )
    from .engine.constants import DEVICE_PLACEMENTS, STUDY_PLACEMENTS, TIES
    from .fragmentation import DEFAULT_INFLATE
    from .fragmentation import DEFAULT_SEED as FRAG_SEED

    frag.add_argument("trace", metavar="TRACE_DIR", help="an imported trace (tasks with gpu, optional gpu_spec)")
    frag.add_argument("--cluster", required=True, metavar="FILE",
                      help="cluster table (gpu = devices per node; optional column gpu_model)")
    frag.add_argument("--policies", default=",".join(STUDY_PLACEMENTS), metavar="P1,P2,...",
                      help=f"placements among {', '.join(DEVICE_PLACEMENTS)} (default: the study's six)")
    frag.add_argument("--seeds", type=_positive_int, default=10, metavar="N",
                      help="replications per policy (default 10, as the study)")
    frag.add_argument("--seed", type=int, default=FRAG_SEED, metavar="S", help=f"random seed (default {FRAG_SEED})")
    frag.add_argument("--inflate", type=float, default=DEFAULT_INFLATE, metavar="X",
                      help=f"GPU demand as a multiple of the cluster's GPUs (default {DEFAULT_INFLATE:g})")
    frag.add_argument("--ties", default="index", choices=list(TIES),
                      help="equal scores: the first node of the (random) node order, or a random one (default index)")
    frag.add_argument("--node-order", default="random", choices=["random", "given"],
                      help="a random node order per seed, as the study's simulator names its nodes (default), or "
                           "the cluster's")
    frag.add_argument("--no-memory", dest="memory", action="store_false",
                      help="leave memory out of the fit test (the study's scheduler checks it)")
    frag.add_argument("--target", default=None, metavar="FILE",
                      help="target workload CSV (cpu, gpu, p, optional gpu_spec; default: the trace's, MODEL.md 12.7)")
    frag.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                      help="runs at once (default: all cores)")
    frag.add_argument("--out", required=True, metavar="DIR", help="where to write the tables and the plot")
    frag.set_defaults(func=cmd_fragmentation)

    fit = sub.add_parser(
        "fit", help="fit a workload model to a trace (arrival profile, pipeline shapes, durations)",
        description="Estimate a workload generator from a trace, report the goodness of fit, and save "
                    "it for 'fastpipesim generate --params'.",
    )
    fit.add_argument("trace", metavar="TRACE_DIR")
    fit.add_argument("--out", required=True, metavar="PARAMS", help="where to save the fitted parameters (JSON)")
    fit.add_argument("--plot", default=None, metavar="PNG", help="draw fitted against empirical distributions")
    fit.add_argument("--start", default="0", metavar="S",
                     help="start of the observation window in seconds, or 'first' for the hour of the first "
                          "arrival (for imported traces whose clock does not start at 0; default 0)")
    fit.add_argument("--days", type=float, default=None, metavar="D",
                     help="length of the observation window (default: up to the last arrival)")
    fit.add_argument("--arrivals", default="auto", choices=["auto", "weekly", "daily", "days"],
                     help="arrival model: hourly x weekday profile, hourly profile x a level per day of the trace, "
                          "or the trace's days resampled (default auto: weekly or daily by AIC)")
    fit.add_argument("--families", default=None, metavar="F,F",
                     help="candidate duration families, comma-separated (default all: lognorm, gamma, weibull_min, "
                          "expon, lognorm_mix, spliced, empirical)")
    fit.add_argument("--smooth", default=None, metavar="H",
                     help="smooth the empirical distribution with a log-space kernel of bandwidth H ('auto': "
                          "Silverman's rule; default: resample the durations as they are)")
    fit.add_argument("--independent", action="store_true",
                     help="draw the durations of a pipeline's tasks independently (no copula)")
    fit.set_defaults(func=cmd_fit)
    return parser


def main(argv=None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, usage errors: argparse has printed them
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        return args.func(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except ValueError as exc:  # InputError is a ValueError: bad trace, cluster or option
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an output that cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
