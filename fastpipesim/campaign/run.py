"""Running a campaign: units of replications out to an executor, chunks to disk as they come back.

Replications of a scenario run in *rounds*: a fixed experiment has one round of
all its replications; a precision-driven one starts with ``min`` and adds
rounds of ``batch`` until its metrics are precise enough or ``max`` is reached.
The decision after a round reads only the replications of the rounds so far,
so the number of replications is the same whatever ran where or when. A round
is split into *units* (one ``simulate`` call each) of at most ``unit_size``
replications; units from every scenario are in flight at once.

Resuming reads the manifest, keeps every listed chunk, and computes only the
replications no chunk holds. The final tables are built from the chunks sorted
by (scenario, replication), so they are the same however the work was split,
interrupted or spread.
"""
from __future__ import annotations

import json

import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .execute import make_executor, run_unit
from .spec import Experiment
from .stats import precision_met
from .store import CampaignStore

DEFAULT_UNIT_SIZE = 25


@dataclass
class _ScenarioState:
    scenario: object
    done: set = field(default_factory=set)      # replications in chunks
    flying: set = field(default_factory=set)    # replications in units in flight
    target: int = 0                             # replications the current round needs (0..target-1)
    finished: bool = False
    precise: bool | None = None                 # precision met (None: fixed replications)


class Progress:
    """A tqdm bar over the campaign's replications, on a terminal only (quiet in logs)."""

    def __init__(self, total: int, n_scenarios: int, enabled=None, file=None):
        self.n_scenarios = n_scenarios
        self.bar = None
        if enabled is False:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            return
        self.bar = tqdm(total=total, unit="rep", dynamic_ncols=True, disable=None if enabled is None else False,
                        desc="campaign", file=sys.stderr if file is None else file, smoothing=0.1)

    def update(self, n: int, scenarios_done: int, total: int | None = None):
        if self.bar is None:
            return
        if total is not None and total != self.bar.total:
            self.bar.total = total
        self.bar.set_postfix_str(f"scenarios {scenarios_done}/{self.n_scenarios}", refresh=False)
        self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def scenario_inputs(exp: Experiment, scenario) -> tuple:
    """(workload, cluster, simulate keywords) of a scenario, as the experiment's checks built them."""
    workload, cluster, kwargs = exp.inputs[scenario.index]
    return workload, cluster, dict(kwargs)


def run_campaign(exp: Experiment, out, *, resume: bool = False, threads: int | None = None,
                 workers: int | None = None, scheduler: str | None = None, progress=None,
                 unit_size: int | None = None, on_chunk=None):
    """Run (or resume) ``exp`` into the folder ``out``; returns its :class:`CampaignResults`.

    ``on_chunk(n_chunks_written)`` is called after each chunk is listed (tests use it to
    interrupt a run at a chosen moment).
    """
    from .results import CampaignResults, finalize

    try:
        import pyarrow  # noqa: F401  (the chunks and tables are Parquet)
    except ImportError:
        raise ValueError("a campaign stores its results as Parquet, which needs pyarrow: "
                         "pip install 'fastpipesim[campaign]'") from None
    store = CampaignStore(out)
    resolved = exp.resolved()
    digest = exp.digest()
    if resume:
        store.check_resume(digest)
        chunks = store.valid_chunks(store.manifest().get("chunks", []))
        store.remove_unlisted_chunks(chunks)
    else:
        store.create(exp, resolved, digest)
        chunks = []
    unit_size = DEFAULT_UNIT_SIZE if unit_size is None else int(unit_size)
    if unit_size < 1:
        raise ValueError("the batch size (replications per unit) must be >= 1")

    states = [_ScenarioState(s) for s in exp.scenarios]
    plan = exp.replications
    for c in chunks:
        states[int(c["scenario"][1:])].done.update(range(c["first"], c["last"] + 1))
    cache = {}  # the tables of the chunks this run wrote, so that they need not be read back
    summary = store.read_chunks(chunks, "summary") if (chunks and not plan.fixed) else None
    for st in states:
        _advance(st, plan, summary)

    inputs = {}
    executor = None
    bar = None
    t0 = time.perf_counter()
    try:
        if any(not st.finished for st in states):
            executor = make_executor(threads=threads, workers=workers, scheduler=scheduler)
            bar = Progress(_planned(states, plan), len(states), progress)
            bar.update(sum(len(st.done) for st in states), sum(st.finished for st in states))
            flying = {}
            max_flying = 2 * executor.slots
            while True:
                for st in states:  # fill the executor, scenario by scenario
                    while len(flying) < max_flying:
                        todo = _next_unit(st, unit_size)
                        if todo is None:
                            break
                        key = st.scenario.index
                        if key not in inputs:
                            w, c, kw = scenario_inputs(exp, st.scenario)
                            inputs[key] = (executor.scatter(w), executor.scatter(c), kw)
                        w, c, kw = inputs[key]
                        fut = executor.submit(run_unit, w, c, kw, exp.seed, tuple(todo), executor.unit_threads,
                                              exp.series)
                        st.flying.update(todo)
                        flying[fut] = (st, todo)
                if not flying:
                    break
                for fut in executor.wait_any(list(flying)):
                    st, todo = flying.pop(fut)
                    result = executor.result(fut)
                    tables = _chunk_tables(exp, st.scenario, result)
                    entry = store.write_chunk(st.scenario.name, todo[0], todo[-1], tables)
                    for name, frame in tables.items():
                        if frame is not None:
                            cache[(st.scenario.name, todo[0], name)] = frame
                    chunks.append(entry)
                    store.write_manifest(chunks, complete=False, digest=digest)
                    st.flying.difference_update(todo)
                    st.done.update(todo)
                    if not st.flying and _round_done(st):
                        sub = store.read_chunks([c for c in chunks if c["scenario"] == st.scenario.name],
                                                "summary", cache) if not plan.fixed else None
                        _advance(st, plan, sub)
                    bar.update(len(todo), sum(s.finished for s in states), _planned(states, plan))
                    if on_chunk is not None:
                        on_chunk(len(chunks))
    finally:
        if bar is not None:
            bar.close()
        if executor is not None:
            executor.close()
    extra = {"precision": {st.scenario.name: {"replications": st.target, "precise": st.precise}
                           for st in states}}
    finalize(store, exp, chunks, cache)
    store.write_manifest(chunks, complete=True, digest=digest, extra=extra)
    res = CampaignResults.open(store.root)
    res.seconds = time.perf_counter() - t0
    return res


def _planned(states, plan) -> int:
    return sum(st.target if st.finished else max(st.target, plan.min) for st in states)


def _round_done(st: _ScenarioState) -> bool:
    return all(r in st.done for r in range(st.target))


def _advance(st: _ScenarioState, plan, summary) -> None:
    """Move a scenario to its next round while its rounds are complete (replayed on resume)."""
    rounds = list(plan.rounds())
    k = 0
    while True:
        st.target = rounds[k]
        if not _round_done(st):
            return
        if plan.fixed:
            st.finished, st.precise = True, None
            return
        mine = summary[(summary["scenario"] == st.scenario.name) & (summary["replication"] < st.target)] \
            if summary is not None and len(summary) else summary
        if mine is not None and len(mine) and precision_met(mine, plan.metrics, plan.target, plan.confidence):
            st.finished, st.precise = True, True
            return
        if k + 1 == len(rounds):
            st.finished, st.precise = True, False  # max reached without the precision
            return
        k += 1


def _next_unit(st: _ScenarioState, unit_size: int):
    """The next replications of the current round that are neither done nor in flight (consecutive)."""
    if st.finished:
        return None
    todo = []
    for r in range(st.target):
        if r in st.done or r in st.flying:
            if todo:
                break
            continue
        todo.append(r)
        if len(todo) == unit_size:
            break
    return todo or None


def _chunk_tables(exp: Experiment, scenario, result: dict) -> dict:
    """A unit's tables with the scenario's name and swept values in front."""
    def front(frame):
        if frame is None:
            return None
        frame = frame.copy()
        for k, (name, value) in enumerate([("scenario", scenario.name), *scenario.values.items()]):
            frame.insert(k, name, [value] * len(frame) if not isinstance(value, (list, dict)) else
                         [json.dumps(value)] * len(frame))  # a table or list as its JSON text
        return frame

    return {"summary": front(result["summary"]), "models": front(result["models"]),
            "series": front(result["series"])}


def replications_done(frame: pd.DataFrame) -> np.ndarray:
    return np.sort(frame["replication"].to_numpy()) if len(frame) else np.zeros(0, np.int64)
