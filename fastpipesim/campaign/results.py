"""A campaign's results: the final tables built from its chunks, and the object that reads them back."""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .stats import compare_table, scenario_stats, warmup_table
from .store import CampaignStore, atomic_write_csv, atomic_write_parquet

FINAL_TABLES = ("replications.parquet", "models.parquet", "series.parquet", "stats.csv", "compare.csv",
                "warmup.csv")


def finalize(store: CampaignStore, exp, chunks: list, cache: dict | None = None) -> None:
    """Build the final tables from the listed chunks (sorted by scenario, then replication)."""
    scenarios = pd.read_csv(store.root / "scenarios.csv")
    axes = exp.axis_names
    reps = _sorted(store.read_chunks(chunks, "summary", cache), ["scenario", "replication"])
    models = _sorted(store.read_chunks(chunks, "models", cache), ["scenario", "replication", "model_id"])
    series = _sorted(store.read_chunks(chunks, "series", cache), ["scenario", "replication", "bin"])
    store.clear_outputs(FINAL_TABLES)
    atomic_write_parquet(reps, store.root / "replications.parquet")
    if len(models):
        atomic_write_parquet(models, store.root / "models.parquet")
    if len(series):
        atomic_write_parquet(series, store.root / "series.parquet")
    conf = exp.replications.confidence
    atomic_write_csv(scenario_stats(reps, scenarios, axes, conf), store.root / "stats.csv")
    if exp.compare is not None:
        atomic_write_csv(compare_table(reps, exp, scenarios), store.root / "compare.csv")
    if len(series):
        atomic_write_csv(warmup_table(series, scenarios, axes, exp.series), store.root / "warmup.csv")


def _sorted(frame: pd.DataFrame, keys) -> pd.DataFrame:
    if frame.empty:
        return frame
    return frame.sort_values(keys, kind="mergesort").reset_index(drop=True)


class CampaignResults:
    """What a campaign folder holds, read back (``CampaignResults.open(DIR)``).

    Attributes
    ----------
    root : Path
    scenarios : DataFrame
        One row per scenario: ``scenario`` (s000, ...), ``label`` and the swept values.
    replications : DataFrame
        One row per scenario and replication: the scenario, its swept values, the
        replication, then every column of ``Results.summary``.
    models : DataFrame
        Lifecycle metrics per scenario, replication and model (empty without).
    series : DataFrame
        Binned time series per scenario and replication (empty unless kept).
    stats, compare, warmup : DataFrame
        The tables of ``stats.csv``, ``compare.csv`` and ``warmup.csv``.
    precision : dict
        Per scenario: replications run and whether the precision target was met
        (None for a fixed number of replications).
    complete : bool
        False while a campaign is running or after it was interrupted.
    """

    def __init__(self, root):
        self.root = Path(root)
        self.seconds = None

    @classmethod
    def open(cls, root) -> "CampaignResults":
        root = Path(root)
        if not (root / "campaign.json").is_file():
            raise ValueError(f"{root}: not a campaign folder (no campaign.json)")
        return cls(root)

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.root / "campaign.json").read_text())

    @cached_property
    def manifest(self) -> dict:
        return json.loads((self.root / "manifest.json").read_text())

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    @property
    def name(self) -> str:
        return self.meta["experiment"]["name"]

    @property
    def axes(self) -> list:
        return [k for k, _ in self.meta["experiment"]["axes"]]

    @property
    def precision(self) -> dict:
        return self.manifest.get("precision", {})

    @cached_property
    def scenarios(self) -> pd.DataFrame:
        return pd.read_csv(self.root / "scenarios.csv")

    def _parquet(self, name) -> pd.DataFrame:
        from .._io import read_parquet

        path = self.root / name
        if path.is_file():
            return read_parquet(path)
        if not self.complete:  # read what the chunks hold so far
            table = {"replications.parquet": "summary", "models.parquet": "models", "series.parquet": "series"}[name]
            return CampaignStore(self.root).read_chunks(self.manifest.get("chunks", []), table)
        return pd.DataFrame()

    @cached_property
    def replications(self) -> pd.DataFrame:
        return self._parquet("replications.parquet")

    @cached_property
    def models(self) -> pd.DataFrame:
        return self._parquet("models.parquet")

    @cached_property
    def series(self) -> pd.DataFrame:
        return self._parquet("series.parquet")

    def _csv(self, name) -> pd.DataFrame:
        path = self.root / name
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    @cached_property
    def stats(self) -> pd.DataFrame:
        return self._csv("stats.csv")

    @cached_property
    def compare(self) -> pd.DataFrame:
        return self._csv("compare.csv")

    @cached_property
    def warmup(self) -> pd.DataFrame:
        return self._csv("warmup.csv")

    def scenario(self, name_or_index) -> pd.DataFrame:
        """The replications of one scenario, indexed by replication, its summary columns only."""
        name = name_or_index if isinstance(name_or_index, str) else f"s{int(name_or_index):03d}"
        rows = self.replications[self.replications["scenario"] == name]
        drop = ["scenario", *self.axes]
        out = rows.drop(columns=[c for c in drop if c in rows.columns]).set_index("replication")
        return out.dropna(axis=1, how="all")

    def report(self, out=None) -> Path:
        """Write ``report.md`` and its plots into the campaign folder (or ``out``); returns the report's path."""
        from .report import write_report

        return write_report(self, Path(out) if out is not None else self.root)

    def __repr__(self) -> str:
        n = len(self.scenarios)
        state = "complete" if self.complete else "incomplete"
        return f"CampaignResults({self.name!r}: {n} scenarios, {len(self.replications)} replications, {state})"


def metric_summary(stats: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One metric's rows of a stats table."""
    return stats[stats["metric"] == metric].reset_index(drop=True)


def finite(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[np.isfinite(x)]
