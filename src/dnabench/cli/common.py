"""What every command module shares: the console and the runner that turns user errors into one line."""

from __future__ import annotations

import warnings
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "run", "fail", "warn"]

console = Console()
T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    """Print `error: message` and exit with `code` (2: bad input or usage)."""
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """Print `warning: message` (the command goes on)."""
    console.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def run(fn: Callable[[], T], show: tuple[type[Warning], ...] = ()) -> T:
    """Call fn; turn expected user errors into a one-line message and exit code 2.

    Warnings of the `show` categories are printed as one `warning:` line each, every time they
    are raised, instead of Python's file:line form.
    """
    from dnabench.data.store import StoreError
    from dnabench.io.files import InputError
    from dnabench.io.genome import UnknownChromosomeError
    from dnabench.training.errors import NonFiniteLossError

    with warnings.catch_warnings():
        if show:
            previous = warnings.showwarning

            def show_line(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
                if issubclass(category, show):
                    warn(str(message))
                else:
                    previous(message, category, filename, lineno, file, line)

            warnings.showwarning = show_line
            for category in show:
                warnings.simplefilter("always", category)
        try:
            return fn()
        except (InputError, StoreError, UnknownChromosomeError, NonFiniteLossError, FileNotFoundError, FileExistsError, ValueError, KeyError) as err:
            text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
            fail(str(text))
    raise AssertionError("unreachable")  # pragma: no cover
