"""Result tables: per-run scores -> one cell per (row, column, metric) with mean +- SD over seeds.

The SD is the sample SD (ddof=1); a cell of one run shows no SD and says n=1. The best cell is
marked among the cells that differ only in the layout's `best` dimension (the models of a
row, the position encodings of a dataset), per metric: highest, or lowest for MSE. Published
numbers and reference values (an oracle's best achievable) sit beside each cell.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np
import pandas as pd

__all__ = ["LOWER_IS_BETTER", "read_reference", "summarise", "format_cell", "table_grid", "to_markdown", "to_html"]

#: metrics where a lower value is better
LOWER_IS_BETTER = frozenset({"mse"})


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file of a run or a benchmark; a damaged one is a ValueError naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: damaged, not valid JSON ({err})") from None


def read_reference(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Reference values {task: {metric: value}} from an oracle.json: that mapping itself, or the
    demo's record that holds it under `scores` (beside its seed and scale)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such reference file")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    if isinstance(data, dict) and isinstance(data.get("scores"), dict):
        data = data["scores"]
    if not isinstance(data, dict) or not any(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected {{task: {{metric: value}}}} (or such a mapping under 'scores')")
    return {str(t): {str(m): float(v) for m, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            for t, metrics in data.items() if isinstance(metrics, dict)}


def summarise(frame: pd.DataFrame, dims: Sequence[str], best: Optional[str] = None) -> pd.DataFrame:
    """One row per combination of `dims` (which include `metric`): mean, sd (ddof=1; NaN for n=1), n, best.

    `frame` has a column per dimension, `metric` and `value`. NaN values are left out of n.
    """
    dims = list(dims)
    if frame.empty:
        return pd.DataFrame(columns=[*dims, "mean", "sd", "n", "best"])
    values = frame.dropna(subset=["value"])
    grouped = values.groupby(dims, sort=False, dropna=False)["value"]
    cells = grouped.agg(mean="mean", n="count").reset_index()
    sd = grouped.std(ddof=1).reset_index(name="sd")
    cells = cells.merge(sd, on=dims, how="left")
    cells.loc[cells["n"] < 2, "sd"] = np.nan
    cells["best"] = False
    if best is not None and best in dims:
        others = [d for d in dims if d != best]
        for _, group in cells.groupby(others, sort=False, dropna=False) if others else [(None, cells)]:
            if len(group) < 2:
                continue
            metric = str(group["metric"].iloc[0])
            target = group["mean"].min() if metric in LOWER_IS_BETTER else group["mean"].max()
            cells.loc[group.index[np.isclose(group["mean"], target, rtol=0, atol=1e-12)], "best"] = True
    return cells[[*dims, "mean", "sd", "n", "best"]]


def _number(value: Any, digits: int = 3) -> str:
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{float(value):.{digits}f}"


def format_cell(mean: float, sd: float, n: int, digits: int = 3) -> str:
    """`0.951 ± 0.004 (n=2)`; `0.951 (n=1)`."""
    if n == 0 or not math.isfinite(mean):
        return "–"
    if n < 2 or not math.isfinite(sd):
        return f"{mean:.{digits}f} (n={n})"
    return f"{mean:.{digits}f} ± {sd:.{digits}f} (n={n})"


def table_grid(cells: Sequence[Mapping[str, Any]], row_order: Sequence[str], column_order: Sequence[str]) -> tuple[list[str], list[str], dict]:
    """Rows and columns present, in the given order, and {(row, column): cell}."""
    grid = {(c["row"], c["column_label"]): c for c in cells}
    rows = [r for r in row_order if any(key[0] == r for key in grid)]
    columns = [c for c in column_order if any(key[1] == c for key in grid)]
    return rows, columns, grid


def _annotations(cell: Mapping[str, Any]) -> str:
    notes = []
    if cell.get("published") is not None:
        notes.append(f"paper {_number(cell['published'])}")
    if cell.get("reference") is not None:
        notes.append(f"oracle {_number(cell['reference'])}")
    return f" ({'; '.join(notes)})" if notes else ""


def to_markdown(cells: Sequence[Mapping[str, Any]], row_header: Sequence[str], row_order: Sequence[str], column_order: Sequence[str]) -> str:
    """A markdown table: row labels (split on ' / ' into the row dimensions), one column per column
    label (each names its metric), best cells in bold, paper and oracle values in brackets."""
    rows, columns, grid = table_grid(cells, row_order, column_order)
    header = [*row_header, *columns] if row_header else ["", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(row_header or [""]) + "---:|" * len(columns)]
    for row in rows:
        parts = row.split(" / ") if row_header else [row]
        parts = parts + [""] * (len(header) - len(columns) - len(parts))
        out = []
        for column in columns:
            cell = grid.get((row, column))
            if cell is None:
                out.append("–")
                continue
            text = format_cell(cell["mean"], cell["sd"], cell["n"])
            out.append((f"**{text}**" if cell.get("best") else text) + _annotations(cell))
        lines.append("| " + " | ".join([*parts, *out]) + " |")
    return "\n".join(lines) + "\n"


def to_html(cells: Sequence[Mapping[str, Any]], row_header: Sequence[str], row_order: Sequence[str], column_order: Sequence[str]) -> str:
    """The same table as HTML (best cells in <b>)."""
    rows, columns, grid = table_grid(cells, row_order, column_order)
    header = [*row_header, *columns] if row_header else ["", *columns]
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        parts = row.split(" / ") if row_header else [row]
        parts = parts + [""] * (len(header) - len(columns) - len(parts))
        tds = [f"<td>{html.escape(p)}</td>" for p in parts]
        for column in columns:
            cell = grid.get((row, column))
            if cell is None:
                tds.append("<td>–</td>")
                continue
            text = html.escape(format_cell(cell["mean"], cell["sd"], cell["n"]))
            text = f"<b>{text}</b>" if cell.get("best") else text
            tds.append(f"<td class=\"num\">{text}<span class=\"note\">{html.escape(_annotations(cell))}</span></td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</table>")
    return "\n".join(out)
