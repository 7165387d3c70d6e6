"""Campaigns: many scenarios x many replications, from one experiment file, on threads or Dask.

>>> import fastpipesim as fps
>>> camp = fps.Campaign.from_toml("experiment.toml")          # doctest: +SKIP
>>> res = camp.run("results/", workers=2)                      # doctest: +SKIP
>>> res.stats, res.compare                                     # doctest: +SKIP
>>> fps.CampaignResults.open("results/").report()              # doctest: +SKIP

A campaign composes :func:`fastpipesim.simulate` and holds no simulation
logic. The modules: ``spec`` (the experiment file and its scenarios),
``run`` (rounds, units, resume), ``execute`` (threads or Dask),
``store`` (the folder), ``stats`` (intervals, paired comparisons, MSER-5),
``report`` (report.md and plots), ``results`` (reading a folder back).
"""
from __future__ import annotations

from pathlib import Path

from .results import CampaignResults
from .spec import Experiment, ExperimentError, load_toml

__all__ = ["Campaign", "CampaignResults", "ExperimentError"]


class Campaign:
    """An experiment ready to run.

    Build it from a TOML file (:meth:`from_toml`) or from the same structure as
    a dict (``Campaign({...})``); either is checked completely when it is built,
    so a bad experiment fails before anything runs.
    """

    def __init__(self, experiment: dict, *, base_dir=None):
        self.experiment = Experiment(experiment, source="<dict>", base_dir=base_dir)

    @classmethod
    def from_toml(cls, path) -> "Campaign":
        self = cls.__new__(cls)
        self.experiment = load_toml(path)
        return self

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def scenarios(self):
        """One row per scenario: name, label and swept values (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame([{"scenario": s.name, "label": s.label, **s.values} for s in self.experiment.scenarios])

    def simulate_args(self, scenario: int) -> tuple:
        """``(workload, cluster, keywords)``: what ``fps.simulate`` is called with for a scenario
        (besides ``seed`` and ``replications``)."""
        from .functions import resolve
        from .run import scenario_inputs

        workload, cluster, kwargs = scenario_inputs(self.experiment, self.experiment.scenarios[int(scenario)])
        return workload, cluster, resolve(kwargs)

    def run(self, out, *, resume: bool = False, threads: int | None = None, workers: int | None = None,
            scheduler: str | None = None, progress=None, batch: int | None = None) -> CampaignResults:
        """Run into the folder ``out`` (new or empty), or resume the campaign there.

        Parameters
        ----------
        out : path
        resume : bool
            Compute only what is missing from ``out``; refuses if the experiment changed.
        threads : int, optional
            Threads in this process (default: all cores), or per Dask worker.
        workers : int, optional
            Run on a local Dask cluster of this many worker processes.
        scheduler : str, optional
            Run on the Dask cluster at this address (``tcp://host:8786``).
        progress : bool, optional
            A progress bar (None: on a terminal only).
        batch : int, optional
            Replications per unit of work (one ``simulate`` call; default 25).
        """
        from .run import run_campaign

        return run_campaign(self.experiment, Path(out), resume=resume, threads=threads, workers=workers,
                            scheduler=scheduler, progress=progress, unit_size=batch)

    def __repr__(self) -> str:
        e = self.experiment
        return f"Campaign({e.name!r}: {len(e.scenarios)} scenarios, seed {e.seed})"
