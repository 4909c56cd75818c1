"""The `dnabench` command: a thin layer over the library, one module per command group.

    commands.py  the app: info, demo, and the groups below registered
    early.py     a missing input path reported before the app is built
    genome.py    genome index / info / fetch, tokenizer train-bpe
    data.py      download, store info
    prepare.py   prepare TASK, generated from each task module's options
    train.py     train, evaluate, predict
    (and pretrain.py, features.py, benchmark.py, report.py)

Importing this package loads nothing else: `main` checks the inputs first (`early`), then
builds the app (typer, rich, the command modules).
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "build_app", "main", "parse_region"]


def main() -> None:
    """The `dnabench` entry point: the task modules load only for `prepare` and the overall --help."""
    import sys

    from dnabench.cli.early import exit_if_missing_input

    exit_if_missing_input(sys.argv[1:])
    from dnabench.cli.commands import build_app

    first = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    build_app(with_prepare=first in (None, "prepare"))(prog_name="dnabench")


def __getattr__(name: str) -> Any:
    """`dnabench.cli.app` (the whole app, built on first use), `build_app` and `parse_region`."""
    if name == "app":
        from dnabench.cli.commands import build_app

        app = globals()["app"] = build_app()
        return app
    if name in ("build_app", "parse_region"):
        from dnabench.cli import commands

        return getattr(commands, name)
    raise AttributeError(f"module 'dnabench.cli' has no attribute {name!r}")
