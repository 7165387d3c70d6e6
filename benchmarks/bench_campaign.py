"""Campaign benchmarks (issue 9): overhead over the bare simulate calls, Dask scaling, resume cost.

    python benchmarks/bench_campaign.py            # 20 scenarios x 200 replications of the default week
    python benchmarks/bench_campaign.py --quick    # 20 scenarios x 40 replications
    python benchmarks/bench_campaign.py --json out.json

Measured side by side in one run (ratios are the figures to compare; the
machine is shared and absolute times move):

1. overhead: the campaign (threads in this process, chunks to disk, final
   tables) against the same ``simulate`` calls without a campaign: the same
   units on the same thread pool, and one call per scenario on all cores;
2. Dask: a LocalCluster of 2 single-threaded workers against 1;
3. resume: ``run(resume=True)`` on a finished campaign, in this process and as
   a command (including Python's start-up).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fastpipesim as fps  # noqa: E402
from fastpipesim.campaign import Campaign  # noqa: E402
from fastpipesim.campaign.run import DEFAULT_UNIT_SIZE  # noqa: E402
from fastpipesim.simulate import default_threads  # noqa: E402

EXPERIMENT = """
name = "bench"
seed = 7
replications = {reps}

[workload]
generator = "modelops"
days = 7

[run]
warmup_days = 1

[sweep]
policy = ["fifo", "sjf", "srpt", "priority", "staleness"]
"cluster.scale.gpu" = [2, 3, 4, 6]

[compare]
baseline = {{ policy = "fifo" }}
"""


def bare_units(camp: Campaign, reps: int, slots: int, unit: int) -> float:
    """The campaign's simulate calls (same units, same pool, one thread each), nothing stored."""
    args = [camp.simulate_args(k) for k in range(len(camp.experiment.scenarios))]

    def one(k, first):
        w, c, kw = args[k]
        res = fps.simulate(w, c, seed=7, replications=list(range(first, min(first + unit, reps))), threads=1,
                           progress=False, **kw)
        res.summary, res.models  # what the campaign keeps of each call

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(slots) as pool:
        futs = [pool.submit(one, k, f) for k in range(len(args)) for f in range(0, reps, unit)]
        for f in futs:
            f.result()
    return time.perf_counter() - t0


def bare_scenarios(camp: Campaign, reps: int) -> float:
    """One simulate call per scenario, all replications, on all cores."""
    t0 = time.perf_counter()
    for k in range(len(camp.experiment.scenarios)):
        w, c, kw = camp.simulate_args(k)
        res = fps.simulate(w, c, seed=7, replications=reps, progress=False, **kw)
        res.summary, res.models
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    reps = 40 if a.quick else 200
    repeats = a.repeats or (1 if a.quick else 3)
    slots = default_threads()
    tmp = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    exp = tmp / "exp.toml"
    exp.write_text(EXPERIMENT.format(reps=reps))
    camp = Campaign.from_toml(exp)
    # warm: compile or load every kernel once
    fps.simulate(fps.ModelOpsWorkload(days=1), replications=2, policy="staleness", progress=False)
    fps.simulate(fps.ModelOpsWorkload(days=1), replications=2, policy="srpt", progress=False)
    small = tmp / "warm.toml"  # and the campaign's own imports (pyarrow, the executors)
    small.write_text(EXPERIMENT.format(reps=2).replace("days = 7", "days = 0.25"))
    Campaign.from_toml(small).run(tmp / "warm", progress=False)

    out = {"scenarios": len(camp.experiment.scenarios), "replications": reps, "slots": slots,
           "campaign": [], "bare_units": [], "bare_scenarios": [], "dask1": [], "dask2": [],
           "resume_in_process": [], "resume_command": []}
    for r in range(repeats):  # alternate, so that a change of load hits all
        t0 = time.perf_counter()
        camp.run(tmp / f"c{r}", progress=False)
        out["campaign"].append(time.perf_counter() - t0)
        out["bare_units"].append(bare_units(camp, reps, slots, DEFAULT_UNIT_SIZE))
        out["bare_scenarios"].append(bare_scenarios(camp, reps))
        t0 = time.perf_counter()
        camp.run(tmp / f"c{r}", resume=True, progress=False)
        out["resume_in_process"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fastpipesim", "campaign", str(exp), "--out", str(tmp / f"c{r}"),
                        "--resume", "--quiet"], check=True, capture_output=True)
        out["resume_command"].append(time.perf_counter() - t0)
        for n in (1, 2):
            t0 = time.perf_counter()
            camp.run(tmp / f"d{n}-{r}", workers=n, threads=1, progress=False)
            out[f"dask{n}"].append(time.perf_counter() - t0)
        print(f"repeat {r + 1}/{repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in out.items()
                                                        if isinstance(v, list)), flush=True)
    med = {k: statistics.median(v) for k, v in out.items() if isinstance(v, list)}
    ratio = {
        "overhead_vs_same_units": med["campaign"] / med["bare_units"] - 1.0,
        "overhead_vs_one_call_per_scenario": med["campaign"] / med["bare_scenarios"] - 1.0,
        "dask_2_workers_speedup": med["dask1"] / med["dask2"],
    }
    out["median"], out["ratio"] = med, ratio
    n_reps = out["scenarios"] * reps
    print(f"\n{out['scenarios']} scenarios x {reps} replications of the default week ({n_reps} replications), "
          f"{slots} cores, medians of {repeats}:")
    print(f"  campaign (threads, chunks, tables)   {med['campaign']:7.2f} s   {n_reps / med['campaign']:6.0f} rep/s")
    print(f"  the same units, nothing stored       {med['bare_units']:7.2f} s   overhead "
          f"{ratio['overhead_vs_same_units']:+.1%}")
    print(f"  one simulate call per scenario       {med['bare_scenarios']:7.2f} s   overhead "
          f"{ratio['overhead_vs_one_call_per_scenario']:+.1%}")
    print(f"  Dask LocalCluster, 1 worker x 1 thread {med['dask1']:7.2f} s")
    print(f"  Dask LocalCluster, 2 workers x 1 thread {med['dask2']:7.2f} s  speed-up {ratio['dask_2_workers_speedup']:.2f}x")
    print(f"  resume a finished campaign           {med['resume_in_process']:7.3f} s in process, "
          f"{med['resume_command']:.2f} s as a command")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
