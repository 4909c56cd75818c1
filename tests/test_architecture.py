"""docs/architecture.md: the worked "add a task" example is a working task module."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np

from dnabench.data.store import open_store
from dnabench.tasks.card import CARD_FIELDS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _example_module() -> types.ModuleType:
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    source = next(b for b in blocks if "PREPARE = (" in b)
    module = types.ModuleType("peaksignal_example")
    sys.modules[module.__name__] = module  # dataclasses resolve string annotations through it
    exec(compile(source, str(DOC), "exec"), module.__dict__)  # noqa: S102 - the project's own docs
    return module


def test_the_documented_task_builds_a_store(tmp_path, genome):
    module = _example_module()
    (command,) = module.PREPARE
    assert command.spec.name == "peaksignal" and "summit" in command.help
    rng = np.random.default_rng(0)
    starts = rng.integers(1000, 18_000, 40)
    lines = [f"chr1\t{s}\t{s + 300}\tp{i}\t0\t.\t{rng.random() * 50:.3f}\t-1\t-1\t{150 if i % 2 else -1}\n" for i, s in enumerate(starts)]
    peaks = tmp_path / "p.narrowPeak"
    peaks.write_text("".join(lines))
    store = command(peaks=peaks, genome=genome.path, out=tmp_path / "store")
    again = open_store(tmp_path / "store", verify=True)
    assert store.n_rows == again.n_rows == 40
    keys = list(again.card)
    assert [k for k in CARD_FIELDS if k not in keys] == []
    assert [keys.index(k) for k in CARD_FIELDS] == sorted(keys.index(k) for k in CARD_FIELDS)  # in the documented order
    assert again.card["parameters"]["seed"] == 0 and again.card["sample"] == {"kind": "window", "length": 1000}
    codes = again.sequences([0, 1], genome)
    assert codes.shape == (2, 1000)
    np.testing.assert_allclose(again.labels.dense([0])[0, 0], np.log1p(float(lines[0].split("\t")[6])), rtol=1e-6)


def test_the_documented_options_make_a_cli_command():
    from typer.testing import CliRunner
    import typer

    from dnabench.cli.common import console, run
    from dnabench.cli.prepare import command_callback

    module = _example_module()
    app = typer.Typer()
    app.command("peaksignal")(command_callback(module.PREPARE[0], console, run))
    app.command("other")(lambda: None)
    out = CliRunner().invoke(app, ["peaksignal", "--help"]).output
    assert "narrowPeak file." in out and "--genome" in out and "--seed" in out
