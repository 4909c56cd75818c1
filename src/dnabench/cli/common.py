"""What every command module shares: the console and the runner that turns user errors into one line."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["console", "run", "fail"]

console = Console()
T = TypeVar("T")


def fail(message: str, code: int = 2) -> None:
    """Print `error: message` and exit with `code` (2: bad input or usage)."""
    console.print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def run(fn: Callable[[], T]) -> T:
    """Call fn; turn expected user errors into a one-line message and exit code 2."""
    from dnabench.data.store import StoreError
    from dnabench.io.files import InputError
    from dnabench.io.genome import UnknownChromosomeError
    from dnabench.training.errors import NonFiniteLossError

    try:
        return fn()
    except (InputError, StoreError, UnknownChromosomeError, NonFiniteLossError, FileNotFoundError, FileExistsError, ValueError, KeyError) as err:
        text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        fail(str(text))
    raise AssertionError("unreachable")  # pragma: no cover


_ = Any
