"""`dnabench prepare NAME`: one command per task module, generated from its options dataclass.

Each option's flag, help text, default and choices come from the dataclass field (see
`dnabench.tasks.base.option`), so adding a task adds its command with no code here. Lists and
tuples are given comma-separated (`--split 0.8,0.1,0.1`); a positional list takes several files.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Annotated, Any, Callable, Literal, get_args, get_origin

import typer
from rich.console import Console

from dnabench.tasks.base import REQUIRED, PrepareCommand

__all__ = ["register_prepare", "command_callback"]


_WORDS = {2: "two", 3: "three", 4: "four"}


def _unwrap_optional(hint: Any) -> Any:
    if get_origin(hint) is typing.Union:
        inner = [a for a in get_args(hint) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return hint


def _is_sequence(hint: Any) -> bool:
    return get_origin(hint) in (list, tuple)


def _element_type(hint: Any) -> Any:
    args = [a for a in get_args(hint) if a is not Ellipsis]
    return args[0] if args else str


def _flag_default(value: Any) -> Any:
    """A list or tuple default as the comma-separated text the flag takes."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value


def _parameter(field: dataclasses.Field, hint: Any) -> inspect.Parameter:
    meta = field.metadata
    base = _unwrap_optional(hint)
    names = [f"--{field.name.replace('_', '-')}"] + ([meta["short"]] if meta.get("short") else [])
    default = field.default
    if default is REQUIRED and field.default_factory is not REQUIRED:  # type: ignore[misc]
        default = field.default_factory()  # type: ignore[misc]
    help_text = meta["help"]
    if get_origin(base) is Literal:  # checked by check_options, with the choices in the message
        annotation: Any = str
        help_text = f"{help_text} One of: {', '.join(str(a) for a in get_args(base))}."
    elif _is_sequence(base) and meta.get("argument"):
        annotation = list[_element_type(base)]  # type: ignore[misc]
    elif _is_sequence(base):
        annotation = str
        default = _flag_default(default)
    elif base is bool:
        annotation = bool
        names = [f"--{field.name.replace('_', '-')}/--no-{field.name.replace('_', '-')}"]
    else:
        annotation = base
    if meta.get("argument"):
        info = typer.Argument(help=help_text, show_default=default is not REQUIRED)
    else:
        info = typer.Option(*names, help=help_text, show_default=default is not REQUIRED)
    kwargs = {} if default is REQUIRED else {"default": default}
    if default is None:
        annotation = typing.Optional[annotation]
    return inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[annotation, info], **kwargs)


def _convert(name: str, hint: Any, value: Any) -> Any:
    """A comma-separated flag value back to the list or tuple the options dataclass holds."""
    base = _unwrap_optional(hint)
    if value is None or not _is_sequence(base) or not isinstance(value, str):
        return value
    element = _element_type(base)
    parts = [p.strip() for p in value.split(",") if p.strip()]
    try:
        items = [element(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"{value!r}: expected comma-separated {element.__name__} values", param_hint=f"--{name.replace('_', '-')}") from None
    if get_origin(base) is tuple:
        fixed = [a for a in get_args(base) if a is not Ellipsis]
        if Ellipsis not in get_args(base) and len(items) != len(fixed):
            count = _WORDS.get(len(fixed), str(len(fixed)))
            raise typer.BadParameter(f"{value!r}: expected {count} comma-separated values", param_hint=f"--{name.replace('_', '-')}")
        return tuple(items)
    return items


def command_callback(command: PrepareCommand, console: Console, run: Callable[[Callable[[], Any]], Any]) -> Callable[..., None]:
    """A typer callback whose signature is the command's options, which runs it and prints the result."""
    hints = typing.get_type_hints(command.options)
    fields = dataclasses.fields(command.options)

    def callback(**values: Any) -> None:
        values = {k: _convert(k, hints[k], v) for k, v in values.items()}
        for key, value in values.items():
            if isinstance(value, list) and _unwrap_optional(hints[key]) is not hints[key] and not value:
                values[key] = None
        try:
            result = run(lambda: command(**values))
        except ImportError as err:  # an optional dependency (h5py for DeepSEA's train.mat)
            console.print(f"[red]error:[/] {err}", soft_wrap=True)
            raise typer.Exit(2) from None
        console.print(command.describe(result), soft_wrap=True, markup=False, highlight=False)

    callback.__signature__ = inspect.Signature([_parameter(f, hints[f.name]) for f in fields])  # type: ignore[attr-defined]
    callback.__doc__ = (command.run.__doc__ or command.name).strip()
    callback.__name__ = f"prepare_{command.name.replace('-', '_')}"
    return callback


def register_prepare(app: typer.Typer, console: Console, run: Callable[[Callable[[], Any]], Any]) -> None:
    """Add `prepare NAME` for every prepare command the task registry finds."""
    from dnabench.tasks import prepare_commands

    prepare_app = typer.Typer(help="Build a task's dataset store from raw files.", no_args_is_help=True)
    app.add_typer(prepare_app, name="prepare")
    for name, command in prepare_commands().items():
        prepare_app.command(name, help=command.help)(command_callback(command, console, run))

