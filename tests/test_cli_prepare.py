"""`dnabench prepare NAME` is generated from an options dataclass: flags, lists, choices, errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import typer
from typer.testing import CliRunner

from dnabench.cli.common import console, run
from dnabench.cli.prepare import command_callback
from dnabench.tasks.base import PrepareCommand, option

SEEN: list = []


@dataclass
class Options:
    files: list[Path] = option(help="Input files.", argument=True)
    out: Path = option(help="Output folder.", short="-o")
    split: tuple[float, float, float] = option((0.8, 0.1, 0.1), help="Fractions.")
    chroms: Optional[list[str]] = option(None, help="Chromosomes.")
    mode: Literal["drop", "error"] = option("drop", help="What to do.")
    strict: bool = option(False, help="Be strict.")
    count: int = option(3, help="How many.")


class Done:
    def __init__(self, options: Options) -> None:
        self.options = options

    def summary(self) -> str:
        return f"built {self.options.out.name} from {len(self.options.files)} files"


def build(options: Options) -> Done:
    """Toy: records its options."""
    SEEN.append(options)
    return Done(options)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("toy")(command_callback(PrepareCommand("toy", Options, build), console, run))
    app.command("other")(lambda: None)
    return app


def test_flags_lists_and_defaults(tmp_path):
    SEEN.clear()
    res = CliRunner().invoke(_app(), ["toy", "a.bed", "b.bed", "-o", str(tmp_path / "s"), "--split", "0.5,0.25,0.25",
                                      "--chroms", "chr1,chr2", "--strict", "--count", "5"])
    assert res.exit_code == 0, res.output
    assert "built s from 2 files" in res.output
    (o,) = SEEN
    assert o.files == [Path("a.bed"), Path("b.bed")] and o.split == (0.5, 0.25, 0.25) and o.chroms == ["chr1", "chr2"]
    assert (o.mode, o.strict, o.count) == ("drop", True, 5)
    SEEN.clear()
    assert CliRunner().invoke(_app(), ["toy", "a.bed", "-o", str(tmp_path / "s")]).exit_code == 0
    assert SEEN[0].split == (0.8, 0.1, 0.1) and SEEN[0].chroms is None


def test_help_shows_help_text_defaults_and_choices():
    out = CliRunner().invoke(_app(), ["toy", "--help"]).output
    for text in ("Input files.", "Fractions.", "0.8,0.1,0.1", "One of: drop, error.", "--strict", "Toy: records its options."):
        assert text in out, text


def test_bad_values_are_one_line_errors(tmp_path):
    app = _app()
    res = CliRunner().invoke(app, ["toy", "a.bed", "-o", str(tmp_path), "--mode", "drpo"])
    assert res.exit_code == 2 and "mode must be one of 'drop', 'error'; got 'drpo'" in res.output
    res = CliRunner().invoke(app, ["toy", "a.bed", "-o", str(tmp_path), "--split", "0.5,0.5"])
    assert res.exit_code == 2 and "expected three comma-separated values" in res.output
    res = CliRunner().invoke(app, ["toy", "a.bed", "-o", str(tmp_path), "--split", "a,b,c"])
    assert res.exit_code == 2 and "float" in res.output
    res = CliRunner().invoke(app, ["toy", "a.bed"])
    assert res.exit_code == 2 and "--out" in res.output


def test_every_registered_task_has_a_prepare_command():
    from dnabench.cli import app
    from dnabench.tasks import prepare_commands

    out = CliRunner().invoke(app, ["prepare", "--help"]).output
    for name in prepare_commands():
        assert name in out
