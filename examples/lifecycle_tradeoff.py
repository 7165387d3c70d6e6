"""How many GPU nodes does model quality need, and can a smarter policy buy some back?

Sweeps the size of the GPU pool and the scheduling policy (``fifo`` against the
lifecycle-aware ``staleness``) on the synthetic ModelOps workload with automated
retraining on drift, and shows how mean deployed accuracy, the time models spend
below their threshold and the cost of the cluster move, with 95% intervals.

Every configuration runs the same replications of the same seed: common random
numbers (MODEL.md 7, 8). Each replication sees the same exogenous pipelines and the
same k-th retraining of every model whatever the cluster or policy, so a paired
difference between two policies measures the policy alone, with a much narrower
interval than two separate intervals would suggest.

    python examples/lifecycle_tradeoff.py            # 30 replications of 7 days, 2..6 GPU nodes
    python examples/lifecycle_tradeoff.py --quick    # a small run to try it out
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

import fastpipesim as fps

DAY = 86400.0

# the metrics kept per configuration (names of Results.summary's columns)
METRICS = (
    "model_accuracy_mean",      # time-average deployed accuracy over all models
    "model_frac_below",         # fraction of (model x time) below the model's threshold
    "crossing_to_deploy_mean",  # seconds from a threshold crossing to the next deploy
    "cost",                     # every node is paid for over the window, busy or not
    "util_gpu_gpu",             # GPU utilization of the GPU pool
    "response_mean",            # pipeline response time, seconds
    "submitted",                # pipelines submitted in the window (exogenous + retraining)
    "submitted_on_drift",       # retraining pipelines the on_drift rule submitted
    "rejected",                 # pipelines rejected by a quality gate
)
# the metrics whose paired difference (policy - first policy) is reported
PAIRED = ("model_accuracy_mean", "model_frac_below", "crossing_to_deploy_mean")


def workload(days: float) -> fps.ModelOpsWorkload:
    # on_drift: a model crossing its threshold submits its own retraining, so the
    # schedule (how fast that retraining gets GPUs) decides how long it stays stale
    return fps.ModelOpsWorkload(on_drift=True, days=days)


def cluster(gpu_nodes: int) -> fps.Cluster:
    # only the GPU pool changes; the CPU pool stays as in the default cluster
    return fps.default_cluster().scaled(gpu=gpu_nodes)


def run_sweep(gpu_nodes=(2, 3, 4, 5, 6), policies=("fifo", "staleness"), replications=30,
              days=7, seed=1, threads=None, progress=None) -> pd.DataFrame:
    """One row per (gpu_nodes, policy, metric): mean, ci_low, ci_high (95%), n.

    Rows whose policy reads ``"staleness - fifo"`` are paired differences of the
    PAIRED metrics against the first policy, from ``Results.compare``.
    ``progress`` is passed to :func:`fastpipesim.simulate` (None: only for long runs).
    """
    wl = workload(days)
    rows = []
    for g in gpu_nodes:
        runs = {}
        for policy in policies:
            # the same seed and replication numbers everywhere: common random numbers.
            # The first day is warm-up: the cluster starts empty and the models'
            # initial deployments are of random age, neither is the steady state
            runs[policy] = fps.simulate(wl, cluster(g), policy=policy, replications=replications,
                                        seed=seed, warmup=1 * DAY, threads=threads, progress=progress)
            st = runs[policy].stats().loc[list(METRICS)]
            rows.append(_tidy(st, g, policy))
        base = policies[0]
        for policy in policies[1:]:
            diff = runs[policy].compare(runs[base]).loc[list(PAIRED)]
            rows.append(_tidy(diff, g, f"{policy} - {base}"))
    return pd.concat(rows, ignore_index=True)


def _tidy(stats: pd.DataFrame, gpu_nodes: int, policy: str) -> pd.DataFrame:
    out = stats[["mean", "ci_low", "ci_high", "n"]].rename_axis("metric").reset_index()
    out.insert(0, "policy", policy)
    out.insert(0, "gpu_nodes", gpu_nodes)
    return out


# what the panels show: metric, title, y label, scale of the values
PANELS = (
    ("model_accuracy_mean", "Mean deployed accuracy", "% (time average over models)", 100.0),
    ("model_frac_below", "Time below threshold", "% of model-time below threshold", 100.0),
    ("cost", "Cost of the cluster", "$ over the observed window", 1.0),
)


def plot(frame: pd.DataFrame, path) -> None:
    """A PNG: one panel per PANELS metric against GPU nodes, one line per policy,
    and the paired difference in time below threshold (if the frame has one)."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    policies = [p for p in frame["policy"].unique() if " - " not in p]
    diffs = [p for p in frame["policy"].unique() if " - " in p]
    fig, axes = plt.subplots(2, 2, figsize=(10, 8), constrained_layout=True)
    axes = axes.ravel()[:len(PANELS) + bool(diffs)]

    def line(ax, rows, scale, label, offset):
        # offset the policies a little along x so that overlapping error bars stay readable
        x = rows["gpu_nodes"].to_numpy() + offset
        y = rows["mean"].to_numpy() * scale
        err = [y - rows["ci_low"].to_numpy() * scale, rows["ci_high"].to_numpy() * scale - y]
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)

    for ax, (metric, title, ylabel, scale) in zip(axes, PANELS):
        for i, policy in enumerate(policies):
            rows = frame[(frame["policy"] == policy) & (frame["metric"] == metric)].sort_values("gpu_nodes")
            line(ax, rows, scale, policy, 0.06 * (i - (len(policies) - 1) / 2))
        ax.set_title(title)
        ax.set_ylabel(ylabel)
    if diffs:
        ax = axes[-1]
        for policy in diffs:
            rows = frame[(frame["policy"] == policy) & (frame["metric"] == "model_frac_below")]
            line(ax, rows.sort_values("gpu_nodes"), 100.0, policy, 0.0)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_title("Paired difference, time below threshold")
        ax.set_ylabel("percentage points (below 0: the policy helps)")
    gpus = int(cluster(1).pools.set_index("pool").loc["gpu", "gpu"])
    for ax in axes:
        ax.set_xlabel(f"GPU nodes ({gpus} GPUs each)")
        ax.set_xticks(sorted(frame["gpu_nodes"].unique()))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    n = int(frame["n"].iloc[0])
    fig.suptitle(f"ModelOps workload with retraining on drift\n{n} replications per point, "
                 "common random numbers, 95% intervals")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(frame: pd.DataFrame) -> None:
    def cell(r, scale=1.0, digits=3):
        return f"{r['mean'] * scale:.{digits}f} [{r['ci_low'] * scale:.{digits}f}, {r['ci_high'] * scale:.{digits}f}]"

    show = (("model_accuracy_mean", "accuracy %", 100.0, 2), ("model_frac_below", "% below", 100.0, 2),
            ("crossing_to_deploy_mean", "cross->deploy h", 1 / 3600, 2), ("util_gpu_gpu", "GPU util %", 100.0, 1),
            ("response_mean", "response h", 1 / 3600, 2), ("cost", "cost $", 1.0, 0))
    means = frame[~frame["policy"].str.contains(" - ")]
    table = {}
    for (g, policy), rows in means.groupby(["gpu_nodes", "policy"], sort=True):
        rows = rows.set_index("metric")
        table[(g, policy)] = {label: cell(rows.loc[m], s, d) for m, label, s, d in show}
    print("Means with 95% intervals")
    print(pd.DataFrame(table).T.rename_axis(["gpu_nodes", "policy"]).to_string())
    diffs = frame[frame["policy"].str.contains(" - ")]
    if len(diffs):
        table = {}
        for (g, policy), rows in diffs.groupby(["gpu_nodes", "policy"], sort=True):
            rows = rows.set_index("metric")
            table[(g, policy)] = {label: cell(rows.loc[m], s, d) for m, label, s, d in show if m in rows.index}
        print("\nPaired differences with 95% intervals (same replications, common random numbers)")
        print(pd.DataFrame(table).T.rename_axis(["gpu_nodes", "difference"]).to_string())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replications", type=int, default=30)
    ap.add_argument("--days", type=float, default=7.0, help="simulated days, the first one is warm-up")
    ap.add_argument("--gpu-nodes", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="default: all cores")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent),
                    help="folder for lifecycle_tradeoff.csv and .png (default: examples/)")
    ap.add_argument("--quick", action="store_true", help="small run: 2 and 4 GPU nodes, 6 replications of 3 days")
    args = ap.parse_args(argv)
    if args.quick:
        args.gpu_nodes, args.replications, args.days = [2, 4], 6, 3.0

    print(f"{args.replications} replications of {args.days:g} days (seed {args.seed}, first day warm-up) for "
          f"GPU nodes {args.gpu_nodes} x policies fifo, staleness; every configuration runs the same "
          "replications: common random numbers\n")
    t0 = time.perf_counter()
    frame = run_sweep(args.gpu_nodes, replications=args.replications, days=args.days, seed=args.seed,
                      threads=args.threads)
    elapsed = time.perf_counter() - t0
    print_table(frame)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "lifecycle_tradeoff.csv", index=False)
    plot(frame, out / "lifecycle_tradeoff.png")
    print(f"\n{elapsed:.1f} s; wrote {out / 'lifecycle_tradeoff.csv'} and {out / 'lifecycle_tradeoff.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
