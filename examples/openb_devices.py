#!/usr/bin/env python
"""The openb trace replayed in the event loop with GPUs as devices (MODEL.md 12): fgd against best_fit.

    python examples/openb_devices.py PATH/TO/alibaba-gpu-v2023-openb [--nodes-div 20] [--speedup 30]

The Alibaba GPU trace of 2023 ("openb") keeps its 1,213 nodes nearly idle (its pod list
is a sample: ~96% of the GPUs are unallocated on average). To see what placement does
when GPUs are scarce, the example replays it on a cluster with every pool cut to
1/``nodes-div`` of its nodes (at least one), with arrivals ``speedup`` times faster
(pod durations kept), up to the last (compressed) arrival, and compares the placements:
unallocated and fragmented GPUs (time averages, % of the cluster's GPUs), the
fragmentation ratio, and waits. Pods are one-task pipelines with their gpu_spec and
shared GPUs, so every run is on devices.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import fastpipesim as fps

PLACEMENTS = ("fgd", "best_fit", "gpu_packing", "first_fit")
COLUMNS = ("gpu_unallocated_pct", "gpu_fragmented_pct", "gpu_frag_ratio", "wait_mean", "completed")


def scenario(folder: Path, nodes_div: float, speedup: float):
    """(trace, cluster, horizon): the imported openb pods, arrivals ``speedup`` x faster, on a smaller cluster."""
    from fastpipesim.importers import alibaba_gpu2023

    got = alibaba_gpu2023.read(folder / "openb_node_list_gpu_node.csv", folder / "openb_pod_list_default.csv")
    trace, cluster = got.trace, got.cluster
    pipelines = trace.pipelines.assign(submit_time=trace.pipelines["submit_time"] / speedup)
    fast = fps.Trace.from_frames(pipelines, trace.tasks, source=f"openb x{speedup:g}")
    small = fps.Cluster(cluster.pools.assign(count=np.ceil(cluster.pools["count"] / nodes_div).astype(int)),
                        source=f"openb nodes / {nodes_div:g}")
    return fast, small, float(pipelines["submit_time"].max())


def compare(trace, cluster, horizon: float, placements=PLACEMENTS) -> pd.DataFrame:
    rows = {}
    for pl in placements:
        s = fps.simulate(trace, cluster, placement=pl, horizon=horizon, progress=False).summary.iloc[0]
        rows[pl] = {c: float(s[c]) for c in COLUMNS}
    return pd.DataFrame.from_dict(rows, orient="index")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("openb", help="folder with openb_node_list_gpu_node.csv and openb_pod_list_default.csv")
    ap.add_argument("--nodes-div", type=float, default=20.0)
    ap.add_argument("--speedup", type=float, default=30.0)
    args = ap.parse_args(argv)
    trace, cluster, horizon = scenario(Path(args.openb), args.nodes_div, args.speedup)
    gpus = int((cluster.pools["count"] * cluster.pools["gpu"]).sum())
    print(f"{trace.n_tasks:,} pods, arrivals x{args.speedup:g} over {horizon / 3600:.1f} h, on "
          f"{cluster.n_nodes} nodes ({gpus} GPUs)")
    table = compare(trace, cluster, horizon)
    with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 120, "display.max_columns", None):
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
