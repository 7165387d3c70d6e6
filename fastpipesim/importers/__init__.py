"""Importers of public cluster traces into the fastpipesim trace format (MODEL.md 2).

Each importer module defines ``FORMAT`` (its name on the command line), a
one-line ``DESCRIPTION``, and ``read(*sources, **options) -> ImportResult``.
Nothing is dropped silently: every row an importer leaves out is counted in
``ImportResult.dropped`` with the reason.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import pandas as pd

# FORMAT -> module, filled in as importers are added
_MODULES = {
    "alibaba-2018": "alibaba2018",
    "alibaba-gpu-2023": "alibaba_gpu2023",
    "alibaba-gpu-2020": "alibaba_gpu2020",
    "helios": "helios",
    "philly": "philly",
}


@dataclass
class ImportResult:
    """What an importer produced.

    Attributes
    ----------
    trace : Trace
        The imported workload, validated.
    cluster : Cluster or None
        The cluster the trace ran on, when the source describes it.
    dropped : DataFrame
        One row per reason: ``reason``, ``rows`` (how many source rows), and
        ``example`` (one offending source row or id, as text).
    notes : list of str
        How the source's fields were mapped, in plain words (also written to
        the output folder's IMPORT.md by the command line).
    """

    trace: object
    cluster: object = None
    dropped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["reason", "rows", "example"]))
    notes: list = field(default_factory=list)


def formats() -> list[str]:
    """The formats whose importer module is present."""
    import importlib.util

    return sorted(f for f, m in _MODULES.items() if importlib.util.find_spec(f"{__name__}.{m}") is not None)


def importer(fmt: str):
    """The module of format ``fmt``."""
    if fmt not in formats():
        raise ValueError(f"unknown trace format {fmt!r}; known formats: {', '.join(formats())}")
    return importlib.import_module(f"{__name__}.{_MODULES[fmt]}")


def read(fmt: str, *sources, **options) -> ImportResult:
    """Import ``sources`` (files or folders) of format ``fmt``."""
    return importer(fmt).read(*sources, **options)
