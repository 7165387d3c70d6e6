#!/usr/bin/env python
"""What an optional feature of the event loop costs a run that does not use it: the kernel
time of benchmarks sections a and c (static pools, no spot, no series) on two checkouts,
and the cold compile time of the static path.

    python benchmarks/bench_static_path.py --base /path/to/checkout/before   # 5 rounds
    python benchmarks/bench_static_path.py --base DIR --rounds 9 --cold

Each round runs, in fresh processes and alternately, the base checkout then this one, on
warm Numba caches: section a (the default ModelOps workload, 7 days, default cluster,
fifo, lifecycle off, replications 0-3 of seed 1) and section c (M/M/1 at 0.9, 1M jobs).
The time is the event loop's alone (``run_replication_nb``, or ``run_jobs_nb`` for the queue
where a checkout has the lean loop; one thread; the mean of 25
runs for a, of 3 for c, in each process). Medians over
rounds, and their ratio (this checkout / base): on a shared machine compare ratios, not
seconds. ``--cold`` also times a first run on an empty cache (the compile a user sees)
for the static path, and for this checkout's elastic path.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, time
sys.path.insert(0, ROOT)
import fastpipesim as fps
sim = sys.modules["fastpipesim.simulate"]
spent = [0.0]
def timing(kernel):
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return kernel(*a, **k)
        finally:
            spent[0] += time.perf_counter() - t
    return timed
# the event loop: the general one, or for jobs (one-task pipelines) the lean one where a checkout has it
for name in ("run_replication_nb", "run_jobs_nb"):
    if hasattr(sim, name):
        setattr(sim, name, timing(getattr(sim, name)))
out = {}
t = time.perf_counter()
if "a" in SECTIONS:
    wl = fps.ModelOpsWorkload()
    batch = wl.batch(1, [0, 1, 2, 3])
    kw = dict(policy="fifo", placement="first_fit", horizon=7 * 86400.0, lifecycle=False, threads=1, progress=False)
    fps.simulate(batch, fps.default_cluster(), **kw)        # load (or compile) the kernels
    out["first_run_s"] = time.perf_counter() - t
    spent[0] = 0.0
    for _ in range(25):  # a run takes ~10 ms: the sum of 25
        fps.simulate(batch, fps.default_cluster(), **kw)
    out["a"] = spent[0] / 25
if "c" in SECTIONS:
    wl = fps.QueueWorkload(rate=0.9, service_mean=1.0, service="exp", n_jobs=1_000_000)
    batch, cl = wl.generate(1, 0), wl.cluster(1)
    fps.simulate(fps.QueueWorkload(n_jobs=100).generate(1, 0), cl, threads=1, progress=False)  # load the kernels
    spent[0] = 0.0
    for _ in range(3):
        fps.simulate(batch, cl, threads=1, progress=False)
    out["c"] = spent[0] / 3
if "e" in SECTIONS:   # the elastic path's first run (compile), this checkout only
    t = time.perf_counter()
    pools = fps.default_cluster().pools.assign(min_count=[1, 1], max_count=[4, 6], boot_time=[180.0, 600.0])
    fps.simulate(fps.ModelOpsWorkload(days=1), fps.Cluster(pools), replications=1, autoscaler="reactive",
                 threads=1, progress=False, lifecycle=False)
    out["elastic_first_run_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def worker(root: Path, sections: str, cache: str | None = None) -> dict:
    env = dict(os.environ)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = cache
    code = WORKER.replace("ROOT", repr(str(root))).replace("SECTIONS", repr(sections))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800,
                          cwd=tempfile.gettempdir())
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="a checkout of the code before the change")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cold", action="store_true", help="also time first runs on an empty Numba cache")
    args = ap.parse_args()
    roots = {"base": Path(args.base).resolve(), "this": ROOT}
    for root in roots.values():
        worker(root, "ac")  # warm each checkout's own cache (__pycache__ beside its sources)
    times = {k: {"a": [], "c": []} for k in roots}
    for i in range(args.rounds):
        for name, root in roots.items():
            got = worker(root, "ac")
            times[name]["a"].append(got["a"])
            times[name]["c"].append(got["c"])
        print(f"round {i + 1}: " + ", ".join(f"{n} a {times[n]['a'][-1]:.3f} s c {times[n]['c'][-1]:.3f} s"
                                             for n in roots), flush=True)
    print("\nkernel seconds, median of", args.rounds, "rounds")
    for s in ("a", "c"):
        b, t = statistics.median(times["base"][s]), statistics.median(times["this"][s])
        print(f"  section {s}: base {b:.3f} s, this {t:.3f} s, ratio {t / b:.3f}")
    if args.cold:
        for name, root in roots.items():
            with tempfile.TemporaryDirectory() as cache:
                got = worker(root, "a" + ("e" if name == "this" else ""), cache)
            extra = f", then the elastic path {got['elastic_first_run_s']:.1f} s" if "elastic_first_run_s" in got else ""
            print(f"  cold first run (static path), {name}: {got['first_run_s']:.1f} s{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
