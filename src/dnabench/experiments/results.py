"""Finished runs of a benchmark -> a tidy frame -> the paper's table, written as results.{md,csv,json}.

The tidy frame (`runs.csv`) has one row per run and metric: table, row, column, task, model, the
axis values, seed, metric, value and the run folder. The table (`results.md`; `results.csv` has
one line per cell) puts mean +- SD over seeds with n in each cell, names the metric in every
column header, marks the best cell per row (bold), and shows the paper's published number
(`configs/published.csv`) and, when given, a reference value (an oracle.json of
{task: {metric: best achievable value}}) beside each cell.
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from dnabench.evaluation.tables import read_json, read_reference, summarise, to_markdown
from dnabench.experiments.plan import Plan
from dnabench.experiments.steps import step_state

__all__ = ["PUBLISHED", "collect", "load_published", "load_reference", "result_cells", "write_results"]

PUBLISHED = "published.csv"
RESULT_FILES = ("results.md", "results.csv", "results.json", "runs.csv")


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's numbers: table, row, column, metric, value (column empty where the columns are the metrics alone)."""
    source = Path(path) if path else Path(str(resources.files("dnabench.experiments") / "configs" / PUBLISHED))
    frame = pd.read_csv(source, dtype={"table": str, "row": str, "column": str, "metric": str}, keep_default_na=False)
    frame["value"] = pd.to_numeric(frame["value"])
    return frame


def load_reference(path: str | os.PathLike | None) -> dict[str, dict[str, float]]:
    """An oracle.json (`evaluation.tables.read_reference`); {} for None."""
    return {} if path is None else read_reference(path)


def collect(plan: Plan, exclude: Optional[set[str]] = None) -> pd.DataFrame:
    """One row per finished table run and metric (its test split); `exclude` are steps whose
    folders hold another experiment's result (made with other settings, to be redone)."""
    axes = list(plan.layout.get("order", {}))
    axes = [a for a in axes if a not in ("task", "model", "metric")]
    records = []
    for step in plan.steps:
        if not step.result or step_state(step) != "done" or step.id in (exclude or set()):
            continue
        folder = Path(step.config["out"])
        try:
            test = read_json(folder / "metrics.json").get("test", {})
        except (ValueError, OSError) as err:  # one damaged run leaves its cells empty, not the table
            warnings.warn(str(err), stacklevel=2)
            continue
        for metric in step.metrics:
            value = test.get(metric)
            records.append({
                "table": plan.table, "row": step.row, "column": step.column, "task": step.task, "model": step.model,
                **{a: step.axes.get(a) for a in axes}, "seed": step.seed, "metric": metric,
                "value": float(value) if isinstance(value, (int, float)) else np.nan,
                "run": os.path.relpath(folder, plan.out) if plan.out else str(folder), "store": step.store,
            })
    columns = ["table", "row", "column", "task", "model", *axes, "seed", "metric", "value", "run", "store"]
    return pd.DataFrame.from_records(records, columns=columns)


def _display(layout: dict[str, Any], keys: dict[str, str], dims: list[str], sep: str) -> str:
    return sep.join(layout["labels"][d][keys[d]] for d in dims)


def result_cells(plan: Plan, frame: pd.DataFrame, published: Optional[pd.DataFrame] = None,
                 reference: Optional[dict[str, dict[str, float]]] = None) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The table's cells (as records) and the order of its row and column labels."""
    layout = plan.layout
    dims = [*layout["rows"], *layout["columns"]]
    summary = summarise(frame, dims, layout.get("best"))
    lookup: dict[tuple, float] = {}
    if published is not None:
        for rec in published.itertuples(index=False):
            lookup[(str(rec.table), str(rec.row), str(rec.column), str(rec.metric))] = float(rec.value)
    stores = dict(zip(frame["task"], frame["store"])) if len(frame) else {}
    cells = []
    for rec in summary.to_dict("records"):
        keys = {d: str(rec[d]) for d in dims}
        row_key = _display(layout, keys, [d for d in layout["rows"] if d != "metric"], " / ")
        col_key = _display(layout, keys, [d for d in layout["columns"] if d != "metric"], " ")
        metric = keys["metric"]
        task = rec.get("task") if "task" in dims else (frame["task"].iloc[0] if len(frame) else None)
        ref = None
        if reference and task is not None:
            ref = (reference.get(str(task)) or reference.get(str(stores.get(task))) or {}).get(metric)
        cells.append({
            **keys, "row": _display(layout, keys, layout["rows"], " / "), "column_label": _display(layout, keys, layout["columns"], " "),
            "row_key": row_key, "column_key": col_key, "metric": metric,
            "mean": float(rec["mean"]), "sd": float(rec["sd"]) if pd.notna(rec["sd"]) else float("nan"), "n": int(rec["n"]),
            "best": bool(rec["best"]), "published": lookup.get((str(plan.table), row_key, col_key, metric)), "reference": ref,
        })
    order = layout["order"]

    def labels(dims_: list[str], sep: str) -> list[str]:
        return [sep.join(layout["labels"][d][k] for d, k in zip(dims_, combo)) for combo in itertools.product(*[order[d] for d in dims_])]

    return cells, labels(layout["rows"], " / "), labels(layout["columns"], " ")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_results(plan: Plan, out: str | os.PathLike | None = None, reference: Optional[dict[str, dict[str, float]]] = None,
                  published: Optional[pd.DataFrame] = None, exclude: Optional[set[str]] = None) -> dict[str, Path]:
    """Collect the finished runs of `plan` (less `exclude`) and write results.md, results.csv,
    results.json and runs.csv into `out`."""
    out = Path(out or plan.out)
    out.mkdir(parents=True, exist_ok=True)
    published = load_published() if published is None else published
    frame = collect(plan, exclude)
    cells, row_order, column_order = result_cells(plan, frame, published, reference)
    names = plan.layout["names"]
    row_header = [names[d] for d in plan.layout["rows"]]
    expected = sum(1 for s in plan.steps if s.result)
    finished = int(frame["run"].nunique()) if len(frame) else 0
    title = f"{plan.title or plan.name} ({plan.scale} scale)"
    md = [f"# {title}", "", f"{finished} of {expected} runs finished. Each cell: mean ± sample SD over seeds (n runs) of the test split; "
          "bold: the best of its row's comparison; in brackets the paper's number"
          + (" and the reference (best achievable)" if reference else "") + ".", ""]
    md.append(to_markdown(cells, row_header, row_order, column_order))
    paths = {name: out / name for name in RESULT_FILES}
    _atomic_write(paths["results.md"], "\n".join(md))
    cell_frame = pd.DataFrame.from_records(cells, columns=["row_key", "column_key", "metric", "mean", "sd", "n", "best", "published", "reference"])
    cell_frame.insert(0, "table", plan.table)
    cell_frame = cell_frame.rename(columns={"row_key": "row", "column_key": "column"})
    _atomic_write(paths["results.csv"], cell_frame.to_csv(index=False))
    _atomic_write(paths["runs.csv"], frame.to_csv(index=False))
    record = {
        "name": plan.name, "title": plan.title, "table": plan.table, "scale": plan.scale, "runs_finished": finished, "runs_planned": expected,
        "layout": plan.layout, "row_header": row_header, "row_order": row_order, "column_order": column_order,
        "cells": [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in c.items()} for c in cells],
        "runs": json.loads(frame.to_json(orient="records")),
    }
    _atomic_write(paths["results.json"], json.dumps(record, indent=1))
    return paths
