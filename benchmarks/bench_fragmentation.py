"""The openb fragmentation study (issue 13): runtime of 6 policies x 10 seeds, compile time, the score cache.

    python benchmarks/bench_fragmentation.py            # the study on 1 and on all cores, cold and warm start
    python benchmarks/bench_fragmentation.py --quick    # 2 seeds, no cold start
    python benchmarks/bench_fragmentation.py --json out.json

Reports, measured in one run (the machine may be shared: the load average is
printed at the start and the end):

1. cold start: a fresh process with an empty Numba cache (a temporary
   NUMBA_CACHE_DIR) runs a one-pod study: the compile time a user sees once;
   warm start: the same with the cache filled;
2. the study on the real openb trace (8,152 pods, 1,213 nodes, 6,212 GPUs), the
   six policies x 10 seeds, on 1 thread and on all cores: wall seconds, CPU
   seconds of the runs, pods placed per second, and seconds per policy;
3. the score cache: one FGD run with the cache (every shape its own row) and
   with a single shared row (every pod rescoring every node), same answer.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from fastpipesim import fragmentation as frag  # noqa: E402
from fastpipesim import importers  # noqa: E402

OPENB = Path("/work/shared/traces-real/alibaba-gpu-v2023-openb")
if not OPENB.exists():
    OPENB = ROOT.parent / "shared" / "traces-real" / "alibaba-gpu-v2023-openb"

ONE_POD = """
import time
t0 = time.perf_counter()
import pandas as pd
from fastpipesim.cluster import Cluster
from fastpipesim.fragmentation import fragmentation_study
t1 = time.perf_counter()
cl = Cluster.from_pools([{"pool": "a", "count": 2, "cpu": 8, "gpu": 2, "mem_gb": 16, "gpu_model": "X"}])
fragmentation_study(pd.DataFrame({"cpu": [1.0], "gpu": [0.5], "mem_gb": [1.0]}), cl, policies="fgd",
                    replications=1, threads=1)
print(t1 - t0, time.perf_counter() - t1)
"""


def start_times(cache_dir: str | None) -> tuple[float, float]:
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", ONE_POD], check=True, capture_output=True, text=True, env=env,
                         cwd=ROOT).stdout.split()
    return float(out[0]), float(out[1])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, no cold start")
    ap.add_argument("--json", default=None, metavar="FILE")
    args = ap.parse_args(argv)
    seeds = 2 if args.quick else 10
    report = {"load_start": load(), "cores": os.cpu_count()}
    print(f"load average at start: {report['load_start']} ({os.cpu_count()} cores)")

    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            imp, cold = start_times(tmp)
            _, warm = start_times(tmp)
        report.update(import_s=imp, cold_start_s=cold, warm_start_s=warm)
        print(f"1. start: import {imp:.2f} s; one-pod study with an empty Numba cache {cold:.1f} s "
              f"(compiling), with the cache {warm:.2f} s")

    result = importers.read("alibaba-gpu-2023", OPENB, phases="all")
    trace, cluster = result.trace, result.cluster
    frag.fragmentation_study(trace, cluster, policies="fgd", replications=1, threads=1)  # compiled and cached
    for threads in (1, None):
        t0 = time.perf_counter()
        res = frag.fragmentation_study(trace, cluster, replications=seeds, threads=threads)
        wall = time.perf_counter() - t0
        pods = int(res.runs["pods"].sum())
        cpu = float(res.runs["seconds"].sum())
        per = res.runs.groupby("policy", sort=False)["seconds"].mean()
        key = "one_thread" if threads == 1 else "all_cores"
        report[key] = {"wall_s": wall, "runs_s": res.elapsed, "cpu_s": cpu, "pods": pods,
                       "pods_per_cpu_s": pods / cpu, "seconds_per_run": per.round(3).to_dict()}
        print(f"2. study, 6 policies x {seeds} seeds, {'1 thread' if threads == 1 else 'all cores'}: "
              f"{wall:.1f} s wall ({res.elapsed:.1f} s of runs, {cpu:.1f} CPU s); {pods:,} pods, "
              f"{pods / cpu:,.0f} pods per CPU second")
        print("   seconds per run: " + ", ".join(f"{p} {s:.2f}" for p, s in per.items()))

    # 3. the score cache: FGD, one seed, with a row per shape and with one shared row
    timings = {}
    for rows in (frag.CACHE_ENTRIES, 1):
        saved = frag.CACHE_ENTRIES
        frag.CACHE_ENTRIES = rows * 1213 if rows == 1 else saved
        try:
            t0 = time.perf_counter()
            res = frag.fragmentation_study(trace, cluster, policies="fgd", replications=1, threads=1)
            timings["cache" if rows != 1 else "no_cache"] = (time.perf_counter() - t0, res.at(100)["median"]["fgd"])
        finally:
            frag.CACHE_ENTRIES = saved
    (tc, vc), (tn, vn) = timings["cache"], timings["no_cache"]
    assert vc == vn, "the cache changed the answer"
    report["score_cache"] = {"with_s": tc, "without_s": tn}
    print(f"3. one FGD run: {tc:.2f} s with the score cache, {tn:.2f} s rescoring every node for every pod "
          f"({tn / tc:.0f}x); same unallocated GPUs at 100%: {vc:.3f}%")
    report["load_end"] = load()
    print(f"load average at end: {report['load_end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
