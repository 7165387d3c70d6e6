"""Results of a run as pandas DataFrames, and statistics across replications (MODEL.md 9)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .engine.constants import (DIMENSIONS, ELASTIC_ACCUMULATORS, NODE_REASONS, OUTCOMES, RELEASE_REASONS, STATUSES,
                               TRIGGERS)
from .engine.summary import REP_METRICS
from .lifecycle import MODEL_COUNTS, MODEL_METRICS, model_metrics

PIPELINE_OUTCOMES = OUTCOMES

# Per-replication summary columns of the lifecycle (MODEL.md 7, all models together),
# from the per-model metrics' total row; ``model_`` marks the two averages over models.
LIFECYCLE_SUMMARY = {
    "mean_accuracy": "model_accuracy_mean",
    "frac_below": "model_frac_below",
    "deployments": "deployments",
    "rejected_evaluate": "rejected_evaluate",
    "rejected_bias_check": "rejected_bias_check",
    "rejected_robustness_check": "rejected_robustness_check",
    "submitted_on_drift": "submitted_on_drift",
    "submitted_periodic": "submitted_periodic",
    "crossing_to_deploy": "crossing_to_deploy_mean",
}

# The metrics the command line shows first, in this order.
HEADLINE_METRICS = (
    "response_mean",
    "response_p95",
    "wait_mean",
    "slowdown_mean",
    "throughput_per_hour",
    "queue_length_mean",
    "completed",
    "cost",
)

# The lifecycle metrics the command line shows (MODEL.md 7), when the run has a lifecycle.
LIFECYCLE_HEADLINE = (
    "model_accuracy_mean",
    "model_frac_below",
    "crossing_to_deploy_mean",
    "deployments",
    "rejected",
    "submitted_on_drift",
    "submitted_periodic",
)


@dataclass
class BatchOutput:
    """What the kernels return for one batch (see ``simulate.run_batch``)."""

    batch: object
    type_names: tuple
    replications: np.ndarray
    metrics: np.ndarray      # float64[R, N_REP_METRICS]
    type_waits: np.ndarray   # float64[R, n_types, 3]
    rep: np.ndarray          # float64[R, 4]: end, events, queue area, passes
    alloc: np.ndarray        # float64[R, Q, 3]
    records: dict | None
    models: list | None = None  # per replication: None, or (model_id int64[M], accumulators float64[M, A])
    # elastic clusters (MODEL.md 11): {"counts": float64[R, N_ELASTIC_ACCUMULATORS], "pool_seconds":
    # float64[R, Q, 2] (billed, up), "timelines": per replication (float64[rows, 3], int64[rows, 3])}
    elastic: dict | None = None
    # binned time series (MODEL.md 13): per replication, a dict of column -> float64[bins]
    series: list | None = None
    # GPUs as devices (MODEL.md 12): {"gpu": float64[R, 2] (integrals of free and fragmented GPUs),
    # "n_gpus": int, "timelines": per replication float64[rows, 3] or None, "parts": per replication
    # (n_parts int64[T], part_node int64[X], part_mask int64[X]) or None}
    devices: dict | None = None


def student_t_interval(values, confidence: float = 0.95):
    """Mean, standard deviation, n and the Student-t interval of the mean, ignoring NaN."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return np.nan, np.nan, 0, np.nan, np.nan
    mean = float(x.mean())
    if n == 1:
        return mean, np.nan, 1, np.nan, np.nan
    # scipy.special's Student-t quantile: the same number as scipy.stats.t.ppf,
    # without the second that importing scipy.stats costs at start-up
    from scipy.special import stdtrit

    std = float(x.std(ddof=1))
    half = float(stdtrit(n - 1, 0.5 + confidence / 2.0) * std / np.sqrt(n))
    return mean, std, n, mean - half, mean + half


def stats_frame(frame: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean, std and Student-t interval of every numeric column, one row per column."""
    rows = {}
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            continue
        mean, std, n, lo, hi = student_t_interval(frame[col].to_numpy(np.float64), confidence)
        rows[col] = {"mean": mean, "std": std, "n": n, "ci_low": lo, "ci_high": hi,
                     "half_width": (hi - lo) / 2.0 if n > 1 else np.nan}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "metric"
    out.attrs["confidence"] = confidence
    return out


class Results:
    """The outcome of :func:`fastpipesim.simulate`.

    Attributes
    ----------
    summary : DataFrame
        One row per replication: the metrics of MODEL.md 9.
    type_waits : DataFrame
        Task wait by replication and task type (count, mean, p95).
    tasks, pipelines : DataFrame
        Per-task and per-pipeline records; only with ``record_tasks=True``.
    config : RunConfig
    elapsed : float
        Wall-clock seconds of the run.
    """

    def __init__(self, parts, cluster, config, elapsed: float = 0.0):
        self._parts = parts
        self.cluster = cluster
        self.config = config
        self.elapsed = elapsed

    @property
    def replications(self) -> np.ndarray:
        return np.concatenate([p.replications for p in self._parts])

    @property
    def n_events(self) -> int:
        return int(sum(p.rep[:, 1].sum() for p in self._parts))

    @cached_property
    def summary(self) -> pd.DataFrame:
        cfg = self.config
        metrics = np.concatenate([p.metrics for p in self._parts])
        rep = np.concatenate([p.rep for p in self._parts])
        alloc = np.concatenate([p.alloc for p in self._parts])
        # float columns gathered into one block (one DataFrame construction), then
        # the counts as integers: a DataFrame built column by column costs ms
        names = list(REP_METRICS)
        metrics = metrics.copy()
        blocks = [metrics]
        span = rep[:, 0] - cfg.warmup
        nodes = self.cluster.nodes()
        elastic = self._elastic()
        with np.errstate(invalid="ignore", divide="ignore"):
            # the loop integrated the ready-queue length; the summary kernel left this column to us
            metrics[:, REP_METRICS.index("queue_length_mean")] = np.where(span > 0, rep[:, 2] / span, np.nan)
            for q, name in enumerate(self.cluster.pool_names):
                for d, dim in enumerate(DIMENSIONS):
                    if nodes.pool_capacity[q, d] > 0:
                        names.append(f"util_{name}_{dim}")
                        if elastic is None:
                            util = np.where(span > 0, alloc[:, q, d] / (nodes.pool_capacity[q, d] * span), np.nan)
                        else:
                            # MODEL.md 11.6: over the capacity of the nodes that were up
                            up = elastic["pool_seconds"][:, q, 1]
                            util = np.where(up > 0, alloc[:, q, d] / (nodes.pool_node_capacity[q, d] * up), np.nan)
                        blocks.append(util[:, None])
        names.append("cost")
        if elastic is None:
            # every node of the cluster is paid for over the window, busy or not
            blocks.append((self.cluster.price_per_hour * np.maximum(span, 0.0) / 3600.0)[:, None])
        else:
            blocks += self._elastic_blocks(elastic, span, names)
        waits = self._type_wait_array()
        for c, tname in enumerate(self._type_names()):
            if np.any(waits[:, c, 0] > 0):
                names.append(f"wait_mean_{tname}")
                blocks.append(waits[:, c, 1:2])
        lifecycle = self._model_blocks(span)
        if lifecycle is not None:
            totals = lifecycle[:, -1, :]
            for c, col in enumerate(MODEL_METRICS):
                names.append(LIFECYCLE_SUMMARY[col])
                blocks.append(totals[:, c:c + 1])
        if self._parts[0].devices is not None:
            # MODEL.md 12.9: time averages over [warmup, end], as % of the cluster's GPUs
            gpu = np.concatenate([p.devices["gpu"] for p in self._parts])
            n_gpus = float(self._parts[0].devices["n_gpus"])
            ok = (span > 0) & (n_gpus > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                names += ["gpu_unallocated_pct", "gpu_fragmented_pct", "gpu_frag_ratio"]
                if self._parts[0].elastic is not None:
                    # MODEL.md 12.12: % of the up nodes' GPUs, integrated over time
                    up = gpu[:, 2] > 0
                    blocks += [np.where(up, 100.0 * gpu[:, 0] / gpu[:, 2], np.nan)[:, None],
                               np.where(up, 100.0 * gpu[:, 1] / gpu[:, 2], np.nan)[:, None]]
                else:
                    blocks += [np.where(ok, 100.0 * (gpu[:, 0] / span) / n_gpus, np.nan)[:, None],
                               np.where(ok, 100.0 * (gpu[:, 1] / span) / n_gpus, np.nan)[:, None]]
                blocks.append(np.where((span > 0) & (gpu[:, 0] > 0), gpu[:, 1] / gpu[:, 0], np.nan)[:, None])
        names += ["end_time", "events"]
        blocks.append(rep[:, :2])
        df = pd.DataFrame(np.hstack(blocks), columns=names,
                          index=pd.Index(self.replications, name="replication"))
        ints = ["submitted", "completed", "unfinished", "rejected", "events"]
        if elastic is not None:
            ints += list(ELASTIC_ACCUMULATORS[:-1])
        if lifecycle is not None:
            ints += [LIFECYCLE_SUMMARY[c] for c in MODEL_COUNTS]
        for c in ints:
            df[c] = df[c].to_numpy().astype(np.int64)
        return df

    def _elastic(self):
        """The elastic outputs of every part joined, or None for a static cluster."""
        if self._parts[0].elastic is None:
            return None
        return {
            "counts": np.concatenate([p.elastic["counts"] for p in self._parts]),
            "pool_seconds": np.concatenate([p.elastic["pool_seconds"] for p in self._parts]),
            "timelines": [t for p in self._parts for t in p.elastic["timelines"]],
        }

    def _elastic_blocks(self, elastic, span, names) -> list:
        """MODEL.md 11.6's columns (cost first, its name already in ``names``)."""
        price = self.cluster.pools["price_per_hour"].to_numpy(np.float64)
        billed = elastic["pool_seconds"][:, :, 0]
        up = elastic["pool_seconds"][:, :, 1]
        cost = np.zeros(len(span))
        for q in range(len(price)):  # pool by pool, from 0.0, as MODEL.md 11.6 sums
            cost = cost + price[q] * billed[:, q] / 3600.0
        blocks = [cost[:, None]]
        for q, name in enumerate(self.cluster.pool_names):
            names.append(f"node_hours_{name}")
            blocks.append((billed[:, q] / 3600.0)[:, None])
        with np.errstate(invalid="ignore", divide="ignore"):
            for q, name in enumerate(self.cluster.pool_names):
                names.append(f"nodes_up_mean_{name}")
                blocks.append(np.where(span > 0, up[:, q] / span, np.nan)[:, None])
        counts = elastic["counts"].copy()
        counts[:, -1] /= 3600.0  # work lost, reference hours
        names += list(ELASTIC_ACCUMULATORS[:-1]) + ["work_lost_h"]
        blocks.append(counts)
        return blocks

    @cached_property
    def nodes(self) -> pd.DataFrame:
        """The node timeline of an elastic run (MODEL.md 11.6): one row per node instance, in
        order of request: replication, pool, slot, node, reason ('initial', 'scale_up',
        'replacement'), requested, up (NaN if still booting at the end), released (NaN if
        not released), release_reason ('scale_down', 'interrupted', or None). Empty for a
        static cluster."""
        cols = ["replication", "pool", "slot", "node", "reason", "requested", "up", "released", "release_reason"]
        elastic = self._elastic()
        if elastic is None:
            return pd.DataFrame(columns=cols)
        nodes = self.cluster.nodes()
        first = np.concatenate([[0], np.cumsum(nodes.pool_count)[:-1]])
        pool_names = np.asarray(self.cluster.pool_names, dtype=object)
        frames = []
        for replication, (times, codes) in zip(self.replications, elastic["timelines"]):
            node = codes[:, 0]
            q = nodes.node_pool[node]
            why = codes[:, 2]
            frames.append(pd.DataFrame({
                "replication": np.full(len(node), replication, dtype=np.int64),
                "pool": pool_names[q],
                "slot": node - first[q],
                "node": node,
                "reason": np.asarray(NODE_REASONS, dtype=object)[codes[:, 1]],
                "requested": times[:, 0],
                "up": times[:, 1],
                "released": times[:, 2],
                "release_reason": np.where(why >= 0, np.asarray(RELEASE_REASONS, dtype=object)[np.maximum(why, 0)],
                                           None),
            }))
        return pd.concat(frames, ignore_index=True)

    @cached_property
    def series(self) -> pd.DataFrame:
        """Binned time series (MODEL.md 13) of a run with ``series_bin``: one row per
        replication and bin: replication, bin, t_start, t_end, util_<pool>_<dim> (the
        allocated amount over the capacity of the pool's nodes that were up in the bin),
        queue_length (time average), arrivals, completed, model_accuracy_mean (with a
        lifecycle: time average of the mean over models of the deployed accuracy), and
        for an elastic cluster nodes_up_<pool> (time average of the nodes up)."""
        if any(p.series is None for p in self._parts):
            raise ValueError("this run kept no time series; run simulate(..., series_bin=SECONDS)")
        nodes = self.cluster.nodes()
        lifecycle = any(m is not None for m in self._model_list())
        elastic = self.cluster.is_elastic
        frames = []
        series = [s for p in self._parts for s in p.series]
        ends = np.concatenate([p.rep[:, 0] for p in self._parts])
        for replication, ser, end in zip(self.replications, series, ends):
            n = len(ser.queue)
            w = float(ser.width[0])
            k = np.arange(n)
            t_start = k * w
            t_end = np.minimum((k + 1) * w, end)
            t_end[-1] = end
            length = t_end - t_start
            cols = {"replication": np.full(n, replication, dtype=np.int64), "bin": k,
                    "t_start": t_start, "t_end": t_end}
            with np.errstate(invalid="ignore", divide="ignore"):
                for q, name in enumerate(self.cluster.pool_names):
                    for d, dim in enumerate(DIMENSIONS):
                        if nodes.pool_capacity[q, d] > 0:
                            cap = nodes.pool_node_capacity[q, d] * ser.up[:, q]
                            cols[f"util_{name}_{dim}"] = np.where(cap > 0, ser.alloc[:, q, d] / cap, np.nan)
                cols["queue_length"] = ser.queue / length
                cols["arrivals"] = ser.arrivals.astype(np.int64)
                cols["completed"] = ser.completed.astype(np.int64)
                if lifecycle:
                    cols["model_accuracy_mean"] = ser.accuracy / length
                if elastic:
                    for q, name in enumerate(self.cluster.pool_names):
                        cols[f"nodes_up_{name}"] = ser.up[:, q] / length
            frames.append(pd.DataFrame(cols))
        return pd.concat(frames, ignore_index=True)

    def _model_list(self):
        out = []
        for p in self._parts:
            out.extend(p.models if p.models is not None else [None] * len(p.replications))
        return out

    def _model_blocks(self, span):
        """float64[R, M + 1, 9] per-model metrics and the total row, or None without a lifecycle."""
        models = self._model_list()
        if all(m is None for m in models):
            return None
        n = max(len(m[0]) for m in models if m is not None)
        out = np.full((len(models), n + 1, len(MODEL_METRICS)), np.nan)
        for r, m in enumerate(models):
            if m is not None and len(m[0]) == n:
                out[r] = model_metrics(m[1], float(span[r]))
        return out

    @cached_property
    def models(self) -> pd.DataFrame:
        """Lifecycle metrics per replication and model (MODEL.md 7), over [warmup, end].

        Columns: replication, model_id, mean_accuracy (time average of the
        deployed accuracy), frac_below (fraction of the time below threshold),
        deployments, rejected_<gate> (pipelines rejected by each gate),
        submitted_on_drift, submitted_periodic (pipelines the rules submitted),
        crossing_to_deploy (mean seconds from a threshold crossing to the next
        deploy; crossings not followed by a deploy before the end are left out).
        Empty without a lifecycle.
        """
        rep = np.concatenate([p.rep for p in self._parts])
        span = rep[:, 0] - self.config.warmup
        frames = []
        for r, (replication, m) in enumerate(zip(self.replications, self._model_list())):
            if m is None:
                continue
            values = model_metrics(m[1], float(span[r]))[:-1]
            df = pd.DataFrame(values, columns=list(MODEL_METRICS))
            df.insert(0, "model_id", m[0])
            df.insert(0, "replication", replication)
            frames.append(df)
        if not frames:
            return pd.DataFrame(columns=["replication", "model_id", *MODEL_METRICS])
        out = pd.concat(frames, ignore_index=True)
        for c in MODEL_COUNTS:
            out[c] = out[c].astype(np.int64)
        return out

    def model_stats(self, confidence: float = 0.95) -> pd.DataFrame:
        """Mean, std and Student-t interval across replications of each model's metrics.

        One row per (model_id, metric).
        """
        frames = []
        for mid, group in self.models.groupby("model_id", sort=True):
            st = stats_frame(group.drop(columns=["replication", "model_id"]), confidence)
            st.insert(0, "model_id", mid)
            frames.append(st.reset_index())
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True).set_index(["model_id", "metric"])

    def _type_names(self):
        return self._parts[0].type_names

    def _type_wait_array(self):
        return np.concatenate([p.type_waits for p in self._parts])

    @cached_property
    def type_waits(self) -> pd.DataFrame:
        waits = self._type_wait_array()
        names = self._type_names()
        r, t = np.meshgrid(self.replications, np.arange(len(names)), indexing="ij")
        df = pd.DataFrame({
            "replication": r.ravel(),
            "type": np.asarray(names, dtype=object)[t.ravel()],
            "count": waits[:, :, 0].ravel().astype(np.int64),
            "wait_mean": waits[:, :, 1].ravel(),
            "wait_p95": waits[:, :, 2].ravel(),
        })
        return df[df["count"] > 0].reset_index(drop=True)

    def _recorded(self):
        if any(p.records is None for p in self._parts):
            raise ValueError("this run kept no per-task records; run simulate(..., record_tasks=True)")
        return self._parts

    @cached_property
    def tasks(self) -> pd.DataFrame:
        """One row per task: replication, pipeline_id, task, type, node, pool, ready, start, end, status."""
        frames = []
        pool_names = np.asarray(self.cluster.pool_names + [None], dtype=object)
        node_pool = self.cluster.nodes().node_pool
        for p in self._recorded():
            wa = p.batch.arrays
            rec = p.records
            rep_of_task = np.repeat(p.replications, np.diff(wa.rep_task_ptr))
            node = rec["node"]
            frames.append(pd.DataFrame({
                "replication": rep_of_task,
                "pipeline_id": wa.pipeline_id[wa.task_pipeline],
                "task": p.batch.task_names,
                "type": pd.Categorical.from_codes(wa.task_type, categories=list(p.batch.type_names)),
                "node": node,
                "pool": pool_names[np.where(node >= 0, node_pool[np.maximum(node, 0)], -1)],
                "ready": rec["ready"],
                "start": rec["start"],
                "end": rec["end"],
                "status": pd.Categorical.from_codes(rec["status"], categories=list(STATUSES)),
                **({"restarts": rec["restarts"]} if "restarts" in rec else {}),
            }))
        return pd.concat(frames, ignore_index=True)

    def _device_parts(self):
        if self._parts[0].devices is None:
            raise ValueError("this run did not place GPUs as devices; run simulate(..., devices=True) "
                             "(MODEL.md 12)")
        return self._recorded()

    @cached_property
    def devices(self) -> pd.DataFrame:
        """The devices each part used (MODEL.md 12.9), one row per part of every task that started:
        replication, pipeline_id, task, part, node, devices (the device indices on the node, ascending,
        joined by ","; "" for a part without GPU). A part restarted (MODEL.md 11.5) names its last start."""
        frames = []
        for p in self._device_parts():
            wa = p.batch.arrays
            rep_of_task = np.repeat(p.replications, np.diff(wa.rep_task_ptr))
            n_parts = np.concatenate([x[0] for x in p.devices["parts"]])
            node = np.concatenate([x[1] for x in p.devices["parts"]])
            mask = np.concatenate([x[2] for x in p.devices["parts"]])
            task = np.repeat(np.arange(wa.n_tasks), n_parts)
            first = np.repeat(np.cumsum(n_parts) - n_parts, n_parts)
            keep = node >= 0
            uniq, inv = np.unique(mask[keep], return_inverse=True)
            text = np.array([",".join(str(d) for d in range(63) if (int(m) >> d) & 1) for m in uniq], dtype=object)
            task = task[keep]
            frames.append(pd.DataFrame({
                "replication": rep_of_task[task],
                "pipeline_id": wa.pipeline_id[wa.task_pipeline[task]],
                "task": p.batch.task_names[task],
                "part": (np.flatnonzero(keep) - first[keep]).astype(np.int64),
                "node": node[keep],
                "devices": text[inv.reshape(-1)] if len(uniq) else np.zeros(0, dtype=object),
            }))
        return pd.concat(frames, ignore_index=True)

    @cached_property
    def gpu_timeline(self) -> pd.DataFrame:
        """Free (unallocated) and fragmented GPUs over time (MODEL.md 12.9): one row per replication and
        instant at which a scheduling pass runs, with the values after it: replication, time,
        unallocated_gpus, fragmented_gpus, frag_ratio (fragmented / unallocated; NaN when nothing is free)."""
        frames = []
        for p in self._device_parts():
            for replication, tl in zip(p.replications, p.devices["timelines"]):
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = np.where(tl[:, 1] > 0, tl[:, 2] / tl[:, 1], np.nan)
                frames.append(pd.DataFrame({"replication": np.full(len(tl), replication, dtype=np.int64),
                                            "time": tl[:, 0], "unallocated_gpus": tl[:, 1],
                                            "fragmented_gpus": tl[:, 2], "frag_ratio": ratio}))
        return pd.concat(frames, ignore_index=True)

    @cached_property
    def pipelines(self) -> pd.DataFrame:
        """One row per pipeline: replication, pipeline_id, model_id, priority, submit_time, end,
        response, n_tasks, outcome and triggered_by.

        outcome: ``completed``; ``unfinished`` (submitted, not finished by the end
        of the run); ``not_submitted`` (its submit time is after the horizon);
        ``rejected_by_evaluate`` / ``_bias_check`` / ``_robustness_check`` (MODEL.md 7:
        a gate rejected it; its tasks that had not started are ``cancelled``; its
        ``end`` is when its last running task ended, and it has no response time).
        triggered_by: ``exogenous`` (the workload's), ``on_drift`` or ``periodic``
        (submitted by an automation rule during the run). Then the candidate
        outcomes the pipeline carried (NaN: none), as drawn, before compress."""
        frames = []
        for p in self._recorded():
            wa = p.batch.arrays
            end = p.records["pipeline_end"]
            outcome = p.records["outcome"]
            frames.append(pd.DataFrame({
                "replication": np.repeat(p.replications, np.diff(wa.rep_pipeline_ptr)),
                "pipeline_id": wa.pipeline_id,
                "model_id": wa.model,
                "priority": wa.priority,
                "submit_time": wa.submit,
                "end": end,
                "response": np.where(outcome == 0, end - wa.submit, np.nan),
                "n_tasks": np.diff(wa.task_ptr),
                "outcome": pd.Categorical.from_codes(outcome, categories=list(PIPELINE_OUTCOMES)),
                "triggered_by": pd.Categorical.from_codes(p.records["trigger"], categories=list(TRIGGERS)),
                "candidate_accuracy": wa.cand_accuracy,
                "candidate_robustness": wa.cand_robustness,
                "candidate_fairness": wa.cand_fairness,
                "compress_loss": wa.compress_loss,
            }))
        return pd.concat(frames, ignore_index=True)

    def stats(self, confidence: float = 0.95) -> pd.DataFrame:
        """Mean, std and Student-t interval across replications of every summary metric."""
        return stats_frame(self.summary, confidence)

    def compare(self, baseline: "Results", confidence: float = 0.95) -> pd.DataFrame:
        """Paired differences (self - baseline) per metric over the replications both ran.

        Runs with the same seed and replication numbers see the same exogenous
        workload (common random numbers), so the paired interval is much
        narrower than the difference of two independent intervals.
        """
        a = self.summary
        b = baseline.summary
        common = a.index.intersection(b.index)
        if len(common) < 2:
            raise ValueError("paired comparison needs at least 2 replications run by both")
        cols = [c for c in a.columns if c in b.columns and pd.api.types.is_numeric_dtype(a[c])]
        diff = a.loc[common, cols] - b.loc[common, cols]
        return stats_frame(diff, confidence)

    def __repr__(self) -> str:
        cfg = self.config
        return (f"Results({len(self.replications)} replications, policy={cfg.policy_name}, "
                f"placement={cfg.placement}, backfill={cfg.backfill}, {self.elapsed:.2f}s)")
