"""The README's walkthrough (real trace -> import -> replay -> fit -> generate x10 -> replay) runs as written."""
import re
import shlex
from pathlib import Path

import pytest

from fastpipesim.cli import main

ROOT = Path(__file__).resolve().parent.parent
OPENB = ROOT.parent / "shared" / "traces-real" / "alibaba-gpu-v2023-openb"
if not OPENB.exists():
    OPENB = Path("/work/shared/traces-real/alibaba-gpu-v2023-openb")


def walkthrough_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## From a real trace to a synthetic one")[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


@pytest.mark.skipif(not OPENB.exists(), reason="the openb sample is not beside the repository")
def test_readme_walkthrough_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lines = walkthrough_commands()
    assert lines[0].startswith("OPENB=")
    for line in lines[1:]:
        argv = shlex.split(line.replace("$OPENB", str(OPENB)))
        assert argv[0] == "fastpipesim"
        if argv[1] == "fit":
            pytest.importorskip("matplotlib")
        assert main(argv[1:]) == 0, line
    import pandas as pd

    assert (tmp_path / "openb" / "IMPORT.md").exists()
    assert (tmp_path / "openb-fit.png").stat().st_size > 10_000
    real = len(pd.read_csv(tmp_path / "openb" / "pipelines.csv"))
    bigger = len(pd.read_csv(tmp_path / "openb-x10" / "pipelines.csv"))
    assert 9.0 < bigger / real < 11.0  # "ten times bigger", up to Poisson noise
    assert len(pd.read_csv(tmp_path / "openb-tasks.csv")) == real
    # ... and ten times the work: GPU- and CPU-hours within 10% of ten times the trace's (one
    # replication at x10 varies by ~6% in GPU and CPU work between seeds)
    t1 = pd.read_csv(tmp_path / "openb" / "tasks.csv")
    t10 = pd.read_csv(tmp_path / "openb-x10" / "tasks.csv")
    for col in ("gpu", "cpu"):
        ratio = (t10[col] * t10["duration"]).sum() / (t1[col] * t1["duration"]).sum()
        assert 9.0 < ratio < 11.0, (col, ratio)
