#!/usr/bin/env python
"""GPUs as devices in the event loop (MODEL.md 12): the openb trace replayed with each placement.

    python benchmarks/bench_devices.py [--openb DIR] [--rounds 5] [--speedup 30]

The Alibaba GPU trace of 2023 ("openb", 1,213 nodes, 7,255 pods once imported) is
imported with the importer API, then replayed (one thread, warm Numba caches):

1. as it is, with each of the nine placements (index ties): events per second of the
   event loop (the median of ``--rounds`` runs) and the GPU figures of the run;
2. the pooled path against the device path forced, on the trace made whole (every GPU
   request rounded up to whole devices, no gpu_spec; MODEL.md 12.10: the same schedule),
   with first_fit: the cost of placing on devices where it changes nothing;
3. where GPUs are scarce (``examples/openb_devices.py``): every pool cut to a twentieth
   of its nodes, arrivals ``--speedup`` times faster, up to the last arrival: fgd against
   best_fit and the others (unallocated and fragmented GPUs as % of the cluster, mean wait).

The cold compile of the device variant of the loop is printed first (its first run in
this process, on an empty cache if NUMBA_CACHE_DIR points to a fresh folder).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fastpipesim as fps  # noqa: E402
from fastpipesim.engine.constants import DEVICE_PLACEMENTS  # noqa: E402

OPENB = Path("/work/shared/traces-real/alibaba-gpu-v2023-openb")
COLUMNS = ["gpu_unallocated_pct", "gpu_fragmented_pct", "gpu_frag_ratio", "wait_mean"]


def load(folder: Path):
    from fastpipesim.importers import alibaba_gpu2023

    got = alibaba_gpu2023.read(folder / "openb_node_list_gpu_node.csv", folder / "openb_pod_list_default.csv")
    return got.trace, got.cluster


def timed(trace, cluster, rounds: int, **kw):
    """(median seconds of a run, the last Results)."""
    times, res = [], None
    for _ in range(rounds):
        t = time.perf_counter()
        res = fps.simulate(trace, cluster, threads=1, progress=False, **kw)
        times.append(time.perf_counter() - t)
    return statistics.median(times), res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--openb", default=str(OPENB), help="folder with the two openb CSV files")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--speedup", type=float, default=30.0, help="arrivals this many times faster (section 3)")
    args = ap.parse_args()
    trace, cluster = load(Path(args.openb))
    print(f"{trace} on {cluster.n_nodes} nodes, {int((cluster.pools['count'] * cluster.pools['gpu']).sum())} GPUs")

    t = time.perf_counter()
    fps.simulate(trace, cluster, placement="fgd", threads=1, progress=False)
    print(f"first device run (loads or compiles the device variant): {time.perf_counter() - t:.1f} s\n")

    print("1. the trace as it is, each placement (index ties)")
    print(f"{'placement':15s} {'run (s)':>8s} {'events/s':>10s}  " + "  ".join(f"{c:>20s}" for c in COLUMNS))
    for pl in DEVICE_PLACEMENTS:
        sec, res = timed(trace, cluster, args.rounds, placement=pl)
        s = res.summary.iloc[0]
        print(f"{pl:15s} {sec:8.3f} {res.n_events / sec:10,.0f}  " + "  ".join(f"{s[c]:20.4f}" for c in COLUMNS))

    print("\n2. whole GPUs (gpu rounded up, no spec), first_fit: pooled path vs devices forced")
    tasks = trace.tasks.assign(gpu=trace.tasks["gpu"].apply(lambda g: float(-(-g // 1))), gpu_spec="")
    whole = fps.Trace.from_frames(trace.pipelines, tasks.drop(columns=["gpu_spec"]), source="openb-whole")
    sec_p, pooled = timed(whole, cluster, args.rounds)
    sec_d, dev = timed(whole, cluster, args.rounds, devices=True)
    same = pooled.summary["wait_mean"].iloc[0] == dev.summary["wait_mean"].iloc[0]
    print(f"pooled {sec_p:.3f} s ({pooled.n_events / sec_p:,.0f} events/s), devices {sec_d:.3f} s "
          f"({dev.n_events / sec_d:,.0f} events/s): x{sec_d / sec_p:.2f}; same schedule: {same}")

    print(f"\n3. a twentieth of the nodes, arrivals x{args.speedup:g}, up to the last arrival")
    sys.path.insert(0, str(ROOT / "examples"))
    from openb_devices import scenario

    fast, small, horizon = scenario(Path(args.openb), 20.0, args.speedup)
    print(f"{'placement':15s} {'run (s)':>8s} {'events/s':>10s}  " + "  ".join(f"{c:>20s}" for c in COLUMNS))
    for pl in DEVICE_PLACEMENTS:
        sec, res = timed(fast, small, args.rounds, placement=pl, horizon=horizon)
        s = res.summary.iloc[0]
        print(f"{pl:15s} {sec:8.3f} {res.n_events / sec:10,.0f}  " + "  ".join(f"{s[c]:20.4f}" for c in COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
