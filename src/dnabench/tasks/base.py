"""The task contract: a task module declares a spec, an options dataclass and a build function.

    SPEC = TaskSpec(...)                         # dnabench.data.task

    @dataclass
    class Options:
        promoters: Path = option(help="EPD promoters (BED).", argument=True)
        genome: Path = option(help="Genome cache folder.", short="-g")
        out: Path = option(help="Store folder to create.", short="-o")
        seed: int = option(0, help="Random seed.")

    def build(options: Options) -> Store: ...

    PREPARE = (PrepareCommand("promvary", Options, build, SPEC),)

The registry finds every module of `dnabench.tasks` with a `PREPARE` tuple; `dnabench prepare
NAME` is generated from the options dataclass (help text, defaults, choices), so a new task
needs no CLI code. A prepare step that makes no store (the Track7878 track table, say) is a
`PrepareCommand` without a spec.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass
from typing import Any, Literal, get_args, get_origin

from dnabench.data.task import TaskSpec

__all__ = ["PrepareCommand", "option", "check_options", "REQUIRED"]

#: default of an option the user must give
REQUIRED: Any = MISSING


def option(
    default: Any = REQUIRED,
    *,
    help: str,
    argument: bool = False,
    short: str | None = None,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field of a task's options, with the help text and CLI shape of its flag.

    `argument=True` makes it positional (`dnabench prepare TASK FILE...`); `short` adds a short
    flag such as "-g". Lists and tuples are given comma-separated on the command line.
    """
    metadata = {"help": help, "argument": argument, "short": short}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_options(options: Any) -> None:
    """Every Literal field of an options dataclass holds one of its listed values."""
    hints = typing.get_type_hints(type(options))
    for f in dataclasses.fields(options):
        hint = hints[f.name]
        if get_origin(hint) is typing.Union:
            inner = [a for a in get_args(hint) if a is not type(None)]
            hint = inner[0] if len(inner) == 1 else hint
        if get_origin(hint) is Literal:
            value = getattr(options, f.name)
            if value is not None and value not in get_args(hint):
                choices = ", ".join(repr(a) for a in get_args(hint))
                raise ValueError(f"{f.name.replace('_', '-')} must be one of {choices}; got {value!r}")


def _summary(result: Any) -> str:
    return result.summary()


@dataclass(frozen=True)
class PrepareCommand:
    """One `dnabench prepare NAME` command: options dataclass -> run(options) -> result.

    `spec` is the task whose store `run` builds, or None for a step that prepares raw files.
    `describe` turns the result into the lines the CLI prints (a store's summary by default).
    """

    name: str
    options: type
    run: Callable[[Any], Any]
    spec: TaskSpec | None = None
    describe: Callable[[Any], str] = _summary

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.options):
            raise TypeError(f"prepare {self.name}: options must be a dataclass, got {self.options!r}")
        for f in dataclasses.fields(self.options):
            if "help" not in f.metadata:
                raise TypeError(f"prepare {self.name}: option {f.name!r} has no help text (use dnabench.tasks.base.option)")

    @property
    def help(self) -> str:
        """The first line of the run function's docstring."""
        return ((self.run.__doc__ or self.name).strip().splitlines() or [self.name])[0]

    def __call__(self, **values: Any) -> Any:
        """Build the options from keyword values (checked) and run."""
        options = self.options(**values)
        check_options(options)
        return self.run(options)
