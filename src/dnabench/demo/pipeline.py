"""The whole benchmark in miniature: raw files -> stores -> pretraining and training -> results -> report.

Every step is the real one: the world's raw files go through the `prepare` builders, the
small-scale Table 5 config goes through the benchmark runner (MLM pretraining, Transformer,
CNN+FC and CNN+LSTM on all six tasks, backbone features, the upper Transformer, random forest
and XGBoost), and the report reads the run folders. Beside each score the demo prints the score
of the rule that generated the data (`demo.oracle`): the best any model can reach.

Run again with the same folder and seed, the demo rebuilds identical stores and the runner
skips the runs already finished.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import pandas as pd
from rich.console import Console
from rich.table import Table

from dnabench.io.files import write_json

#: the experiment the demo runs, at its small scale
CONFIG = "table5"
DEFAULT_OUT = Path("dnabench-demo")


@dataclass
class DemoOutcome:
    """What the demo made and measured; tests assert on it, the console shows it."""

    out: Path
    report: Path | None
    results: Path | None
    scores: pd.DataFrame
    best: dict[str, dict[str, float]]
    seconds: dict[str, float] = field(default_factory=dict)
    ok: bool = True
    problems: list[str] = field(default_factory=list)


def _runs_table(benchmark: Path) -> pd.DataFrame:
    """One row per finished run and metric (results' runs.csv), or an empty frame."""
    path = benchmark / "runs.csv"
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def score_table(runs: pd.DataFrame, best: dict[str, dict[str, float]]) -> pd.DataFrame:
    """task x model: the mean test score of the task's first metric, with the best achievable beside it."""
    if runs.empty:
        return pd.DataFrame()
    rows = []
    for task, per_task in runs.groupby("task", sort=False):
        metric = next(iter(best.get(task, {})), None) or str(per_task["metric"].iloc[0])
        chosen = per_task[per_task["metric"] == metric]
        row = {"task": task, "metric": metric}
        for model, values in chosen.groupby("model", sort=False):
            row[model] = float(values["value"].mean())
        row["best achievable"] = best.get(task, {}).get(metric, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def _show(console: Console, scores: pd.DataFrame) -> None:
    if scores.empty:
        return
    table = Table(title="test scores (mean over seeds) against the best achievable")
    for column in scores.columns:
        table.add_column(column, justify="left" if column in ("task", "metric") else "right")
    for _, row in scores.iterrows():
        table.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.tolist()])
    console.print(table)


def run_full_demo(
    out: str | os.PathLike | None = None,
    seed: int = 0,
    scale: str = "demo",
    only: Sequence[str] | None = None,
    console: Console | None = None,
) -> DemoOutcome:
    """Run the demo into `out` (default ./dnabench-demo); `scale` "small" halves the world (tests),
    `only` picks benchmark steps by glob as `dnabench benchmark --only` does."""
    from dnabench.demo.oracle import best_achievable
    from dnabench.demo.stores import build_stores
    from dnabench.demo.world import make_world
    from dnabench.evaluation.report import write_report
    from dnabench.experiments.runner import run_benchmark

    console = console or Console()
    out = Path(out) if out is not None else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    console.rule("[bold]dnabench demo: the benchmark in miniature")

    start = time.perf_counter()
    console.print("synthetic world with planted signals, written as raw files in the real formats ...")
    world = make_world(out / "raw", seed=seed, scale=scale)
    console.print(f"  {world.genome_bp / 1e6:.1f} Mb genome and the raw files of six tasks in {out / 'raw'}")
    stores = build_stores(world, out / "stores", progress=True, overwrite=True)
    best = best_achievable(world, stores, out)
    seconds["data"] = time.perf_counter() - start
    console.print(f"  {len(stores)} stores built by the prepare commands in {out / 'stores'} ({seconds['data']:.0f} s)")

    start = time.perf_counter()
    benchmark = out / "benchmark"
    result = run_benchmark(CONFIG, benchmark, scale="small", stores=out / "stores", only=only, console=console,
                           reference=out / "oracle.json")
    seconds["benchmark"] = time.perf_counter() - start

    start = time.perf_counter()
    report = None
    try:
        report = write_report(benchmark, out / "report", reference=out / "oracle.json")
    except ValueError as err:  # nothing finished: say so instead of a report of nothing
        result.problems.append(str(err))
    seconds["report"] = time.perf_counter() - start

    scores = score_table(_runs_table(benchmark), best)
    _show(console, scores)
    problems = [*result.problems, *(f"{step}: {why}" for step, why in result.failed.items())]
    for problem in problems:
        console.print(f"[red]{problem}[/]")
    results = result.results.get("results.md")
    total = sum(seconds.values())
    console.print(f"results: {results or benchmark}", soft_wrap=True)
    if report is not None:
        console.print(f"report:  {report}", soft_wrap=True)
    console.print(f"demo finished in {total:.0f} s (data {seconds['data']:.0f} s, benchmark {seconds['benchmark']:.0f} s, "
                  f"report {seconds['report']:.0f} s)")
    record = {"seed": seed, "scale": scale, "seconds": seconds, "ok": result.ok and not problems, "scores": scores.to_dict(orient="records")}
    write_json(out / "demo.json", record, default=str)
    return DemoOutcome(out, report, results, scores, best, seconds, ok=result.ok and not problems, problems=problems)
