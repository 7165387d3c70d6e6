"""The README's examples run as written, so they cannot go stale."""
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {})


def test_readme_commands_match_ci():
    """.ci/run runs the README's test command (the README cannot lie about it)."""
    text = README.read_text()
    bash = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert any("fastpipesim run" in b for b in bash), "the first command must run the default experiment"
    test_cmd = [b for b in bash if "pytest" in b]
    assert test_cmd, "the README must give the test command"
    ci = (README.parent / ".ci" / "run").read_text()
    last = shlex.split(test_cmd[0].strip().split("&&")[-1])
    assert " ".join(last) in ci


def test_readme_run_output_is_what_fastpipesim_run_prints(capsys):
    """The sample output in the README is the default experiment's real output."""
    from fastpipesim.cli import main

    text = README.read_text()
    sample = re.search(r"`fastpipesim run` prints.*?```text\n(.*?)```", text, flags=re.S).group(1)
    assert main(["run", "--quiet"]) == 0
    out = capsys.readouterr().out
    for line in sample.splitlines():
        if line.strip():
            assert line.rstrip() in out, line
