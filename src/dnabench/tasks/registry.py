"""The task registry: every module of `dnabench.tasks` that declares `PREPARE` is found here.

Nothing is listed by hand: a new task module (spec + options + build, see `dnabench.tasks.base`)
is a task of `get_task`, `list_tasks` and `dnabench prepare` as soon as it exists.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path

from dnabench.data.task import TaskSpec
from dnabench.tasks.base import PrepareCommand

__all__ = ["prepare_commands", "tasks", "get_task", "get_prepare", "list_tasks"]


def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


@cache
def prepare_commands() -> dict[str, PrepareCommand]:
    """Every prepare command by name, in module order (a module may declare several)."""
    found: dict[str, PrepareCommand] = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        module = importlib.import_module(f"{__package__}.{info.name}")
        for command in getattr(module, "PREPARE", ()):
            if not isinstance(command, PrepareCommand):
                raise TypeError(f"{module.__name__}.PREPARE holds {command!r}, not a PrepareCommand")
            if command.name in found:
                raise ValueError(f"prepare command {command.name!r} is declared twice ({module.__name__})")
            found[command.name] = command
    return found


def tasks() -> dict[str, PrepareCommand]:
    """The prepare commands that build a task's store, by task name."""
    return {c.spec.name: c for c in prepare_commands().values() if c.spec is not None}


def get_prepare(name: str) -> PrepareCommand:
    """A task's prepare command by task name (case-insensitive; '-' and '_' ignored)."""
    known = {_key(n): c for n, c in tasks().items()}
    if _key(name) not in known:
        raise KeyError(f"unknown task {name!r}; tasks: {', '.join(tasks())}")
    return known[_key(name)]


def get_task(name: str) -> TaskSpec:
    """The spec of a task by name (case-insensitive)."""
    spec = get_prepare(name).spec
    assert spec is not None
    return spec


def list_tasks() -> list[TaskSpec]:
    return [c.spec for c in tasks().values() if c.spec is not None]
