"""Is an autoscaled GPU pool cheaper than a static one, and what does it cost the models?

Runs the ModelOps week (the synthetic workload with retraining on drift, MODEL.md 7-8)
on the default cluster with its GPU pool

- static, 2 to 8 nodes;
- elastic (1 to 8 nodes, 3 at the start), under the ``reactive`` autoscaler (the
  Kubernetes cluster autoscaler's rule) and under ``target_utilization`` (the Horizontal
  Pod Autoscaler's), with boot times of 2 and 10 minutes;
- a spot variant: reactive with 2-minute boots on spot nodes at a third of the price,
  interrupted twice a day each on average (an interrupted task starts again from
  scratch: no checkpoints, the worst case);

and reports, with 95% Student-t intervals over replications, the cost, the mean and
p95 pipeline response time and the fraction of model-time below threshold, the nodes
up and the interruptions. Elastic pools are billed per second from each node's request
(boot time is paid) with a 60 s minimum (MODEL.md 11.6).

Every configuration runs the same replications of the same seed: common random
numbers. Replication r sees the same pipelines and the same k-th retraining of every
model, and the spot variant the interruption times of its slots, whatever the pool, so
paired differences measure the pool alone.

    python examples/elastic_gpu_pool.py            # 30 replications of 7 days
    python examples/elastic_gpu_pool.py --quick    # 6 replications of 3 days
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import fastpipesim as fps
from fastpipesim.results import student_t_interval

DAY = 86400.0
GPU_PRICE = 5.672            # $/h, the default GPU node (like an AWS g5.12xlarge on demand)
SPOT_PRICE = GPU_PRICE / 3   # spot capacity is typically 60-70% cheaper
SPOT_RATE = 2.0              # interruptions per node-day
METRICS = ("cost", "response_mean", "response_p95", "model_frac_below", "nodes_up_mean_gpu", "util_gpu_gpu",
           "scale_ups", "interruptions", "tasks_restarted", "work_lost_h")


def configurations(static_nodes=(2, 3, 4, 5, 6, 7, 8), boots=(120.0, 600.0)) -> list:
    """(name, cluster, autoscaler) for every pool of the study."""
    out = []
    base = fps.default_cluster().pools
    for n in static_nodes:
        out.append((f"static {n}", fps.default_cluster().scaled(gpu=n), None))
    elastic = dict(min_count=[3, 1], max_count=[3, 8], billing_minimum=[0.0, 60.0])
    scalers = {"reactive": fps.autoscalers.Reactive(interval=10, idle_timeout=600),
               "target_utilization": fps.autoscalers.TargetUtilization(target=0.7)}
    for kind, scaler in scalers.items():
        for boot in boots:
            pools = base.assign(boot_time=[0.0, boot], **elastic)
            out.append((f"{kind} {boot / 60:g} min", fps.Cluster(pools), scaler))
    pools = base.assign(boot_time=[0.0, boots[0]], spot=[False, True], interruptions_per_day=[0.0, SPOT_RATE],
                        price_per_hour=[base["price_per_hour"].iloc[0], SPOT_PRICE], **elastic)
    out.append((f"reactive {boots[0] / 60:g} min, spot", fps.Cluster(pools), scalers["reactive"]))
    return out


def run_study(replications=30, days=7, seed=1, static_nodes=(2, 3, 4, 5, 6, 7, 8), boots=(120.0, 600.0),
              threads=None, progress=None) -> dict:
    """Name -> Results of each configuration (the same seed and replications: common random numbers)."""
    wl = fps.ModelOpsWorkload(on_drift=True, days=days)
    runs = {}
    for name, cluster, scaler in configurations(static_nodes, boots):
        # the first day is warm-up: the cluster starts empty and the models' initial
        # deployments are of random age
        runs[name] = fps.simulate(wl, cluster, autoscaler=scaler, replications=replications, seed=seed,
                                  warmup=1 * DAY, threads=threads, progress=progress)
    return runs


def table(runs: dict) -> pd.DataFrame:
    """One row per configuration: mean and 95% interval of each metric."""
    rows = []
    for name, res in runs.items():
        row = {"pool": name}
        s = res.summary
        for m in METRICS:
            if m not in s:
                continue
            mean, _, n, lo, hi = student_t_interval(s[m].to_numpy(np.float64))
            row[m], row[f"{m}_lo"], row[f"{m}_hi"] = mean, lo, hi
        row["n"] = len(s)
        rows.append(row)
    return pd.DataFrame(rows)


def pareto(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """Configurations not dominated in (cost, metric), both smaller-is-better."""
    c, m = frame["cost"].to_numpy(), frame[metric].to_numpy()
    return np.array([not any((c[j] <= c[i] and m[j] <= m[i]) and (c[j] < c[i] or m[j] < m[i])
                             for j in range(len(c))) for i in range(len(c))])


def paired(a, b, relative=False):
    """Mean and 95% interval of the paired difference a - b (or (a - b) / b) over replications."""
    x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
    d = (x - y) / y if relative else x - y
    mean, _, _, lo, hi = student_t_interval(d)
    return mean, lo, hi


def equal_p95_static(runs: dict, frame: pd.DataFrame, elastic: str) -> str:
    """The cheapest static pool whose p95 response is not significantly worse than the elastic
    pool's: the paired 95% interval of (static - elastic) p95 reaches 0 or below."""
    statics = [n for n in frame["pool"] if n.startswith("static")]
    cost = frame.set_index("pool")["cost"]
    e = runs[elastic].summary["response_p95"]
    good = [n for n in statics if paired(runs[n].summary["response_p95"], e)[1] <= 0.0]
    return min(good, key=lambda n: cost[n]) if good else statics[-1]


def headline(runs: dict, frame: pd.DataFrame, elastic: str) -> dict:
    """The elastic pool against the static pool of equal p95 response (``equal_p95_static``)."""
    static = equal_p95_static(runs, frame, elastic)
    a, b = runs[elastic].summary, runs[static].summary
    return {"elastic": elastic, "static": static,
            "cost_saving": paired(a["cost"], b["cost"], relative=True),
            "below_points": paired(100 * a["model_frac_below"], 100 * b["model_frac_below"]),
            "p95_h": paired(a["response_p95"] / 3600, b["response_p95"] / 3600)}


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = (("response_mean", "mean response time (h)", 1 / 3600), ("model_frac_below",
                                                                      "time below threshold (%)", 100.0))
    static = frame["pool"].str.startswith("static")
    for ax, (metric, label, scale) in zip(axes, panels):
        front = pareto(frame, metric)
        x, y = frame["cost"], frame[metric] * scale
        xerr = [x - frame["cost_lo"], frame["cost_hi"] - x]
        yerr = [y - frame[f"{metric}_lo"] * scale, frame[f"{metric}_hi"] * scale - y]
        ax.plot(x[static], y[static], "-", color="0.6", lw=1, zorder=1)
        for i, row in frame.iterrows():
            kind = row["pool"].split()[0]
            color = {"static": "0.3", "reactive": "C0", "target_utilization": "C1"}[kind]
            marker = "D" if "spot" in row["pool"] else ("s" if "10 min" in row["pool"] else "o")
            ax.errorbar(x[i], y[i], xerr=[[xerr[0][i]], [xerr[1][i]]], yerr=[[yerr[0][i]], [yerr[1][i]]],
                        fmt=marker, color=color, ms=7, capsize=2, mfc=color if front[i] else "white", zorder=2)
            # static labels above their points, the others staggered below (they sit close together)
            k = i - int(static.sum())
            offset = (4, 5) if kind == "static" else (6, -11 - 9 * (k % 5))
            ax.annotate(row["pool"].replace("target_utilization", "target util"), (x[i], y[i]), fontsize=7,
                        xytext=offset, textcoords="offset points", color=color)
        order = np.argsort(x[front].to_numpy())
        ax.plot(x[front].to_numpy()[order], y[front].to_numpy()[order], ":", color="C3", lw=1.5,
                label="Pareto front (filled markers)")
        ax.set_xlabel("cost over 6 days ($), 95% intervals")
        ax.set_ylabel(label)
        if metric == "response_mean":
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_yticks([1, 1.5, 2, 3, 5, 10])
        if metric == "model_frac_below":
            ax.set_ylim(0.0, None)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("GPU pool: static sizes against autoscaled and spot pools (ModelOps week, common random numbers)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(frame: pd.DataFrame) -> str:
    def cell(r, m, scale=1.0, digits=1):
        return f"{r[m] * scale:.{digits}f} [{r[m + '_lo'] * scale:.{digits}f}, {r[m + '_hi'] * scale:.{digits}f}]"

    lines = ["| GPU pool | cost $ | response mean, h | response p95, h | % time below threshold | GPU nodes up | "
             "interruptions |", "|---|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        lines.append(f"| {r['pool']} | {cell(r, 'cost', 1, 0)} | {cell(r, 'response_mean', 1 / 3600, 2)} | "
                     f"{cell(r, 'response_p95', 1 / 3600, 2)} | {cell(r, 'model_frac_below', 100, 2)} | "
                     f"{r['nodes_up_mean_gpu']:.2f} | {r.get('interruptions', 0):.1f} |"
                     if "nodes_up_mean_gpu" in r and r["nodes_up_mean_gpu"] == r["nodes_up_mean_gpu"] else
                     f"| {r['pool']} | {cell(r, 'cost', 1, 0)} | {cell(r, 'response_mean', 1 / 3600, 2)} | "
                     f"{cell(r, 'response_p95', 1 / 3600, 2)} | {cell(r, 'model_frac_below', 100, 2)} | "
                     f"{r['pool'].split()[1]} | - |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replications", type=int, default=30)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--static", type=int, nargs="+", default=[2, 3, 4, 5, 6, 7, 8], metavar="N")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="6 replications of 3 days")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent), metavar="DIR")
    args = ap.parse_args(argv)
    if args.quick:
        args.replications, args.days = 6, 3
    t = time.perf_counter()
    runs = run_study(args.replications, args.days, args.seed, tuple(args.static), threads=args.threads)
    frame = table(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "elastic_gpu_pool.csv", index=False)
    plot(frame, out / "elastic_gpu_pool.png")
    print(f"{len(runs)} GPU pools x {args.replications} replications of {args.days:g} days (seed {args.seed}, "
          f"common random numbers) in {time.perf_counter() - t:.1f} s\n")
    print(_fmt(frame))
    print()
    for elastic in ("reactive 2 min", "reactive 10 min", "target_utilization 2 min", "target_utilization 10 min",
                    "reactive 2 min, spot"):
        if elastic not in runs:
            continue
        h = headline(runs, frame, elastic)
        c, b, p = h["cost_saving"], h["below_points"], h["p95_h"]
        print(f"{elastic} against {h['static']} (the cheapest static pool of equal p95 response): "
              f"cost {100 * c[0]:+.1f}% [{100 * c[1]:+.1f}, {100 * c[2]:+.1f}], time below threshold "
              f"{b[0]:+.2f} points [{b[1]:+.2f}, {b[2]:+.2f}], p95 response {p[0]:+.2f} h [{p[1]:+.2f}, {p[2]:+.2f}]"
              " (paired, 95%)")
    print(f"\nwrote {out / 'elastic_gpu_pool.csv'} and {out / 'elastic_gpu_pool.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
