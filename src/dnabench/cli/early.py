"""The commonest mistake, a mistyped input path, reported before the command-line app is built.

Building the app (typer reads every command's signature and imports pydantic to parse) takes
most of a second before a command can say that its `--data` does not exist. Here the input
options of the commands that read data are checked straight from the argument list, with no
import beyond the standard library, and reported with the message the command itself would
print (tests/test_cli_early.py holds the two to the same text). Anything else, and every
path that exists, is left to the app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["INPUT_OPTIONS", "missing_input", "exit_if_missing_input"]

#: per command, its options that name an input which must exist, and what the message calls it
INPUT_OPTIONS: dict[str, dict[str, str]] = {
    "train": {"--data": "file or folder", "--config": "file", "--init": "file or folder",
              "--tokenizer-path": "file or folder", "--genome": "file or folder"},
    "evaluate": {"--data": "file or folder", "--genome": "file or folder"},
    "predict": {"--genome": "genome cache"},
    "pretrain": {"--genome": "file or folder", "--config": "file or folder", "--tokenizer-path": "file or folder",
                 "--data": "file or folder"},
}


def _command(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def missing_input(argv: Sequence[str]) -> str | None:
    """The error message for the first named input of `argv` (arguments after the program name)
    that does not exist; None where there is none, or where help is asked for."""
    command = _command(argv)
    options = INPUT_OPTIONS.get(command or "")
    if not options or any(arg in ("--help", "-h") for arg in argv):
        return None
    args = list(argv[argv.index(command) + 1 :])
    for i, arg in enumerate(args):
        flag, _, value = arg.partition("=")
        if flag not in options:
            continue
        if not value and i + 1 < len(args) and not args[i + 1].startswith("--"):
            value = args[i + 1]
        if value and not os.path.exists(value):
            return f"{value}: no such {options[flag]} ({flag})"
    return None


def exit_if_missing_input(argv: Sequence[str]) -> None:
    """Print `error: ...` as the commands do and exit with status 2 when an input is missing."""
    message = missing_input(argv)
    if message is None:
        return
    red = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(f"\033[31merror:\033[0m {message}" if red else f"error: {message}", flush=True)
    raise SystemExit(2)
