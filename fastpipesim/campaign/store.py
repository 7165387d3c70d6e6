"""A campaign's folder: the experiment as run, chunks written as units complete, the final tables.

Layout of ``DIR``::

    experiment.toml      the experiment file as given (experiment.json for a dict)
    campaign.json        the resolved experiment and its digest (what --resume checks)
    scenarios.csv        one row per scenario: its name, label and swept values
    manifest.json        the chunks written so far (the only list a reader trusts)
    chunks/sNNN/rAAAAAA-BBBBBB.{summary,models,series}.arrow   (Arrow IPC files)
    replications.parquet one row per scenario and replication (the chunks, in order)
    models.parquet       per scenario, replication and model (lifecycle metrics)
    series.parquet       binned time series, when the experiment keeps them
    stats.csv, compare.csv, warmup.csv, report.md, *.png   (statistics and the report)

Every file is written under a temporary name and renamed into place, and the
manifest is replaced the same way after a chunk's files are in place, so a
reader or a resumed run never sees half a file: a chunk the manifest does not
list is not data, whatever is on disk.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd

FORMAT = "fastpipesim-campaign"
FORMAT_VERSION = 1
TABLES = ("summary", "models", "series")
_TMP = ".tmp-"


def atomic_write_bytes(path: Path, data: bytes, durable: bool = True) -> None:
    tmp = path.with_name(f"{path.name}{_TMP}{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def arrow_table(frame: pd.DataFrame):
    """The frame as an Arrow table, column by column from NumPy (pandas' own conversion costs
    tens of ms for a small frame of many columns; a campaign writes one per unit)."""
    import pyarrow as pa

    arrays = []
    for c in frame.columns:
        col = frame[c]
        if col.dtype.kind in "biuf":
            arrays.append(pa.array(col.to_numpy()))
        elif col.dtype == object:
            arrays.append(pa.array(col.tolist()))
        else:  # pandas' Arrow-backed strings and others hand over their Arrow array
            arrays.append(pa.array(col))
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


def atomic_write_parquet(frame: pd.DataFrame, path: Path, durable: bool = True) -> int:
    """Write, then rename into place; returns the file's size. ``durable=False`` skips the
    fsync: the file survives a killed process but maybe not a crash of the machine, which
    the manifest's recorded size detects (see ``CampaignStore.valid_chunks``). A name
    ending in ``.arrow`` is written as an Arrow IPC file (the chunks: a few times cheaper
    to write than Parquet for a small table), any other as Parquet."""
    tmp = path.with_name(f"{path.name}{_TMP}{os.getpid()}")
    table = arrow_table(frame)
    if path.suffix == ".arrow":
        import pyarrow.feather as feather

        feather.write_feather(table, tmp, compression="uncompressed")
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, tmp)
    if durable:
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    size = tmp.stat().st_size
    os.replace(tmp, path)
    return size


def atomic_write_csv(frame: pd.DataFrame, path: Path, index: bool = False) -> None:
    atomic_write_text(path, frame.to_csv(index=index))


class CampaignStore:
    """Reads and writes one campaign folder (see the module docstring)."""

    def __init__(self, root):
        self.root = Path(root)
        self.chunk_dir = self.root / "chunks"

    # ------------------------------------------------------------------ set-up
    def exists(self) -> bool:
        return (self.root / "campaign.json").is_file()

    def create(self, exp, resolved: dict, digest: str) -> None:
        """Start a new campaign in an empty (or absent) folder."""
        if self.root.exists() and any(self.root.iterdir()):
            if self.exists():
                raise ValueError(f"{self.root}: holds a campaign already; resume it with --resume, "
                                 "or choose another --out")
            raise ValueError(f"{self.root}: the folder is not empty; choose an empty or new --out folder")
        self.root.mkdir(parents=True, exist_ok=True)
        if exp.text is not None:
            atomic_write_text(self.root / "experiment.toml", exp.text)
        else:
            atomic_write_text(self.root / "experiment.json", json.dumps(exp.data, indent=1, default=str) + "\n")
        atomic_write_text(self.root / "campaign.json", json.dumps(
            {"format": FORMAT, "version": FORMAT_VERSION, "digest": digest, "experiment": resolved},
            indent=1, sort_keys=True, default=str) + "\n")
        rows = []
        for s in exp.scenarios:
            rows.append({"scenario": s.name, "label": s.label, **{k: _cell(v) for k, v in s.values.items()}})
        atomic_write_csv(pd.DataFrame(rows), self.root / "scenarios.csv")
        self.chunk_dir.mkdir(exist_ok=True)
        self.write_manifest([], complete=False, digest=digest)

    def check_resume(self, digest: str) -> None:
        """Refuse to resume a campaign whose experiment changed (or a folder that holds none)."""
        if not self.exists():
            raise ValueError(f"{self.root}: no campaign to resume here (no campaign.json); run without --resume")
        meta = self.meta()
        if meta.get("digest") != digest:
            raise ValueError(
                f"{self.root}: the experiment differs from the one this campaign ran (its scenarios, "
                "replications, seed, workload, cluster, run settings or the files they read changed); "
                "resuming would mix two experiments. Run the changed experiment into a new --out folder."
            )
        for p in self.root.rglob(f"*{_TMP}*"):  # files a killed run left half-written
            p.unlink(missing_ok=True)
        self.chunk_dir.mkdir(exist_ok=True)

    def meta(self) -> dict:
        return json.loads((self.root / "campaign.json").read_text())

    # ------------------------------------------------------------------ chunks
    def manifest(self) -> dict:
        path = self.root / "manifest.json"
        if not path.is_file():
            return {"chunks": [], "complete": False}
        return json.loads(path.read_text())

    def write_manifest(self, chunks: list, complete: bool, digest: str, extra: dict | None = None) -> None:
        body = {"digest": digest, "complete": complete, "chunks": chunks, **(extra or {})}
        atomic_write_text(self.root / "manifest.json", json.dumps(body, indent=1, sort_keys=True) + "\n")

    def chunk_path(self, scenario: str, first: int, last: int, table: str) -> Path:
        return self.chunk_dir / scenario / f"r{first:06d}-{last:06d}.{table}.arrow"

    def write_chunk(self, scenario: str, first: int, last: int, tables: dict) -> dict:
        """Write a unit's tables; returns its manifest entry (written by the caller after this).

        Chunk files are not fsynced one by one (the manifest is): each one's size goes
        into the manifest, and a chunk whose files do not have their sizes is not data.
        """
        (self.chunk_dir / scenario).mkdir(parents=True, exist_ok=True)
        entry = {"scenario": scenario, "first": int(first), "last": int(last), "tables": [], "sizes": []}
        for name in TABLES:
            frame = tables.get(name)
            if frame is None:
                continue
            size = atomic_write_parquet(frame, self.chunk_path(scenario, first, last, name), durable=False)
            entry["tables"].append(name)
            entry["sizes"].append(size)
        return entry

    def valid_chunks(self, chunks: list) -> list:
        """The listed chunks whose files are all there with their recorded sizes (a machine that
        crashed may have lost the last chunks' data though their listing survived)."""
        ok = []
        for c in chunks:
            paths = [self.chunk_path(c["scenario"], c["first"], c["last"], t) for t in c["tables"]]
            sizes = c.get("sizes", [None] * len(paths))
            if all(p.is_file() and (n is None or p.stat().st_size == n) for p, n in zip(paths, sizes)):
                ok.append(c)
        return ok

    def read_chunks(self, chunks: list, table: str, cache: dict | None = None) -> pd.DataFrame:
        """The chunks' rows of one table, in (scenario, first replication) order. ``cache`` maps
        (scenario, first, table) to frames already in memory (a run that wrote them)."""
        frames = []
        for c in sorted(chunks, key=lambda c: (c["scenario"], c["first"])):
            if table in c["tables"]:
                key = (c["scenario"], c["first"], table)
                if cache is not None and key in cache:
                    frames.append(cache[key])
                else:
                    frames.append(read_chunk(self.chunk_path(c["scenario"], c["first"], c["last"], table)))
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame()
        return pd.concat(frames, ignore_index=True)

    def remove_unlisted_chunks(self, chunks: list) -> None:
        """Delete chunk files the manifest does not list (a run killed between writing and listing)."""
        listed = {self.chunk_path(c["scenario"], c["first"], c["last"], t) for c in chunks for t in c["tables"]}
        if not self.chunk_dir.is_dir():
            return
        for p in self.chunk_dir.rglob("*.arrow"):
            if p not in listed:
                p.unlink(missing_ok=True)

    def clear_outputs(self, names) -> None:
        for n in names:
            p = self.root / n
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)


def read_chunk(path: Path) -> pd.DataFrame:
    import pyarrow.feather as feather

    return feather.read_table(path).to_pandas()


def _cell(v):
    return json.dumps(v) if isinstance(v, (dict, list)) else v
