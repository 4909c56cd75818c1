"""The early input check: the same message as the command's own, before typer or PyTorch load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.cli.early import INPUT_OPTIONS, missing_input

runner = CliRunner()


def _argv(command: str, flag: str, tmp_path: Path) -> list[str]:
    """Arguments that reach `command`'s own check of `flag`, with only `flag`'s path missing."""
    missing = str(tmp_path / "missing" / "thing")
    table = tmp_path / "t.csv"
    table.write_text("sequence,label\nACGT,1\n")
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text("{}\n")
    (run / "best" / "config.json").write_text("{}\n")
    if command == "train":
        base = [] if flag in ("--data", "--config") else ["--data", str(table)]
        return ["train", *base, flag, missing, "--out", str(tmp_path / "r")]
    if command == "evaluate":
        return ["evaluate", str(run), flag, missing]
    if command == "predict":
        return ["predict", str(run), str(table), "--out", str(tmp_path / "p.csv"), flag, missing]
    return [command, flag, missing, "--out", str(tmp_path / "r")]


CASES = [(command, flag) for command, flags in INPUT_OPTIONS.items() for flag in flags]


@pytest.mark.parametrize("command, flag", CASES, ids=[f"{c} {f}" for c, f in CASES])
def test_early_message_is_the_commands_own(command, flag, tmp_path):
    argv = _argv(command, flag, tmp_path)
    early = missing_input(argv)
    assert early is not None and flag in early
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == f"error: {early}"


def test_existing_inputs_help_and_other_commands_are_left_to_the_app(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("sequence,label\nACGT,1\n")
    assert missing_input(["train", "--data", str(table), "--out", str(tmp_path / "r")]) is None
    assert missing_input(["train", f"--data={table}"]) is None
    assert missing_input(["train", "--data", str(tmp_path / "nope.csv"), "--help"]) is None
    assert missing_input(["report", "--data", str(tmp_path / "nope")]) is None
    assert missing_input([]) is None
    assert missing_input(["train", f"--data={tmp_path / 'nope.csv'}"]) == f"{tmp_path / 'nope.csv'}: no such file or folder (--data)"


def test_a_missing_input_loads_neither_typer_nor_pytorch(tmp_path):
    code = (
        "import sys\n"
        "from dnabench.cli import main\n"
        f"sys.argv = ['dnabench', 'train', '--data', {str(tmp_path / 'missing.csv')!r}, '--out', {str(tmp_path / 'r')!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
        "print('loaded', *(name in sys.modules for name in ('typer', 'rich', 'torch', 'pandas')), 'exit', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert f"error: {tmp_path / 'missing.csv'}: no such file or folder (--data)" in done.stdout, done.stdout + done.stderr
    assert "loaded False False False False exit 2" in done.stdout, done.stdout + done.stderr
