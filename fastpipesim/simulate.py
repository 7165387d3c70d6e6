"""``simulate``: run a workload on a cluster under a policy, in batches of replications."""
from __future__ import annotations

import math
import os
import sys
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .cluster import Cluster, default_cluster
from .engine import engine_is_compiled
from .engine.constants import (FIT_TOL, HOURS_PER_WEEK, N_ELASTIC_ACCUMULATORS, N_MODEL_ACCUMULATORS,
                               NODE_CODE_COLUMNS, NODE_TIME_COLUMNS, PLACEMENTS, RUN_NEED_NODE_ROWS,
                               RUN_NEED_TIMELINE_ROWS, RUN_OK, TIES)
from .engine.constants import (PLACEMENT_BEST_FIT, PLACEMENT_FIRST_FIT, PLACEMENT_WORST_FIT, POLICY_FIFO,
                               POLICY_PRIORITY, POLICY_SJF, POLICY_SRPT)
from .engine.elastic import ElasticArrays
from .engine.jobs import one_task_jobs_nb, run_jobs_nb
from .engine.loop import run_replication_nb
from .engine.series import SeriesArrays
from .engine.summary import N_REP_METRICS, summarize_replication_nb
from .lifecycle import (Gates, check_rules, initial_counts, lifecycle_arrays, make_room, more_copies, no_lifecycle,
                        no_rules, rule_arrays, pipeline_rows, replication_batch, resolve_gates, stale_deploys,
                        trim)
from .policies import CustomPolicy, placement_code, policy_code
from .results import BatchOutput, Results
from .trace import Trace, check_fits
from .workload import Batch, RequestShapes, group_requests


@dataclass(frozen=True)
class RunConfig:
    """Everything but the workload and the cluster that decides a run's results."""

    policy: object = "fifo"
    placement: str = "first_fit"
    backfill: bool = True
    horizon: float | None = None
    warmup: float = 0.0
    seed: int = 0
    replications: tuple = field(default=(0,))
    lifecycle: bool = True
    gates: Gates = field(default_factory=Gates)
    max_triggered: int = 1_000_000
    autoscaler: object = None   # a fastpipesim.autoscalers object (None: static)
    series_bin: float | None = None   # MODEL.md 13: bin width of the time series, seconds
    ties: str = "index"   # MODEL.md 12.5: "index" or "random"
    target: object = field(default=None, compare=False)   # MODEL.md 12.7: a DataFrame (cpu, gpu, p, gpu_spec)
    devices: bool = False   # run on devices (MODEL.md 12), resolved by simulate

    @property
    def policy_name(self) -> str:
        return self.policy.name if isinstance(self.policy, CustomPolicy) else str(self.policy)


def shapes_fit(task_shape: np.ndarray, shape_req: np.ndarray, cluster: Cluster) -> bool:
    """Whether every task's request shape fits on some node of some pool (MODEL.md 2, 4.3)."""
    nodes = cluster.nodes()
    pool_cap = nodes.pool_node_capacity[nodes.pool_count > 0]
    fits = (pool_cap[None, :, :] >= shape_req[:, None, :] - FIT_TOL).all(axis=2).any(axis=1)
    if fits.all():
        return True
    return bool(fits[task_shape].all())  # (a shape no task uses may be any size)


def request_shapes(batch: Batch, cluster: Cluster):
    """Distinct requests of a batch, and the check that each fits some node.

    Returns ``task_shape : int64[T]`` and ``shape_req : float64[S, 3]``. Raises
    :class:`InputError` naming the tasks whose request fits on no node of any
    pool (MODEL.md 2: such a task would never run).
    """
    task_shape, shape_req = group_requests(batch)
    if not shapes_fit(task_shape, shape_req, cluster):
        check_fits(batch, cluster)  # raises, naming the tasks
    return task_shape, np.ascontiguousarray(shape_req)


def run_batch(batch: Batch, cluster: Cluster, cfg: RunConfig, *, record_tasks: bool = True,
              executor: ThreadPoolExecutor | None = None) -> BatchOutput:
    """Run one batch through the compiled kernels and reduce it to summaries.

    Each replication is one call of the event loop and one of the summary
    kernel; both release the GIL, so ``executor`` runs replications in parallel.
    A replication whose models have automation rules goes through
    :func:`_run_with_rules` (the batch must then hold that one replication).
    """
    tables = _model_tables(batch, cfg)
    if not cfg.devices:
        _check_pooled(batch)
    if _has_rules(batch, cfg):
        if batch.n_replications != 1:
            raise ValueError("a batch whose models have automation rules runs one replication at a time")
        return _run_with_rules(batch, tables[0], cluster, cfg, record_tasks)
    wa = batch.arrays
    task_shape, shape_req = request_shapes(batch, cluster)
    dev = None
    if cfg.devices:
        dev = _DeviceRunner(cluster, cfg, batch)
        task_shape, shape_req = dev.set_shapes(*dev.shapes(batch, task_shape, shape_req))
    n_p, n_r = wa.n_pipelines, wa.n_replications
    rows = None   # each pipeline's model row, made only for a batch with models (8 bytes a pipeline)
    for k, t in enumerate(tables):
        if t is not None:
            if rows is None:
                rows = np.full(n_p, -1, dtype=np.int64)
            p0, p1 = wa.rep_pipeline_ptr[k], wa.rep_pipeline_ptr[k + 1]
            rows[p0:p1] = pipeline_rows(t, wa.model[p0:p1])
    # no models: no lifecycle arrays, and the loop is compiled without the lifecycle's code
    lcs = [None if t is None or t.n_models == 0 else lifecycle_arrays(t, cfg.gates, rows) for t in tables]
    out = _Outputs(batch, cluster, tables, dev, record_tasks)

    def one(k):
        out.run(k, task_shape, shape_req, cfg, lcs[k])

    if executor is None:
        for k in range(n_r):
            one(k)
    else:
        # larger replications first, so that no thread is left with a big one at the end
        order = np.argsort(-np.diff(wa.rep_task_ptr), kind="stable")
        for f in [executor.submit(one, k) for k in order]:
            f.result()
    return out.result(batch, record_tasks)


def _check_pooled(batch: Batch) -> None:
    """A run that pools GPUs (devices=False) must not get a batch that needs devices (a generator's)."""
    from .devices import device_reasons

    why = device_reasons(batch.arrays.gpu, batch.gpu_spec, batch.replicas)
    if why:
        raise ValueError(f"the workload has {', '.join(why)}: it needs GPUs as devices (MODEL.md 12); "
                         "run it with devices=True or devices=None")


def _device_cluster(cluster: Cluster):
    """The cluster's device arrays (MODEL.md 12.1), built once per Cluster."""
    from .devices import device_cluster

    got = cluster.__dict__.get("_device_cluster")
    if got is None:
        got = cluster.__dict__["_device_cluster"] = device_cluster(cluster)
    return got


# Most entries (cache rows x nodes) of the loop's score cache on devices (devices.choose_node_cached_nb).
DEVICE_CACHE_ENTRIES = 2_000_000


class _DeviceRunner:
    """What the runs of a batch on devices share (MODEL.md 12): the cluster's devices, the GPU-model
    specs, the refined request shapes, the target workload; :meth:`run_arrays` builds a replication's
    ``DeviceRun``."""

    def __init__(self, cluster: Cluster, cfg: RunConfig, batch: Batch, extra_specs=()):
        from .devices import check_batch_requests, spec_codes, target_arrays

        self.dc = _device_cluster(cluster)
        self.cfg = cfg
        self.batch = batch
        self.req = check_batch_requests(batch, self.dc)
        texts = list(self.req.spec) + list(extra_specs)
        fixed = None
        if cfg.target is not None:
            fixed = target_arrays(cfg.target, self.dc.models)
            texts += list(fixed[3])
        self.code, self.spec_ok = spec_codes(texts, self.dc.models)
        self.target = None if fixed is None else self._targets(*fixed)
        self.norm = np.array([self.dc.s_cpu, self.dc.s_gpu])
        self.timeline_rows = None   # set when a run needed more rows than the bound gave

    def _targets(self, cpu, share, count, spec, p):
        from .engine.devices import Targets

        return Targets(cpu=np.ascontiguousarray(cpu, np.float64), share=np.ascontiguousarray(share, np.float64),
                       count=np.ascontiguousarray(count, np.int64),
                       spec=np.array([self.code[s] for s in spec], dtype=np.int64),
                       p=np.ascontiguousarray(p, np.float64))

    def shapes(self, batch: Batch, task_shape, shape_req):
        """(task_shape, float64[S, 5]) refined by spec and replicas (devices.device_shapes)."""
        from .devices import batch_requests, device_shapes

        req = batch_requests(batch)
        return device_shapes(task_shape, shape_req, req.spec, req.replicas, self.code)

    def set_shapes(self, task_shape, table):
        """Keep the shapes' specs and replicas; returns (task_shape, shape_req float64[S, 3])."""
        self.shape_spec = np.ascontiguousarray(table[:, 3], dtype=np.int64)
        self.shape_reps = np.ascontiguousarray(table[:, 4], dtype=np.int64)
        return task_shape, np.ascontiguousarray(table[:, :3])

    def run_arrays(self, wa, k: int, task_shape, has_rules: bool, record: bool):
        from .devices import Requests, placement_rng, target_arrays, target_workload
        from .engine.devices import DeviceRun, new_state

        cfg = self.cfg
        t0, t1 = int(wa.rep_task_ptr[k]), int(wa.rep_task_ptr[k + 1])
        p0, p1 = int(wa.rep_pipeline_ptr[k]), int(wa.rep_pipeline_ptr[k + 1])
        n_t, n_p = t1 - t0, p1 - p0
        pid = wa.pipeline_id[p0:p1]
        p_real = n_p - int(np.argmax(pid[::-1] >= 0)) if n_p and (pid >= 0).any() else 0
        t_real = int(wa.task_ptr[p0 + p_real]) - t0 if n_p else 0
        reps = self.shape_reps[task_shape[t0:t0 + t_real]]
        max_reps = int(self.shape_reps.max(initial=1))
        n_slots = int(reps.sum()) + (n_t - t_real) * max_reps
        replication = int(self.batch.replications[k])
        u = placement_rng(cfg.seed, replication).random((max(n_slots, 1), 2))
        tg = self.target
        if tg is None:
            # MODEL.md 12.7: the replication's own tasks (the copies the rules submit are not counted)
            r = self.req
            a, b = t0, t0 + t_real
            if has_rules:
                a, b = 0, len(r.cpu)   # (the batch of a run with rules is its one replication, unpadded)
            table = target_workload(Requests(cpu=r.cpu[a:b], gpu=r.gpu[a:b], mem=r.mem[a:b], spec=r.spec[a:b],
                                             replicas=r.replicas[a:b]))
            tg = self._targets(*target_arrays(table, self.dc.models))
        st, sc = new_state(self.dc.cap, self.dc.n_dev, self.dc.node_model, self.spec_ok, self.norm, max_reps)
        n_nodes = len(self.dc.n_dev)
        rows = max(1, min(len(self.shape_reps), DEVICE_CACHE_ENTRIES // max(n_nodes, 1)))
        n_rows = 0
        if record:
            n_rows = self.timeline_rows or (n_p + n_t + 2 + self._trigger_instants(k, n_t))
        return DeviceRun(
            st=st, sc=sc, tg=tg, ties=np.array([TIES.index(cfg.ties)], dtype=np.int64),
            shape_spec=self.shape_spec, shape_reps=self.shape_reps, u=u,
            slot_ptr=np.zeros(n_t + 1, dtype=np.int64), part_node=np.empty(len(u), dtype=np.int64),
            part_mask=np.empty(len(u), dtype=np.int64),
            cache_score=np.zeros((rows, n_nodes)), cache_dev=np.zeros((rows, n_nodes), dtype=np.int64),
            cache_ver=np.zeros((rows, n_nodes), dtype=np.int64), cache_owner=np.zeros(rows, dtype=np.int64),
            timeline=np.zeros((n_rows, 3)), tl_rows=np.zeros(1, dtype=np.int64), out_gpu=np.zeros(3))

    def _trigger_instants(self, k: int, n_t: int) -> int:
        """A bound on the instants that only the automation rules make (periodic times, drift crossings)."""
        models = self.batch.models
        table = None if models is None or not self.cfg.lifecycle else models[min(k, len(models) - 1)]
        if table is None or not table.has_rules:
            return 0
        horizon = float(self.cfg.horizon)
        per = table.period > 0
        count = np.floor((horizon - np.minimum(table.phase[per], horizon)) / table.period[per]) + 2
        return int(count.sum()) + 2 * table.n_models + n_t   # (a crossing follows each deploy)


def _model_tables(batch: Batch, cfg: RunConfig) -> list:
    """Each replication's ModelTable, or None (no lifecycle, or switched off)."""
    if not cfg.lifecycle or batch.models is None:
        return [None] * batch.n_replications
    return list(batch.models)


class _Outputs:
    """The output arrays of a batch, filled replication by replication."""

    def __init__(self, batch: Batch, cluster: Cluster, tables, dev=None, record: bool = True):
        wa = batch.arrays
        n_t, n_p, n_r = wa.n_tasks, wa.n_pipelines, wa.n_replications
        self.nodes = cluster.nodes()
        self.n_pools = len(cluster.pools)
        self.n_types = len(batch.type_names)
        self.wa = wa
        self.ready, self.start, self.end = np.empty(n_t), np.empty(n_t), np.empty(n_t)
        self.node, self.status = np.empty(n_t, np.int64), np.empty(n_t, np.int64)
        self.pipeline_end = np.empty(n_p)
        self.outcome, self.trigger, self.source = (np.empty(n_p, np.int64) for _ in range(3))
        self.rep, self.alloc = np.zeros((n_r, 4)), np.zeros((n_r, self.n_pools, 3))
        self.ext = np.zeros((n_r, 4), dtype=np.int64)
        self.metrics = np.empty((n_r, N_REP_METRICS))
        self.type_waits = np.empty((n_r, self.n_types, 3))
        self.scratch = np.empty(n_p)
        self.tables = tables
        self.model_acc = [np.zeros((0 if t is None else t.n_models, N_MODEL_ACCUMULATORS)) for t in tables]
        self.cluster = cluster
        self.series = [None] * n_r   # MODEL.md 13: each replication's SeriesArrays, when kept
        self.elastic = None
        if cluster.is_elastic:
            # MODEL.md 11: per replication, the counters, billed and up seconds, the node timeline
            self.elastic = _ElasticOutputs(batch, cluster, n_t, n_r, self.n_pools)
        self.dev = dev   # MODEL.md 12: the run places on devices
        self.record = record
        self.gpu = np.zeros((n_r, 3))   # time integrals of free, fragmented and (elastic) up nodes' GPUs
        self.parts = [None] * n_r   # per replication: (slot_ptr, part_node, part_mask)
        self.timelines = [None] * n_r

    def trim(self, batch: Batch, p_used: int, t_used: int):
        """Keep the outputs of the pipelines and tasks that exist (a run with slots, one replication)."""
        self.wa = batch.arrays
        for name in ("ready", "start", "end", "node", "status"):
            setattr(self, name, getattr(self, name)[:t_used].copy())
        for name in ("pipeline_end", "outcome", "trigger", "source", "scratch"):
            setattr(self, name, getattr(self, name)[:p_used].copy())
        if self.elastic is not None:
            self.elastic.restarts = self.elastic.restarts[:t_used].copy()

    def run(self, k, task_shape, shape_req, cfg, lc, summarize=True, rules=None):
        nodes = self.nodes
        # None for a built-in policy, and no rules unless some model has one: the loop
        # is then compiled without the code of the custom key or of the rules
        keyfn = cfg.policy.cfunc if isinstance(cfg.policy, CustomPolicy) else None
        horizon = np.inf if cfg.horizon is None else float(cfg.horizon)
        args = (
            self.wa, k, task_shape, shape_req, nodes.capacity, nodes.node_pool, nodes.speed, self.n_pools,
            policy_code(cfg.policy), placement_code(cfg.placement), bool(cfg.backfill), horizon,
            float(cfg.warmup), keyfn, lc,
            self.ready, self.start, self.end, self.node, self.status, self.pipeline_end,
            self.outcome, self.trigger, self.source, self.rep, self.alloc, self.model_acc[k], self.ext, rules,
        )
        series = None
        if cfg.series_bin is not None:
            series = self.series[k] = series_arrays(cfg.series_bin, horizon, self.n_pools)
        if self.elastic is not None or series is not None or self.dev is not None:
            # Elastic runs and runs that keep series pass every optional argument the loop can
            # take without changing the results (an empty lifecycle, an empty reserve of the
            # rules, placeholder functions, series kept for no one): Numba then compiles one
            # variant of the loop for each (a minute of compile), not one per combination.
            from .engine.loop import no_custom_key

            args = list(args)
            args[13] = no_custom_key if keyfn is None else keyfn
            # (writable arrays: Numba types a read-only array, as a trace's are, apart)
            args[14] = (no_lifecycle(self.wa.n_pipelines) if lc is None
                        else type(lc)(*(a if a.flags.writeable else a.copy() for a in lc)))
            if rules is None:
                args[28] = no_rules(len(args[14].model_id))
            args = tuple(args)
        if self.dev is not None:
            # one compiled variant for every device run: every optional argument but the elastic ones
            from .engine.elastic import no_custom_autoscaler

            el, scalefn = None, no_custom_autoscaler
            if self.elastic is not None:
                # MODEL.md 12.12: devices on an elastic cluster
                scalefn, spot, rows = self.elastic.setup(k, cfg, horizon)
            while True:
                dv = self.dev.run_arrays(self.wa, k, task_shape, rules is not None, self.record)
                if self.elastic is not None:
                    el = self.elastic.arrays(k, cfg, horizon, rows, spot)
                if series is not None:
                    for a in series[1:]:
                        a[...] = 0.0
                self.alloc[k] = 0.0
                run_replication_nb(*args, el, scalefn,
                                   series if series is not None else _no_series(self.n_pools), dv)
                if self.ext[k, 0] == RUN_NEED_TIMELINE_ROWS:
                    self.dev.timeline_rows = 2 * int(dv.tl_rows[0])
                elif self.ext[k, 0] == RUN_NEED_NODE_ROWS:
                    rows = 4 * int(el.node_rows[0])
                else:
                    break
            if self.elastic is not None:
                self.elastic.keep(k, el)
            self.gpu[k] = dv.out_gpu
            self.parts[k] = (dv.slot_ptr, dv.part_node, dv.part_mask)
            if self.record:
                self.timelines[k] = dv.timeline[:int(dv.tl_rows[0])].copy()
        elif self.elastic is not None:
            self.elastic.run(k, args, cfg, horizon, series if series is not None else _no_series(self.n_pools))
        elif series is not None:
            from .engine.elastic import no_custom_autoscaler

            run_replication_nb(*args, None, no_custom_autoscaler, series)
        elif not (lean_eligible(self.wa, k, args) and self._run_jobs(k, args)):
            # a static cluster and no series: the loop compiled without MODEL.md 11 and 13
            run_replication_nb(*args)
        if summarize:
            self.summarize(k, cfg)

    def _run_jobs(self, k, args) -> bool:
        """Replication k's jobs (one-task pipelines) through the lean loop (engine/jobs.py): the same
        outputs as the general loop. False if it gave up (see run_jobs_nb), its outputs to be rewritten."""
        # (the general loop's arguments but the key function, lifecycle, model rows and rules)
        if run_jobs_nb(*args[:13], *args[15:26], args[27]):
            return True
        self.alloc[k] = 0.0
        return False

    def summarize(self, k, cfg):
        horizon = np.inf if cfg.horizon is None else float(cfg.horizon)
        summarize_replication_nb(self.wa, k, self.start, self.ready, self.pipeline_end, self.outcome,
                                 self.rep[:, 0], float(cfg.warmup), horizon, self.n_types,
                                 self.scratch, self.metrics, self.type_waits)

    def result(self, batch, record_tasks):
        records = None
        if record_tasks:
            records = dict(ready=self.ready, start=self.start, end=self.end, node=self.node, status=self.status,
                           pipeline_end=self.pipeline_end, outcome=self.outcome, trigger=self.trigger)
        models = [None if t is None else (t.model_id, acc) for t, acc in zip(self.tables, self.model_acc)]
        if record_tasks and self.elastic is not None:
            records["restarts"] = self.elastic.restarts
        devices = None
        if self.dev is not None:
            parts = []
            wa = self.wa
            for k, (slot_ptr, node, mask) in enumerate(self.parts):
                n_t = int(wa.rep_task_ptr[k + 1] - wa.rep_task_ptr[k])
                n_s = int(slot_ptr[n_t])
                parts.append((np.diff(slot_ptr[:n_t + 1]), node[:n_s].copy(), mask[:n_s].copy()))
            devices = {"gpu": self.gpu, "n_gpus": self.dev.dc.n_gpus, "timelines": self.timelines,
                       "parts": parts if record_tasks else None}
        return BatchOutput(
            batch=batch if record_tasks else None,
            type_names=batch.type_names,
            replications=batch.replications,
            metrics=self.metrics,
            type_waits=self.type_waits,
            rep=self.rep,
            alloc=self.alloc,
            records=records,
            models=models,
            elastic=None if self.elastic is None else self.elastic.output(),
            series=None if self.series[0] is None else self.series,
            devices=devices,
        )


# The lean loop (engine/jobs.py) runs the replications it simulates exactly as the general
# loop would; False sends every replication to the general loop (the tests compare the two).
LEAN_LOOP = True
#: The lean loop looks for a node by scanning every node (it keeps no log of the nodes
#: freed since a shape last fitted nowhere, as the general loop does): on a large
#: cluster under load that costs O(nodes) an event, and the general loop is faster
#: (250,000 jobs of 6 shapes on 1,000 nodes at load 2: 0.24 against 1.9 M events/s).
LEAN_MAX_NODES = 64
_LEAN_POLICIES = (POLICY_FIFO, POLICY_PRIORITY, POLICY_SJF, POLICY_SRPT)
_LEAN_PLACEMENTS = (PLACEMENT_FIRST_FIT, PLACEMENT_BEST_FIT, PLACEMENT_WORST_FIT)


def lean_eligible(wa, k: int, args: tuple) -> bool:
    """Does replication k go to the lean loop? ``args`` are the general loop's first arguments.

    The caller has already excluded elastic clusters, devices and series. What is left
    to check: at most ``LEAN_MAX_NODES`` nodes, a built-in policy the lean loop keys (fifo,
    priority, sjf, srpt), a pooled placement, no custom key function, no lifecycle arrays (no models, or the lifecycle
    off), no rules' reserve, and every pipeline of the replication one task with no edge.
    """
    policy, placement, keyfn, lc, rules = args[8], args[9], args[13], args[14], args[28]
    if not LEAN_LOOP or keyfn is not None or lc is not None or rules is not None:
        return False
    if args[4].shape[0] > LEAN_MAX_NODES:
        return False
    if policy not in _LEAN_POLICIES or placement not in _LEAN_PLACEMENTS:
        return False
    if wa.n_tasks != wa.n_pipelines or len(wa.succ) != 0:
        return False
    return bool(one_task_jobs_nb(wa, k))


def _no_series(n_pools: int) -> SeriesArrays:
    """Series kept for no one (see _Outputs.run): one bin, and no accuracy integral to pay for."""
    return SeriesArrays(width=np.array([np.inf]), alloc=np.zeros((1, n_pools, 3)), up=np.zeros((1, n_pools)),
                        queue=np.zeros(1), arrivals=np.zeros(1), completed=np.zeros(1), accuracy=np.zeros(0))


def series_bins(width: float, end: float) -> int:
    """How many bins of width w cover [0, end] (MODEL.md 13): the smallest K >= 1 with K w >= end."""
    n = max(1, int(math.ceil(end / width)))
    while n * width < end:
        n += 1
    while n > 1 and (n - 1) * width >= end:
        n -= 1
    return n


def series_arrays(width: float, horizon: float, n_pools: int) -> SeriesArrays:
    """Zeroed series of a replication that ends at ``horizon``."""
    n = series_bins(width, horizon)
    return SeriesArrays(width=np.array([width]), alloc=np.zeros((n, n_pools, 3)), up=np.zeros((n, n_pools)),
                        queue=np.zeros(n), arrivals=np.zeros(n), completed=np.zeros(n), accuracy=np.zeros(n))


class _ElasticOutputs:
    """What the loop writes of an elastic cluster (MODEL.md 11), for the replications of a batch."""

    def __init__(self, batch: Batch, cluster: Cluster, n_t: int, n_r: int, n_pools: int):
        pools = cluster.elastic_pools()
        self.batch = batch
        self.cluster = cluster
        self.pools = pools
        self.restarts = np.zeros(n_t, np.int64)
        self.counts = np.zeros((n_r, N_ELASTIC_ACCUMULATORS))
        self.pool_seconds = np.zeros((n_r, n_pools, 2))
        self.timelines = [None] * n_r
        self.checkpoint = np.zeros(n_t)
        given = batch.checkpoint_every
        if given is not None:
            # (a run with automation rules: the real tasks first, then the copies, which have none)
            self.checkpoint[:len(given)] = given[:n_t]
        self.res_checkpoint = np.zeros(0)  # the rules' reserve's, set by _run_with_rules
        self.n_slots = int(pools["max_count"].sum())
        self.spot = bool(pools["spot"].any())

    def arrays(self, k: int, cfg, horizon: float, rows: int, spot) -> ElasticArrays:
        from .autoscalers import autoscaler_from

        pools = self.pools
        scaler = autoscaler_from(cfg.autoscaler)
        n_q = len(pools)
        schedule = (scaler.counts_by_hour(self.cluster.pool_names) if scaler.kind == "schedule"
                    else np.zeros((n_q, HOURS_PER_WEEK), np.int64))
        return ElasticArrays(
            pool_count=pools["count"].to_numpy(np.int64),
            pool_min=pools["min_count"].to_numpy(np.int64),
            pool_max=pools["max_count"].to_numpy(np.int64),
            pool_boot=pools["boot_time"].to_numpy(np.float64),
            pool_billing_minimum=pools["billing_minimum"].to_numpy(np.float64),
            pool_price=pools["price_per_hour"].to_numpy(np.float64),
            kind=np.array([scaler.code], np.int64),
            params=scaler.kernel_parameters(),
            schedule=np.ascontiguousarray(schedule),
            spot_ptr=spot.ptr,
            spot_times=spot.times,
            checkpoint=self.checkpoint,
            res_checkpoint=self.res_checkpoint,
            restarts=self.restarts,
            node_time=np.empty((rows, len(NODE_TIME_COLUMNS))),
            node_code=np.empty((rows, len(NODE_CODE_COLUMNS)), np.int64),
            node_rows=np.zeros(1, np.int64),
            out_counts=np.zeros(N_ELASTIC_ACCUMULATORS),
            out_pool=np.zeros((n_q, 2)),
        )

    def setup(self, k: int, cfg, horizon: float):
        """(custom autoscaler function, spot times, node timeline rows) of replication k."""
        from .autoscalers import autoscaler_from
        from .engine.elastic import no_custom_autoscaler
        from .spot import cluster_spot_times

        scaler = autoscaler_from(cfg.autoscaler)
        scalefn = scaler.compiled() if scaler.kind == "custom" else no_custom_autoscaler
        replication = int(self.batch.replications[k])
        spot = cluster_spot_times(self.cluster, cfg.seed, replication, horizon)
        return scalefn, spot, 4 * self.n_slots + len(spot.times) + 64

    def keep(self, k: int, el: ElasticArrays) -> None:
        """Keep replication k's counters, billed and up seconds and node timeline."""
        n = int(el.node_rows[0])
        self.counts[k] = el.out_counts
        self.pool_seconds[k] = el.out_pool
        self.timelines[k] = (el.node_time[:n].copy(), el.node_code[:n].copy())

    def run(self, k: int, args: tuple, cfg, horizon: float, series) -> None:
        """Run replication k; again with a longer node timeline while it runs out of rows."""
        scalefn, spot, rows = self.setup(k, cfg, horizon)
        alloc, ext = args[25], args[27]
        while True:
            el = self.arrays(k, cfg, horizon, rows, spot)
            alloc[k] = 0.0
            for a in series[1:]:
                a[...] = 0.0
            run_replication_nb(*args, el, scalefn, series)
            if ext[k, 0] != RUN_NEED_NODE_ROWS:
                break
            rows = 4 * int(el.node_rows[0])
        self.keep(k, el)

    def output(self) -> dict:
        return {"counts": self.counts, "pool_seconds": self.pool_seconds, "timelines": self.timelines}


def _run_with_rules(batch: Batch, table, cluster: Cluster, cfg: RunConfig, record_tasks: bool) -> BatchOutput:
    """One replication whose models submit pipelines during the run (MODEL.md 7).

    The loop copies each submitted pipeline into a slot; the slots are the
    reserve drawn before the run. When a model needs more copies than were
    drawn, draw more (``lifecycle.more_copies``) and run again (the run is
    deterministic, so the result is that of one run with an unlimited reserve).
    The first guess (``lifecycle.initial_counts``) looks at the workload's own
    deploys that would leave a model stale; a source with ``for_run`` (a
    generator's) gives a reserve whose robustness and fairness candidates are
    stand-ins, replaced by the values for the copies the run submitted when
    records are kept.
    """
    task_shape, shape_req = request_shapes(batch, cluster)
    dev = None
    if cfg.devices:
        # shapes refined by spec and replicas: (cpu, gpu, mem, spec, replicas), merged with the reserve's
        dev = _DeviceRunner(cluster, cfg, batch)
        task_shape, shape_req = dev.shapes(batch, task_shape, shape_req)
    horizon = float(cfg.horizon)
    rows_real = pipeline_rows(table, batch.arrays.model)
    counts = initial_counts(table, horizon, stale_deploys(batch, table, cfg.gates, rows_real))
    source = batch.triggered[0] if batch.triggered is not None else None
    if source is None:
        raise ValueError("the workload's models have automation rules but the workload cannot make "
                         "the pipelines they submit (no template)")
    replication = int(batch.replications[0])
    # a generator's source can leave out what only the copies a run submits need (for_run)
    for_run = getattr(source, "for_run", None)
    exact = None
    while True:
        if for_run is not None:
            reserve, exact = for_run(counts, cfg.gates.array())
        else:
            reserve = source(counts)
        res_shape, res_req = request_shapes(reserve, cluster)
        if dev is not None:
            from .devices import check_batch_requests

            check_batch_requests(reserve, dev.dc)
            res_shape, res_req = dev.shapes(reserve, res_shape, res_req)
        room = make_room(batch, task_shape, shape_req, reserve, res_shape, res_req, counts)
        rows = np.concatenate([rows_real, np.full(reserve.arrays.n_pipelines, -1, dtype=np.int64)])
        lc = lifecycle_arrays(table, cfg.gates, rows)
        room_req = room.shape_req
        if dev is not None:
            _, room_req = dev.set_shapes(room.task_shape, room.shape_req)
        out = _Outputs(room.batch, cluster, [table], dev, record_tasks)
        if out.elastic is not None and reserve.checkpoint_every is not None:
            out.elastic.res_checkpoint = np.ascontiguousarray(reserve.checkpoint_every, dtype=np.float64)
        out.run(0, room.task_shape, room_req, cfg, lc, summarize=False,
                rules=rule_arrays(reserve, room.reserve_shape, room.reserve_ptr))
        if out.ext[0, 0] == RUN_OK:
            break
        m = int(out.ext[0, 1])
        used = out.model_acc[0][:, -1]
        if used.sum() >= cfg.max_triggered:
            raise ValueError(
                f"replication {replication}: the automation rules submitted {int(used.sum())} pipelines by "
                f"t = {out.rep[0, 0]:g} s (model {int(table.model_id[m])} the most recent), the most "
                f"max_triggered={cfg.max_triggered} allows; raise simulate(max_triggered=...) if that is what "
                "you want, or check the rules (a gate that rejects every retraining of a stale model "
                "resubmits it at once)"
            )
        counts = more_copies(counts, used, m, float(out.rep[0, 0]), horizon, cfg.max_triggered)
    p_used, t_used = int(out.ext[0, 2]), int(out.ext[0, 3])
    final = trim(room, p_used, t_used, out.source, copy=record_tasks)
    if exact is not None and p_used > room.n_real and record_tasks:
        # the submitted copies' own candidate values in place of the reserve's stand-ins (which only
        # the records show: summaries and per-model metrics do not read candidates)
        rob, fair = exact(out.source[room.n_real:p_used])
        final.arrays.cand_robustness[room.n_real:] = rob
        final.arrays.cand_fairness[room.n_real:] = fair
    out.trim(final, p_used, t_used)
    out.summarize(0, cfg)
    return out.result(final, record_tasks)


class _Progress:
    """A one-line progress report on stderr for runs that take more than a moment."""

    def __init__(self, total: int, enabled):
        self.total = total
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = -1.0
        self.first = None
        self.shown = False

    def update(self, done: int):
        if self.enabled is False:
            return
        elapsed = time.perf_counter() - self.t0
        if self.enabled is None and elapsed < 2.0 and not self.shown:
            return  # quiet for short runs unless asked
        if callable(self.enabled):
            self.enabled(done, self.total)
            return
        if done < self.total and elapsed - self.last < 0.25:
            return  # a few lines a second are enough
        self.last = elapsed
        if self.first is None:
            self.first = (done, elapsed)  # rates count from the first report: it may include a compile
        d0, e0 = self.first
        rate = (done - d0) / (elapsed - e0) if elapsed > e0 and done > d0 else 0.0
        eta = f"eta {(self.total - done) / rate:5.1f}s" if rate > 0 else "eta    ?"
        sys.stderr.write(
            f"\rreplications {done}/{self.total}  {rate:6.1f}/s  elapsed {elapsed:5.1f}s  {eta}"
        )
        sys.stderr.flush()
        self.shown = True

    def close(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _replication_source(workload, seed: int, cluster: Cluster):
    """A function ``r -> Batch`` of replication r of the workload."""
    if hasattr(workload, "generate"):
        return lambda r: workload.generate(seed, int(r))
    if isinstance(workload, Trace):
        # a trace is deterministic: every replication (and every later call) replays
        # the same arrays, built and grouped once per Trace
        base = workload._simulation_batch()
        return lambda r: dataclasses.replace(base, replications=np.array([int(r)], dtype=np.int64))
    if hasattr(workload, "to_batch"):
        base = workload.to_batch(replication=0)
        base = dataclasses.replace(base, shapes=RequestShapes(*request_shapes(base, cluster)))
        return lambda r: dataclasses.replace(base, replications=np.array([int(r)], dtype=np.int64))
    raise TypeError(
        f"cannot simulate a {type(workload).__name__}: pass a Trace (read_trace), "
        "a ModelOpsWorkload, a QueueWorkload, or a Batch"
    )


def simulate(
    workload,
    cluster: Cluster | None = None,
    *,
    policy="fifo",
    placement: str = "first_fit",
    backfill: bool = True,
    horizon: float | None = None,
    warmup: float = 0.0,
    replications=None,
    seed: int = 0,
    record_tasks: bool = False,
    threads: int | None = None,
    progress=None,
    lifecycle: bool = True,
    accuracy_gate: float | None = None,
    fairness_gate: float | None = None,
    robustness_gate: float | None = None,
    max_triggered: int = 1_000_000,
    autoscaler=None,
    series_bin: float | None = None,
    ties: str = "index",
    target=None,
    devices: bool | None = None,
) -> Results:
    """Simulate a workload on a cluster.

    Parameters
    ----------
    workload : Trace, ModelOpsWorkload, QueueWorkload or Batch
        A trace replays the same pipelines in every replication (one replication
        by default); a generator draws replication r of ``seed`` from its own
        random stream (MODEL.md 8), whatever thread runs it. Each replication
        is generated, simulated and reduced to its summary by one worker
        thread, so memory holds only the replications in progress (and the
        task records, if asked for).
    cluster : Cluster, optional
        Defaults to :func:`default_cluster`.
    policy : str or CustomPolicy
        ``fifo``, ``priority``, ``sjf``, ``srpt``, or :func:`custom_policy`.
    placement : str
        ``first_fit``, ``best_fit`` or ``worst_fit`` (MODEL.md 6), or one of the
        openb study's placements on devices (MODEL.md 12.5): ``random``,
        ``dot_product``, ``gpu_clustering``, ``gpu_packing``, ``gpu_best_fit``,
        ``fgd``.
    backfill : bool
        If false a task that does not fit stops the pass (strict order).
    horizon : float, optional
        Seconds; events after it are not applied. Defaults to the workload's
        ``default_horizon`` (a ModelOpsWorkload's ``days``); a trace runs until
        no event is left.
    warmup : float
        Start of the observation window: pipelines submitted before it and time
        before it are left out of the summaries.
    replications : int or sequence of int
        How many replications (numbered 0..n-1), or which ones.
    seed : int
    record_tasks : bool
        Keep per-task and per-pipeline records (``Results.tasks``); off by
        default so that long campaigns hold only summaries.
    threads : int, optional
        Threads for the replications (default: all cores).
    progress : bool or callable, optional
        Progress on stderr (None: only if the run takes more than 2 s), or a
        callable ``f(done, total)``.
    lifecycle : bool
        Simulate the ML model lifecycle (MODEL.md 7) of a workload that has
        one (a ModelOpsWorkload, a trace with a ``models`` table): gates,
        deploys, drift, automation rules, and the per-model metrics
        (``Results.models``). False runs the same pipelines as plain jobs.
    accuracy_gate, fairness_gate, robustness_gate : float, optional
        Quality gates of ``evaluate``, ``bias_check`` and ``robustness_check``:
        a pipeline whose candidate is below the gate is rejected. Default: the
        workload's own (``ModelOpsWorkload.accuracy_gate`` ...), else 0 (off).
    max_triggered : int
        Most pipelines the automation rules may submit in one replication;
        more stops the run with an error naming this limit (the arrays grow
        as needed below it).
    autoscaler : str or fastpipesim.autoscalers.Autoscaler, optional
        MODEL.md 11.4: ``"static"`` (the default), ``"reactive"``,
        ``"target_utilization"``, or an object such as
        ``fastpipesim.autoscalers.Reactive(interval=10, idle_timeout=600)``
        (``Schedule`` and ``Custom`` need their table or function). It acts
        only on an elastic cluster (a pool with ``min_count`` or ``max_count``
        other than ``count``, or a spot pool); the summary then has the columns
        of MODEL.md 11.6 (cost, node_hours_<pool>, ...), ``Results.nodes`` the
        node timeline and the task records a ``restarts`` column. An elastic
        run with an autoscaler or a spot pool needs a horizon. On devices
        (MODEL.md 12.12) every autoscaler but ``"reactive"`` (refused) runs.
    series_bin : float, optional
        Keep binned time series of this width in seconds (MODEL.md 13) in
        ``Results.series``; needs a horizon.
    ties : str
        How equally scored nodes are chosen on devices (MODEL.md 12.5):
        ``"index"`` (the lowest node index) or ``"random"`` (from the
        replication's placement stream, MODEL.md 12.6).
    target : DataFrame, optional
        The target workload of fragmentation (MODEL.md 12.7): columns ``cpu``,
        ``gpu``, ``p`` and optionally ``gpu_spec``. Default: computed from each
        replication's tasks.
    devices : bool, optional
        Place GPUs as devices (MODEL.md 12). None (the default) does when the
        workload needs it (a fractional GPU request, a ``gpu_spec``,
        ``replicas`` > 1) or the placement or ties do (a study placement,
        ``ties="random"``), and otherwise pools each node's GPUs into one
        number, as sections 4 and 6 (the same schedules, 12.10). True always
        places on devices; False refuses a workload that needs them. A device
        run's summary has ``gpu_unallocated_pct``, ``gpu_fragmented_pct`` and
        ``gpu_frag_ratio``; with ``record_tasks`` it keeps ``Results.devices``
        (the devices of each part) and ``Results.gpu_timeline``.
    """
    cluster = default_cluster() if cluster is None else cluster
    placement_code(placement)  # a clear ValueError for an unknown name
    if ties not in TIES:
        raise ValueError(f"ties must be one of {list(TIES)}, got {ties!r}")
    use_devices = _resolve_devices(workload, placement, ties, devices)
    if use_devices:
        _check_device_run(workload, cluster, target)
    elif isinstance(workload, Trace) and not shapes_fit(*workload._simulation_batch().shapes, cluster):
        check_fits(workload, cluster)  # raises before anything runs, naming the trace's rows
    if replications is None:
        replications = 1 if not hasattr(workload, "generate") else 30
    if isinstance(workload, Batch):
        reps = np.asarray(workload.replications, dtype=np.int64)
    elif np.isscalar(replications):
        if int(replications) < 1:
            raise ValueError("replications must be >= 1")
        reps = np.arange(int(replications), dtype=np.int64)
    else:
        reps = np.asarray(replications, dtype=np.int64)
    if horizon is None and hasattr(workload, "default_horizon"):
        horizon = workload.default_horizon
    if horizon is not None and not (horizon > 0):
        raise ValueError("horizon must be > 0 seconds")
    if not np.isfinite(warmup) or warmup < 0:
        raise ValueError("warmup must be a finite number of seconds >= 0")
    placement_code(placement)  # both raise a clear ValueError for an unknown name
    policy_code(policy)
    if not isinstance(max_triggered, (int, np.integer)) or max_triggered < 0:
        raise ValueError(f"max_triggered must be an integer >= 0, got {max_triggered!r}")
    cfg = RunConfig(policy=policy, placement=placement, backfill=bool(backfill),
                    horizon=None if horizon is None else float(horizon), warmup=float(warmup),
                    seed=int(seed), replications=tuple(int(r) for r in reps), lifecycle=bool(lifecycle),
                    gates=resolve_gates(workload, accuracy_gate, fairness_gate, robustness_gate),
                    max_triggered=int(max_triggered), autoscaler=_autoscaler(autoscaler, cluster),
                    series_bin=None if series_bin is None else float(series_bin), ties=str(ties),
                    target=None if target is None else _target_frame(target), devices=use_devices)
    if use_devices and cluster.is_elastic and cfg.autoscaler.kind == "reactive":
        raise ValueError("the reactive autoscaler (MODEL.md 11.4) with GPUs as devices (MODEL.md 12) is not "
                         "modelled: its walk and scale-up options are defined on pooled capacity only; use "
                         "the target_utilization, schedule or custom autoscaler, or whole-GPU requests with "
                         "devices=False (MODEL.md 12.12)")
    if cfg.lifecycle:
        check_rules(_rule_tables(workload), cfg.horizon)
    if cluster.is_elastic and cfg.horizon is None and (cfg.autoscaler.kind != "static"
                                                       or bool(cluster.pools["spot"].any())):
        raise ValueError("an elastic cluster with an autoscaler or a spot pool never runs out of events "
                         "(ticks, interruptions): give a horizon (MODEL.md 11)")
    if series_bin is not None:
        if not (np.isfinite(series_bin) and series_bin > 0):
            raise ValueError(f"series_bin must be a number of seconds > 0, got {series_bin!r}")
        if cfg.horizon is None:
            raise ValueError("binned time series (series_bin) need a horizon: the last bin ends there (MODEL.md 13)")

    n_threads = default_threads() if threads is None else int(threads)
    if n_threads < 1:
        raise ValueError("threads must be >= 1")
    bar = _Progress(len(reps), progress)
    parts = []
    t_start = time.perf_counter()
    executor = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
    if progress is not False and not engine_is_compiled():
        sys.stderr.write("fastpipesim: compiling the simulation engine (first run only, about half a minute)\n")
        sys.stderr.flush()
    try:
        if isinstance(workload, Batch) and _has_rules(workload, cfg):
            # each replication runs alone (its submitted pipelines need room of their own)
            def one_slot(k):
                return run_batch(replication_batch(workload, k), cluster, cfg, record_tasks=record_tasks)

            slots = range(workload.n_replications)
            for out in (map(one_slot, slots) if executor is None else executor.map(one_slot, slots)):
                parts.append(out)
                bar.update(len(parts))
        elif isinstance(workload, Batch):
            parts.append(run_batch(workload, cluster, cfg, record_tasks=record_tasks, executor=executor))
            bar.update(len(reps))
        else:
            source = _replication_source(workload, int(seed), cluster)

            def one(r):
                # generation, simulation and summary of one replication, in one worker
                return run_batch(source(r), cluster, cfg, record_tasks=record_tasks)

            outputs = map(one, reps) if executor is None else executor.map(one, reps)
            for out in outputs:  # in replication order
                parts.append(out)
                bar.update(len(parts))
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        bar.close()
    return Results(parts, cluster, cfg, elapsed=time.perf_counter() - t_start)


def _workload_device_reasons(workload) -> list[str]:
    """Why the workload needs GPUs as devices (MODEL.md 12), or [] (see devices.device_reasons)."""
    from .devices import device_reasons

    if isinstance(workload, Trace):
        t = workload.tasks
        return device_reasons(t["gpu"].to_numpy(np.float64), t.get("gpu_spec"), t.get("replicas"))
    if isinstance(workload, Batch):
        return device_reasons(workload.arrays.gpu, workload.gpu_spec, workload.replicas)
    reasons = getattr(workload, "device_reasons", None)
    return list(reasons()) if callable(reasons) else []


def _resolve_devices(workload, placement: str, ties: str, devices) -> bool:
    """simulate(devices=...): does the run place on devices (MODEL.md 12)?"""
    why = _workload_device_reasons(workload)
    if placement not in PLACEMENTS:
        why.append(f"placement {placement!r}")
    if ties != "index":
        why.append(f"ties {ties!r}")
    if devices is None:
        return bool(why)
    if devices is False and why:
        raise ValueError(f"devices=False pools each node's GPUs into one number, but the run has "
                         f"{', '.join(why)}, which need GPUs as devices (MODEL.md 12)")
    return bool(devices)


def _check_device_run(workload, cluster: Cluster, target) -> None:
    """Before anything runs: the cluster's devices (MODEL.md 12.1) and a trace's requests (12.2)."""
    dc = _device_cluster(cluster)
    if isinstance(workload, Trace):
        from .devices import check_device_fits, task_requests

        req = task_requests(workload.tasks, workload.files["tasks"])
        check_device_fits(req, dc, workload.tasks, workload.files["tasks"])
    if target is not None:
        _target_frame(target)


def _target_frame(target):
    """A target workload table (MODEL.md 12.7), checked: columns cpu, gpu, p (gpu_spec optional)."""
    import pandas as pd

    tg = pd.DataFrame(target).reset_index(drop=True)
    missing = [c for c in ("cpu", "gpu", "p") if c not in tg.columns]
    if missing or not len(tg):
        raise ValueError(f"a target workload needs rows with columns cpu, gpu, p (gpu_spec optional); "
                         f"missing {missing}" if missing else "a target workload needs at least one row")
    g = tg["gpu"].to_numpy(np.float64)
    if ((g > 1) & (g != np.floor(g))).any() or (g < 0).any() or not np.isfinite(tg["p"].to_numpy(float)).all():
        raise ValueError("a target workload's gpu is 0, a fraction or whole devices, and its p finite")
    return tg


def _autoscaler(spec, cluster: Cluster):
    """The autoscaler object of ``simulate(autoscaler=...)``, checked against the cluster."""
    from .autoscalers import autoscaler_from

    scaler = autoscaler_from(spec)
    if scaler.kind == "schedule":
        scaler.counts_by_hour(cluster.pool_names)  # an unknown pool is an error before anything runs
    return scaler


def _has_rules(batch: Batch, cfg: RunConfig) -> bool:
    return any(t is not None and t.has_rules for t in _model_tables(batch, cfg))


def _rule_tables(workload) -> list:
    """ModelTables to check for rules before running (all of a Batch, the first of a generator)."""
    if isinstance(workload, Batch):
        return list(workload.models or [])
    if isinstance(workload, Trace):
        models = workload._simulation_batch().models
        return [None if models is None else models[0]]
    if hasattr(workload, "model_table"):
        return [workload.model_table(0, 0)]
    return []


def default_threads() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
