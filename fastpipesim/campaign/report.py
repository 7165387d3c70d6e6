"""``report.md`` and its plots for a campaign folder (matplotlib, Agg backend).

- one PNG per metric: the metric's mean and interval band against each swept
  axis, one line per value of the other axes;
- paired differences against the baseline, with their intervals;
- Welch plots of the time series (the mean over replications of each bin, and
  a moving average), with the MSER-5 truncation point, when series were kept.
"""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..results import HEADLINE_METRICS

DEFAULT_METRICS = (*HEADLINE_METRICS, "model_accuracy_mean", "model_frac_below", "crossing_to_deploy_mean")
MAX_LINES = 12  # lines per panel; more combinations of the other axes are left out (and said so)


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("the report's plots need matplotlib: pip install 'fastpipesim[plot]'") from None
    return plt


def report_metrics(res) -> list:
    chosen = res.meta["experiment"].get("report")
    present = set(res.stats["metric"]) if len(res.stats) else set()
    if chosen:
        return [m for m in chosen if m in present]
    base = [m for m in DEFAULT_METRICS if m in present]
    return base + sorted(m for m in present if m.startswith("util_") and m.endswith(("_cpu", "_gpu")))


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.01:
        return f"{x:.3f}"
    return f"{x:.3g}"


def _axis_values(values):
    """Plot positions and tick labels of an axis' values (numbers stay numbers)."""
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], None
    return list(range(len(values))), [str(v) for v in values]


def _metric_plot(plt, res, metric: str, path: Path) -> bool:
    stats = res.stats[res.stats["metric"] == metric]
    axes = res.axes
    if stats.empty:
        return False
    if not axes:
        fig, ax = plt.subplots(figsize=(4, 3.2))
        row = stats.iloc[0]
        ax.errorbar([0], [row["mean"]], yerr=[[row["mean"] - row["ci_low"]], [row["ci_high"] - row["mean"]]],
                    fmt="o", capsize=4)
        ax.set_xticks([0], ["all"])
        ax.set_ylabel(metric)
    else:
        fig, panels = plt.subplots(1, len(axes), figsize=(4.6 * len(axes), 3.6), squeeze=False)
        for ax, axis in zip(panels[0], axes):
            others = [a for a in axes if a != axis]
            values = list(dict.fromkeys(res.scenarios[axis]))
            x, labels = _axis_values(values)
            groups = list(stats.groupby(others, sort=False, dropna=False)) if others else [((), stats)]
            for key, g in groups[:MAX_LINES]:
                g = g.set_index(axis).reindex(values)
                name = ", ".join(f"{a}={v}" for a, v in zip(others, key if isinstance(key, tuple) else (key,)))
                ax.plot(x, g["mean"], marker="o", label=name or None)
                ax.fill_between(x, g["ci_low"], g["ci_high"], alpha=0.2)
            if labels is not None:
                ax.set_xticks(x, labels)
            ax.set_xlabel(axis)
            ax.set_ylabel(metric)
            if others:
                ax.legend(fontsize=7, title=None if len(groups) <= MAX_LINES else
                          f"first {MAX_LINES} of {len(groups)}")
            ax.grid(alpha=0.3)
    fig.suptitle(f"{metric}: mean and 95% interval", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _compare_plot(plt, res, metrics, path: Path) -> bool:
    cmp = res.compare
    if cmp.empty:
        return False
    metrics = [m for m in metrics if m in set(cmp["metric"])]
    if not metrics:
        return False
    n = len(metrics)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, panels = plt.subplots(rows, cols, figsize=(4.8 * cols, 0.5 + 0.32 * max(4, len(set(cmp["scenario"]))) * rows),
                               squeeze=False)
    labels = res.scenarios.set_index("scenario")["label"]
    for ax, m in zip(panels.flat, metrics):
        g = cmp[cmp["metric"] == m].reset_index(drop=True)
        y = np.arange(len(g))
        ax.errorbar(g["mean_diff"], y, xerr=[g["mean_diff"] - g["ci_low"], g["ci_high"] - g["mean_diff"]],
                    fmt="o", capsize=3)
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_yticks(y, [labels.get(s, s) for s in g["scenario"]], fontsize=7)
        ax.set_title(f"{m} minus baseline", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in list(panels.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _welch_plot(plt, res, path: Path) -> bool:
    series = res.series
    if series.empty:
        return False
    skip = {"scenario", "replication", "bin", "t_start", "t_end", *res.axes}
    columns = [c for c in series.columns if c not in skip and pd.api.types.is_numeric_dtype(series[c])]
    if not columns:
        return False
    warm = res.warmup
    n = len(columns)
    cols = min(2, n)
    rows = math.ceil(n / cols)
    fig, panels = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.4 * rows), squeeze=False)
    labels = res.scenarios.set_index("scenario")["label"]
    for ax, c in zip(panels.flat, columns):
        for k, (name, g) in enumerate(itertools.islice(series.groupby("scenario", sort=True), MAX_LINES)):
            mean = g.groupby("bin", sort=True).agg(t=("t_start", "first"), y=(c, "mean"))
            t = mean["t"].to_numpy() / 3600.0
            y = mean["y"].to_numpy()
            window = max(1, len(y) // 20)
            smooth = pd.Series(y).rolling(window, center=True, min_periods=1).mean().to_numpy()
            line, = ax.plot(t, smooth, lw=1.2, label=labels.get(name, name))
            ax.plot(t, y, lw=0.5, alpha=0.35, color=line.get_color())
            if not warm.empty:
                w = warm[(warm["scenario"] == name) & (warm["series"] == c)]
                if len(w) and w["warmup_hours"].iloc[0] > 0:
                    ax.axvline(w["warmup_hours"].iloc[0], color=line.get_color(), ls=":", lw=1)
        ax.set_title(f"{c} (mean over replications; dotted: MSER-5 warm-up)", fontsize=9)
        ax.set_xlabel("hours")
        ax.grid(alpha=0.3)
    panels.flat[0].legend(fontsize=7)
    for ax in list(panels.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def write_report(res, out: Path) -> Path:
    """Write report.md and its PNGs into ``out``; returns the path of report.md."""
    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    metrics = report_metrics(res)
    exp = res.meta["experiment"]
    lines = [f"# Campaign `{res.name}`", ""]
    n_reps = res.replications.groupby("scenario").size() if len(res.replications) else pd.Series(dtype=int)
    lines += [f"{len(res.scenarios)} scenarios, seed {exp['seed']}, {int(n_reps.sum()) if len(n_reps) else 0} "
              f"replications in all{'' if res.complete else ' (INCOMPLETE: the campaign did not finish)'}.", ""]
    plan = exp["replications"]
    if plan.get("target") is not None:
        met = {k: v for k, v in res.precision.items()}
        short = [k for k, v in met.items() if v.get("precise") is False]
        lines += [f"Replications were added until the 95% half-width of {', '.join(plan['metrics'])} was within "
                  f"{plan['target']:.1%} of the mean (between {plan['min']} and {plan['max']} replications)."
                  + (f" **{len(short)} scenario(s) reached the maximum without that precision: "
                     f"{', '.join(short)}.**" if short else " Every scenario met it."), ""]
    # scenario table: each metric as mean [interval]
    st = res.stats
    rows = []
    for _, s in res.scenarios.iterrows():
        row = {"scenario": s["scenario"], "label": s["label"], "n": int(n_reps.get(s["scenario"], 0))}
        for m in metrics:
            hit = st[(st["scenario"] == s["scenario"]) & (st["metric"] == m)]
            if len(hit):
                h = hit.iloc[0]
                row[m] = f"{_fmt(h['mean'])} [{_fmt(h['ci_low'])}, {_fmt(h['ci_high'])}]"
        rows.append(row)
    lines += ["## Metrics per scenario (mean [95% interval])", "", _md_table(pd.DataFrame(rows).fillna("–")), ""]
    for m in metrics:
        name = f"metric_{m}.png"
        if _metric_plot(plt, res, m, out / name):
            lines += [f"![{m}]({name})", ""]
    if not res.compare.empty:
        cmp = res.compare[res.compare["metric"].isin(metrics)]
        labels = res.scenarios.set_index("scenario")["label"]
        table = pd.DataFrame({
            "scenario": [labels.get(s, s) for s in cmp["scenario"]],
            "baseline": [labels.get(s, s) for s in cmp["baseline"]],
            "metric": cmp["metric"],
            "difference [95% interval]": [f"{_fmt(a)} [{_fmt(b)}, {_fmt(c)}]"
                                          for a, b, c in zip(cmp["mean_diff"], cmp["ci_low"], cmp["ci_high"])],
            "relative": [f"{x:+.1%}" if np.isfinite(x) else "–" for x in cmp["rel_diff"]],
            "p (Holm)": [_fmt(x) for x in cmp["p_holm"]],
        })
        lines += ["## Paired differences against the baseline", "",
                  f"Baseline: {exp['compare']['baseline']}. Replication r of a scenario is paired with "
                  "replication r of its baseline (common random numbers); p-values are two-sided paired "
                  "t-tests, Holm-adjusted across the compared scenarios for each metric.", "",
                  _md_table(table), ""]
        if _compare_plot(plt, res, metrics, out / "compare.png"):
            lines += ["![paired differences](compare.png)", ""]
    if not res.series.empty:
        lines += ["## Time series and warm-up", "",
                  f"Binned over {exp['series_bin'] / 3600:g} h. The warm-up estimate is MSER-5 on the mean "
                  "over replications of each bin.", ""]
        if not res.warmup.empty:
            w = res.warmup.pivot_table(index="scenario", columns="series", values="warmup_hours", aggfunc="first")
            lines += ["Warm-up (hours) per scenario and series:", "", _md_table(w.reset_index().round(2)), ""]
        if _welch_plot(plt, res, out / "welch.png"):
            lines += ["![Welch plots](welch.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
