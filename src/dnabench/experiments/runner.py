"""`run_benchmark`: turn an experiment config into finished run folders and a results table.

Rules, so that a benchmark can be killed and started again at any point:

- a step whose folder is complete is skipped; one with a checkpoint and no result is resumed
  (`resume_run` / `resume_pretrain`); a folder that this benchmark made and that holds neither
  (a run that failed early) is moved aside to NAME.failed-N and the step starts again; a folder
  it did not make is never touched (an error says so);
- OUT/plan.json (the steps), OUT/state.json (what each step did) and the results files are
  rewritten after every finished step;
- a step that fails is recorded with its error and the steps that need it are left out; the
  others still run.

With one device or none the steps run here, one at a time (a new Python process would cost
seconds a run, more than a small run takes on a CPU). With `devices` > 1, one step per GPU runs
at once, each in its own process (`python -m dnabench.experiments.steps`) with
CUDA_VISIBLE_DEVICES set to its GPU, and its output in OUT/logs/.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

from dnabench.experiments.config import ExperimentConfig, load_experiment
from dnabench.experiments.plan import Plan, Step, build_plan, format_seconds, select
from dnabench.experiments.results import load_reference, write_results
from dnabench.experiments.steps import check_step, execute_step, move_aside, step_state
from dnabench.io.files import file_lock, write_json

__all__ = ["BenchmarkResult", "StepBlocked", "StepFailed", "changed_steps", "check_plan", "print_plan", "run_benchmark", "schedule"]

PLAN_FILE = "plan.json"
STATE_FILE = "state.json"


class StepBlocked(Exception):
    """A step left out because a step it needs failed."""


class StepFailed(RuntimeError):
    """A step's process ended with an error (its log says more)."""


@dataclass
class BenchmarkResult:
    plan: Plan
    out: Path
    dry_run: bool = False
    #: finished in this call / complete before it / failed (id -> error) / left out after a failure
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    results: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.blocked and not self.problems


def schedule(
    steps: Sequence[Step],
    slots: Sequence[Optional[str]],
    execute: Callable[[Step, Optional[str]], None],
    finished: Callable[[Step, Optional[BaseException]], None],
    complete: set[str] | None = None,
    started: Callable[[Step, Optional[str]], None] | None = None,
) -> None:
    """Run `steps` on `slots` (devices), never one before the steps it needs have finished.

    One slot: here, in order. Several: one step per free slot at once, on threads (each
    `execute` starts a process). `complete` are ids already done; a failed step's dependents
    are reported to `finished` with a StepBlocked error and not run.
    """
    done = set(complete or ())
    bad: set[str] = set()
    waiting = [s for s in steps if s.id not in done]

    def block_orphans() -> None:
        for step in list(waiting):
            if any(n in bad for n in step.needs):
                waiting.remove(step)
                bad.add(step.id)
                finished(step, StepBlocked(f"needs {', '.join(n for n in step.needs if n in bad)}, which did not finish"))

    if len(slots) <= 1:
        slot = slots[0] if slots else None
        while waiting:
            block_orphans()
            if not waiting:
                break
            step = waiting.pop(0)
            missing = [n for n in step.needs if n not in done]
            if missing:
                raise ValueError(f"step {step.id} comes before {missing}, which it needs")
            if started:
                started(step, slot)
            try:
                execute(step, slot)
            except Exception as err:  # recorded; KeyboardInterrupt and SystemExit stop the benchmark
                bad.add(step.id)
                finished(step, err)
            else:
                done.add(step.id)
                finished(step, None)
        return
    free = list(slots)
    running: dict[Future, tuple[Step, Optional[str]]] = {}
    with ThreadPoolExecutor(max_workers=len(slots)) as pool:
        while waiting or running:
            block_orphans()
            for step in [s for s in waiting if all(n in done for n in s.needs)]:
                if not free:
                    break
                slot = free.pop(0)
                waiting.remove(step)
                if started:
                    started(step, slot)
                running[pool.submit(execute, step, slot)] = (step, slot)
            if not running:
                if waiting:
                    raise ValueError(f"steps {[s.id for s in waiting]} need steps that are not in the plan")
                break
            ended, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in ended:
                step, slot = running.pop(future)
                free.append(slot)
                error = future.exception()
                (bad if error else done).add(step.id)
                finished(step, error)


def _step_lock_path(out: Path, step_id: str) -> Path:
    return out / "locks" / (step_id.replace("/", "__") + ".lock")


class _State:
    """OUT/state.json: what the runner did with each step (so it knows which folders it made).

    Several runner processes may share one OUT (a SLURM array, two calls with other --only
    globs): every change is read, merged and written under OUT/locks/state.lock, so none of
    them drops another one's records."""

    def __init__(self, out: Path) -> None:
        import threading

        self.path = out / STATE_FILE
        self._lock_path = out / "locks" / "state.lock"
        self._lock = threading.Lock()  # steps on several GPUs finish from their own threads
        with self._lock, file_lock(self._lock_path):
            self.steps: dict[str, dict[str, Any]] = self._read(keep_damaged=True)

    def _read(self, keep_damaged: bool = False) -> dict[str, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        try:
            steps = json.loads(self.path.read_text())
            if not isinstance(steps, dict):
                raise ValueError("not a mapping of step records")
            return steps
        except ValueError:
            if not keep_damaged:
                return dict(self.steps)
            kept = self.path.with_name(f"{self.path.name}.damaged")
            os.replace(self.path, kept)
            warnings.warn(f"{self.path}: damaged, kept as {kept.name}; folders of earlier calls count as not made by this benchmark", stacklevel=3)
            return {}

    def refresh(self) -> None:
        """Take in what other processes recorded since."""
        with self._lock, file_lock(self._lock_path):
            self.steps = self._read()

    def set(self, step_id: str, **fields: Any) -> None:
        with self._lock, file_lock(self._lock_path):
            self.steps = self._read()
            self.steps.setdefault(step_id, {}).update(fields)
            write_json(self.path, self.steps)


def step_fingerprints(plan: Plan, legacy: bool = False) -> dict[str, str]:
    """sha256 of each step's settings, its store's card and its dependencies' fingerprints: a
    finished folder whose fingerprint moved (an option edited in the config, a store rebuilt from
    other raw files, a backbone retrained) holds another experiment's result.

    Paths under OUT and under the stores folder count relative to them, so a benchmark folder
    moved or copied elsewhere (with its stores) keeps its finished steps. `legacy` gives the
    fingerprints of earlier versions, which hashed the absolute paths (still accepted)."""
    import hashlib

    from dnabench.experiments.plan import _path

    by_id = {step.id: step for step in plan.steps}
    prints: dict[str, str] = {}
    places = [] if legacy else _places(plan)

    def card(step: Step) -> str:
        if not step.store:
            return ""
        path = _path(Path(plan.stores), step.store) / "dataset.json"
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""

    def of(step_id: str) -> str:
        if step_id not in prints:
            step = by_id[step_id]
            settings = json.dumps(step.config, sort_keys=True, default=str)
            for place, name in places:
                settings = settings.replace(json.dumps(place)[1:-1], name)
            text = json.dumps({"config": settings if places else step.config, "card": card(step),
                               "needs": [of(n) for n in step.needs if n in by_id]}, sort_keys=True, default=str)
            prints[step_id] = hashlib.sha256(text.encode()).hexdigest()
        return prints[step_id]

    for step in plan.steps:
        of(step.id)
    return prints


def _places(plan: Plan) -> list[tuple[str, str]]:
    """(path text, placeholder) for OUT and the stores folder, as written and resolved, longest first."""
    places: dict[str, str] = {}
    for folder, name in ((plan.out, "<out>"), (plan.stores, "<stores>")):
        if folder:
            for text in (str(Path(folder)), str(Path(folder).resolve())):
                if text not in (".", "/"):
                    places.setdefault(text, name)
    return sorted(places.items(), key=lambda item: -len(item[0]))


def changed_steps(plan: Plan, records: dict[str, dict[str, Any]], accepted: dict[str, set[str]] | None = None) -> set[str]:
    """Steps finished (or started) by this benchmark with other settings or data than `plan` has now
    (`accepted`: the plan's fingerprints from `accepted_fingerprints`, when already computed)."""
    accepted = accepted_fingerprints(plan) if accepted is None else accepted
    return {step_id for step_id, record in records.items() if _changed(record, accepted.get(step_id))}


def accepted_fingerprints(plan: Plan, now: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Each step's fingerprint now (`now`, when already computed) and in the older path-absolute
    form, either of which a record may hold."""
    now = step_fingerprints(plan) if now is None else now
    before = step_fingerprints(plan, legacy=True)
    return {step_id: {value, before[step_id]} for step_id, value in now.items()}


def _changed(record: dict[str, Any], accepted: set[str] | None) -> bool:
    recorded = record.get("fingerprint")
    return accepted is not None and recorded is not None and recorded not in accepted


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def check_plan(plan: Plan, changed: set[str] | None = None) -> list[str]:
    """Every problem the steps still to run would meet at their start (bad options, missing stores)."""
    problems = []
    for step in plan.steps:
        if step_state(step) == "done" and step.id not in (changed or set()):
            continue
        try:
            check_step(step)
        except (ValueError, FileNotFoundError, TypeError) as err:
            problems.append(str(err) if step.id in str(err) else f"step {step.id}: {err}")
    return problems


def print_plan(plan: Plan, console: Console, changed: set[str] | None = None) -> None:
    """The steps as a table: kind, folder, what they need, state, rows, estimated time; `changed`
    steps (finished with other settings or data) show as such: the run redoes them."""
    table = Table(title=f"{plan.name}: {len(plan.steps)} steps ({plan.scale} scale) under {plan.out}", title_justify="left")
    for name, justify in (("#", "right"), ("kind", "left"), ("folder", "left"), ("needs", "left"), ("state", "left"), ("rows", "right"), ("estimate", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    index = {s.id: i + 1 for i, s in enumerate(plan.steps)}
    for i, step in enumerate(plan.steps, 1):
        needs = ", ".join(f"#{index[n]}" for n in step.needs if n in index)
        rows = f"{step.rows:,}" if step.rows is not None else "?"
        state = "changed: redone" if step.id in (changed or set()) else step_state(step)
        table.add_row(str(i), step.kind, step.id, needs, state, rows, format_seconds(step.cost_s))
    console.print(table)
    total = plan.total_cost()
    known = sum(s.cost_s or 0 for s in plan.steps)
    text = format_seconds(total) if total is not None else f"at least {format_seconds(known)} (steps marked ? have no size: build their stores first)"
    console.print(f"estimated time on one device: {text}; an estimate from rows x epochs x length / the model's samples a second (docs/benchmarks.md)")


def _subprocess_executor(plan_path: Path, logs: Path) -> Callable[[Step, Optional[str]], None]:
    def execute(step: Step, slot: Optional[str]) -> None:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(slot)} if slot is not None else dict(os.environ)
        log = logs / (step.id.replace("/", "__") + ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"--- {_now()} {step.id} on CUDA_VISIBLE_DEVICES={slot}\n")
            handle.flush()
            code = subprocess.run([sys.executable, "-m", "dnabench.experiments.steps", str(plan_path), step.id],
                                  stdout=handle, stderr=subprocess.STDOUT, env=env).returncode
        if code != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise StepFailed(f"exit status {code}; see {log}: {' | '.join(tail)}")
    return execute


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_benchmark(
    config: ExperimentConfig | str | os.PathLike,
    out: str | os.PathLike,
    scale: str = "small",
    stores: str | os.PathLike | None = None,
    only: Sequence[str] | None = None,
    devices: int | None = None,
    dry_run: bool = False,
    console: Console | None = None,
    reference: str | os.PathLike | None = None,
    on_step: Callable[[Step, Optional[BaseException]], None] | None = None,
) -> BenchmarkResult:
    """Run (or with `dry_run`, only print) the plan of `config` under `out`; see the module docstring.

    `stores` holds the task stores by name (default ./stores); `only` globs pick steps (their
    dependencies come along); `devices` None uses the GPUs there are; `reference` is an
    oracle.json shown beside the results; `on_step` is called after every step that ran.
    """
    console = console or Console()
    if not isinstance(config, ExperimentConfig):
        config = load_experiment(config, scale)
    out = Path(out)
    full = build_plan(config, out, Path(stores) if stores is not None else Path("stores"))  # plan.json holds every step,
    plan = select(full, list(only or []))  # so results of earlier --only calls count
    ref = load_reference(reference)
    result = BenchmarkResult(plan, out, dry_run=dry_run)
    prints = step_fingerprints(full)
    accepted = accepted_fingerprints(full, prints)
    changed_now = changed_steps(full, _read_records(out / STATE_FILE), accepted)
    if dry_run:
        print_plan(plan, console, changed_now)
        result.problems = check_plan(plan, changed_now)
        for problem in result.problems:
            console.print(f"[yellow]would fail:[/] {problem}", soft_wrap=True, markup=True, highlight=False)
        return result
    problems = check_plan(plan, changed_now)
    if problems:
        raise ValueError(f"{len(problems)} step(s) cannot start:\n  " + "\n  ".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    _check_same_experiment(out / PLAN_FILE, full)
    merged = full
    write_json(out / PLAN_FILE, merged.to_dict())
    state = _State(out)
    made = set(state.steps)  # folders an earlier call of this benchmark started

    def changed(step: Step) -> bool:
        """Finished by this benchmark with other settings or data than the plan's now."""
        return _changed(state.steps.get(step.id, {}), accepted[step.id])

    def results_now() -> dict[str, Path]:
        """The results files, leaving out runs made with other settings (they are redone, not counted)."""
        return write_results(merged, out, ref, exclude={s.id for s in merged.steps if changed(s)})

    complete = {s.id for s in plan.steps if step_state(s) == "done" and not changed(s)}
    result.skipped = [s.id for s in plan.steps if s.id in complete]
    result.results = results_now()
    if devices is None:
        devices = _gpu_count()
    slots: list[Optional[str]] = [str(i) for i in range(devices)] if devices > 1 else [None]
    todo = [s for s in plan.steps if s.id not in complete]
    console.print(f"{plan.name} ({plan.scale}): {len(plan.steps)} steps, {len(complete)} complete, {len(todo)} to run"
                  + (f" on {devices} GPUs at once" if devices > 1 else ""), highlight=False)
    position = {s.id: i + 1 for i, s in enumerate(todo)}

    def prepare(step: Step) -> None:
        folder = Path(step.config["out"])
        if step.kind == "features":
            from dnabench.data.features import partial_path

            partial = partial_path(folder)  # an unfinished extraction from an older backbone would refuse this one
            if partial.exists() and changed(step):
                moved = move_aside(partial)
                console.print(f"  {partial} was started with other settings or data: moved aside to {moved.name}", highlight=False)
        if folder.exists() and changed(step):
            moved = move_aside(folder)
            console.print(f"  {folder} was made with other settings or data: moved aside to {moved.name}", highlight=False)
            return
        if step.kind == "features":
            return
        if step_state(step) == "stale":
            if step.id not in made:
                raise FileExistsError(f"{folder}: holds files but no checkpoint or result, and this benchmark did not make it; move it away")
            moved = move_aside(folder)
            console.print(f"  {folder} had no checkpoint: moved aside to {moved.name}", highlight=False)

    def started(step: Step, slot: Optional[str]) -> None:
        how = "resume" if step_state(step) == "partial" else "start"
        state.set(step.id, status="running", started=_now(), attempts=int(state.steps.get(step.id, {}).get("attempts", 0)) + 1)
        where = f" on GPU {slot}" if slot is not None else ""
        console.print(f"[{position[step.id]}/{len(todo)}] {how} {step.kind} {step.id}{where} (estimate {format_seconds(step.cost_s)})", highlight=False)

    run_one: Callable[[Step, Optional[str]], None] = (
        _subprocess_executor(out / PLAN_FILE, out / "logs") if len(slots) > 1 else (lambda step, slot: execute_step(step))
    )

    def execute(step: Step, slot: Optional[str]) -> None:
        """Run `step` unless another runner process on this OUT holds it: then wait for that one,
        and take its result when it finished the step with this plan's settings."""
        with file_lock(_step_lock_path(out, step.id)):
            state.refresh()
            if step_state(step) == "done" and not changed(step):
                console.print(f"  {step.id}: finished by another runner process on {out}", highlight=False)
                return
            prepare(step)
            state.set(step.id, fingerprint=prints[step.id])  # the folder is now this plan's
            run_one(step, slot)

    def finished(step: Step, error: Optional[BaseException]) -> None:
        if isinstance(error, StepBlocked):
            result.blocked.append(step.id)
            state.set(step.id, status="blocked", error=str(error))
            console.print(f"  left out {step.id}: {error}", highlight=False)
        elif error is not None:
            result.failed[step.id] = f"{type(error).__name__}: {error}"
            state.set(step.id, status="failed", finished=_now(), error=result.failed[step.id])
            console.print(f"  [red]failed[/] {step.id}: {result.failed[step.id]}", highlight=False)
        else:
            result.done.append(step.id)
            state.set(step.id, status="done", finished=_now(), fingerprint=prints[step.id])
        result.results = results_now()
        if on_step is not None and not isinstance(error, StepBlocked):
            on_step(step, error)

    start = time.monotonic()
    schedule(todo, slots, execute, finished, complete, started)
    console.print(
        f"{plan.name}: {len(result.done)} run, {len(result.skipped)} already complete, {len(result.failed)} failed, "
        f"{len(result.blocked)} left out, in {format_seconds(time.monotonic() - start)}; results in {out / 'results.md'}",
        highlight=False,
    )
    return result


def _read_records(path: Path) -> dict[str, dict[str, Any]]:
    """state.json's step records, read only ({} when absent or damaged: the run itself says so)."""
    try:
        records = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def _check_same_experiment(path: Path, plan: Plan) -> None:
    """Refuse an OUT that holds the plan of another experiment or scale."""
    if path.is_file():
        old = Plan.read(path)
        if old.name != plan.name or old.scale != plan.scale:
            raise ValueError(f"{path.parent}: holds the {old.scale} plan of {old.name!r}; give another --out for the {plan.scale} plan of {plan.name!r}")
