"""`write_report`: PNG plots and one self-contained HTML page from run folders only.

Inputs are benchmark folders (with the results.json that `dnabench benchmark` writes), run
folders (metrics.json + config.yaml), or folders holding run folders. For each run: training
and validation curves (logs/metrics.csv), ROC and PR curves for classification and a
predicted-vs-measured scatter for regression (test_predictions.parquet; runs scored from
streamed histograms, such as Track7878, have none and get their table row and curves only),
its metrics, its config and its provenance (run.json: dataset card sha256, dnabench version,
git commit). Across runs: bars of each task's metrics per model and grid-axis values (one bar a
results cell: mean with the SD over seeds) and the results table. Fit runs (an upper model on a
backbone's features) outside a benchmark are named by their features folder, so runs on
different backbones stay apart; folders the runner moved aside (NAME.failed-N) are left out.
The page embeds every PNG as base64, so it is one file to mail or open offline; the PNGs are
also written under OUT/plots/.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

from dnabench.evaluation.tables import read_json, read_reference, summarise, to_html

__all__ = ["RunInfo", "find_runs", "write_report"]

REPORT = "report.html"
_PROVENANCE = ("dnabench", "git_commit", "git_dirty", "data", "data_description", "data_card_sha256", "torch", "lightning", "python",
               "device", "precision", "world_size", "started", "finished")


@dataclass
class RunInfo:
    """What the report knows of one run folder."""

    path: Path
    name: str
    metrics: dict[str, Any]
    run: dict[str, Any]
    config_text: str
    task: str
    model: str
    seed: Any
    kind: str
    extra: dict[str, Any] = field(default_factory=dict)
    #: grid axis -> the label of this run's value (benchmark runs of Tables 1-4: positions, tokenizer, ...)
    axes: dict[str, str] = field(default_factory=dict)


_MOVED_ASIDE = re.compile(r".+\.failed-\d+")
_SEED = re.compile(r"seed-\d+")


def _is_run(folder: Path) -> bool:
    return (folder / "metrics.json").is_file() and (folder / "config.yaml").is_file()


def _moved_aside(folder: Path, root: Path) -> bool:
    """Whether `folder` lies in a folder the runner moved aside (NAME.failed-N): a failed attempt, not a seed."""
    return any(_MOVED_ASIDE.fullmatch(part) for part in folder.relative_to(root).parts)


def _features_folder(run: dict[str, Any], config: dict[str, Any]) -> Optional[Path]:
    """The features folder a fit run read, or None for a run on sequences."""
    data = run.get("data") or config.get("data")
    if not isinstance(data, str):
        return None
    path = Path(data)
    from dnabench.data.features import is_features_folder

    return path if run.get("input") == "features" or is_features_folder(path) else None


def _backbone(features: Path, task: str) -> str:
    """A features folder's name for its backbone: its path after the task's folder (features/TASK/MODEL/...)
    without the seed folder, since seeds of one backbone are pooled; else the folder's own name."""
    parts = list(features.parts)
    if len(parts) > 1 and _SEED.fullmatch(parts[-1]):
        parts.pop()
    after = parts[len(parts) - parts[::-1].index(task):] if task in parts else []
    return "/".join(after) or (parts[-1] if parts else str(features))


def _model_name(run: dict[str, Any], config: dict[str, Any], task: str) -> str:
    """The run's model; a fit run's names its backbone too, so fits on different backbones are not pooled."""
    model = str(config.get("model", "?"))
    features = _features_folder(run, config)
    return f"{model} on {_backbone(features, task)}" if features is not None else model


def _read_run(folder: Path, name: str, extra: Optional[dict[str, Any]] = None, axes: Optional[dict[str, str]] = None) -> RunInfo:
    import yaml

    metrics = read_json(folder / "metrics.json")
    run = read_json(folder / "run.json") if (folder / "run.json").is_file() else {}
    config_text = (folder / "config.yaml").read_text()
    config = yaml.safe_load(config_text) or {}
    task = run.get("task") or {}
    extra = dict(extra or {})
    task_name = task.get("name")
    if not task_name or task_name == "table":  # a sequence table: its file names the task
        task_name = Path(str(run.get("data") or config.get("data", "?"))).name
    return RunInfo(
        folder, name, metrics, run, config_text, str(extra.get("task") or task_name),
        str(extra.get("model") or _model_name(run, config, str(task_name))), extra.get("seed", config.get("seed")),
        str(task.get("kind", "")), extra, dict(axes or {}),
    )


def _grid_axes(results: dict[str, Any]) -> list[str]:
    """The grid axes of a benchmark (its layout's dimensions other than task, model and metric)."""
    order = (results.get("layout") or {}).get("order") or {}
    return [axis for axis in order if axis not in ("task", "model", "metric")]


def _benchmark_runs(path: Path, results: dict[str, Any], seen: set[Path]) -> list[RunInfo]:
    """The finished runs a results.json lists, with their labels and grid-axis values."""
    metrics: dict[str, list[str]] = {}
    records: dict[str, dict[str, Any]] = {}
    for record in results.get("runs", []):
        metrics.setdefault(record["run"], []).append(record["metric"])
        records.setdefault(record["run"], record)
    labels = (results.get("layout") or {}).get("labels") or {}
    axes = _grid_axes(results)
    runs = []
    for name, record in records.items():
        folder = (path / name).resolve()
        if folder not in seen and _is_run(folder):
            seen.add(folder)
            shown = {dim: (labels.get(dim) or {}).get(record.get(dim), record.get(dim)) for dim in ("task", "model", *axes)}
            values = {axis: str(shown[axis]) for axis in axes if shown[axis] is not None}
            runs.append(_read_run(folder, name, {**record, **shown, "metrics": metrics[name]}, values))
    return runs


def find_runs(inputs: list[str | os.PathLike]) -> tuple[list[RunInfo], list[dict[str, Any]]]:
    """The runs under `inputs` and the results.json of each benchmark folder among them."""
    runs: list[RunInfo] = []
    benchmarks: list[dict[str, Any]] = []
    seen: set[Path] = set()
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such run or benchmark folder")
        if (path / "results.json").is_file():
            results = read_json(path / "results.json")
            benchmarks.append(results)
            runs += _benchmark_runs(path, results, seen)
            continue
        folders = [path] if _is_run(path) else sorted(
            p.parent for p in path.rglob("metrics.json") if _is_run(p.parent) and not _moved_aside(p.parent, path))
        if not folders:
            raise FileNotFoundError(f"{path}: holds no run folder (metrics.json and config.yaml) and no results.json")
        for folder in folders:
            if folder.resolve() not in seen:
                seen.add(folder.resolve())
                runs.append(_read_run(folder, str(folder.relative_to(path)) if folder != path else path.name))
    return runs, benchmarks


class _Figures:
    """PNG files under OUT/plots and their base64 for the page."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def add(self, png: bytes, name: str) -> str:
        self.count += 1
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        (self.folder / f"{self.count:03d}_{safe}.png").write_bytes(png)
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _run_figures(run: RunInfo, figures: _Figures) -> list[str]:
    from dnabench.evaluation import plots

    out = []
    log_path = run.path / "logs" / "metrics.csv"
    if log_path.is_file() and log_path.stat().st_size:
        log = pd.read_csv(log_path)
        if "step" in log:
            monitor = run.metrics.get("monitor")
            out.append(figures.add(plots.curves_png(log, f"{run.name}: training", monitor), f"{run.name}_curves"))
    predictions = run.path / "test_predictions.parquet"
    if predictions.is_file():
        frame = pd.read_parquet(predictions)
        names = [c[len("pred_"):] for c in frame.columns if c.startswith("pred_") and f"target_{c[len('pred_'):]}" in frame]
        if names and len(frame):
            if run.kind in ("binary", "multilabel"):
                curves = plots.label_curves(frame, names)
                out.append(figures.add(plots.roc_pr_png(curves, f"{run.name}: test"), f"{run.name}_roc_pr"))
            elif run.kind == "regression":
                y = np.stack([frame[f"target_{n}"].to_numpy(float) for n in names], axis=1)
                p = np.stack([frame[f"pred_{n}"].to_numpy(float) for n in names], axis=1)
                out.append(figures.add(plots.scatter_png(y, p, f"{run.name}: test"), f"{run.name}_scatter"))
    return out


def _metrics_table(run: RunInfo) -> str:
    names = sorted({k for split in ("val", "test") for k, v in (run.metrics.get(split) or {}).items() if isinstance(v, (int, float))})
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for split in ("val", "test"):
        values = run.metrics.get(split) or {}
        cells = "".join(f"<td class=\"num\">{values[n]:.4f}</td>" if isinstance(values.get(n), (int, float)) else "<td>–</td>" for n in names)
        rows.append(f"<tr><td>{split}</td>{cells}</tr>")
    return f"<table><tr><th>split</th>{head}</tr>{''.join(rows)}</table>"


def _provenance(run: RunInfo) -> str:
    items = "".join(f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(str(run.run[k]))}</code></td></tr>" for k in _PROVENANCE if k in run.run)
    return f"<table>{items}</table>" if items else "<p>no run.json</p>"


def _tidy(runs: list[RunInfo]) -> pd.DataFrame:
    """task, model, each grid axis ('' where a run has none), label (model and axis values: one
    results cell), seed, metric, value of every run's test metrics (the task's own metrics where known)."""
    axes = list(dict.fromkeys(axis for run in runs for axis in run.axes))
    records = []
    for run in runs:
        test = run.metrics.get("test") or {}
        shown = run.extra.get("metrics") or ((run.run.get("task") or {}).get("metrics") or [k for k in test if k in ("auroc", "auprc", "spearman", "mse")])
        values = {axis: run.axes.get(axis, "") for axis in axes}
        label = ", ".join([run.model, *(v for v in values.values() if v)])
        for metric in shown:
            value = test.get(metric)
            if isinstance(value, (int, float)):
                records.append({"task": run.task, "model": run.model, **values, "label": label, "seed": run.seed, "metric": metric,
                                "value": float(value), "run": run.name})
    columns = ["task", "model", *axes, "label", "seed", "metric", "value", "run"]
    return pd.DataFrame.from_records(records, columns=columns).drop_duplicates()


def _bars(tidy: pd.DataFrame, figures: _Figures) -> list[str]:
    """One figure a task and metric, one bar a results cell (model and grid-axis values): seeds only are pooled."""
    from dnabench.evaluation import plots

    if tidy.empty:
        return []
    out = []
    summary = summarise(tidy, ["task", "metric", "label"])
    for (task, metric), frame in summary.groupby(["task", "metric"], sort=False):
        out.append(figures.add(plots.bars_png(frame, f"{task}", metric), f"bars_{task}_{metric}"))
    return out


def _run_table(tidy: pd.DataFrame) -> str:
    """For runs outside a benchmark: task x model cells of mean +- SD over seeds."""
    if tidy.empty:
        return "<p>No test metrics.</p>"
    summary = summarise(tidy, ["task", "label", "metric"], best="label")
    cells = [{**rec, "row": f"{rec['task']}", "column_label": f"{rec['label']} {rec['metric']}"} for rec in summary.to_dict("records")]
    rows = list(dict.fromkeys(c["row"] for c in cells))
    columns = list(dict.fromkeys(c["column_label"] for c in cells))
    return to_html(cells, ["task"], rows, columns)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
span.note { color: #666; font-size: 0.85em; }
img { max-width: 100%; margin: 0.3em 0.3em 0.3em 0; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }
details { margin-bottom: 0.8em; }
"""


def write_report(inputs: list[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike, reference: str | os.PathLike | None = None) -> Path:
    """Write OUT/report.html (self-contained) and OUT/plots/*.png from run and benchmark folders; returns the page.

    A report that fails part way removes the temporary plots folder it made, so OUT keeps only
    what a finished report wrote."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    runs, benchmarks = find_runs(list(inputs))
    if not runs:
        raise ValueError(f"{', '.join(map(str, inputs))}: no finished run to report on")
    refs = read_reference(reference) if reference is not None else {}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    if plots.exists() and not _only_plots(plots):
        raise FileExistsError(f"{plots}: holds files the report did not write; give another --out (nothing was changed)")
    folder = out / f".plots.tmp-{os.getpid()}"
    made = not folder.exists()
    figures = _Figures(folder)
    try:
        return _publish(out, _page(runs, benchmarks, refs, figures), folder)
    except BaseException:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _benchmark_section(results: dict[str, Any], refs: dict[str, dict[str, float]]) -> list[str]:
    """A benchmark's heading, caption and results table (its cells' references replaced by `refs` where given)."""
    cells = results.get("cells", [])
    if refs:
        for cell in cells:
            task = cell.get("task")
            cell["reference"] = (refs.get(str(task)) or {}).get(cell["metric"], cell.get("reference"))
    return [
        f"<h2>{html.escape(results.get('title') or results.get('name', ''))} ({html.escape(str(results.get('scale', '')))} scale)</h2>",
        f"<p>{results.get('runs_finished', 0)} of {results.get('runs_planned', 0)} runs finished; mean ± sample SD over seeds "
        "(n runs) of the test split; bold: best of its comparison; in brackets the paper's number"
        + (" and the reference (best achievable)." if refs or any(c.get("reference") is not None for c in cells) else ".") + "</p>",
        to_html(cells, results.get("row_header", []), results.get("row_order", []), results.get("column_order", [])),
    ]


def _run_section(run: RunInfo, figures: _Figures) -> str:
    """One run: its metrics, figures, config and provenance."""
    title = ", ".join([f"{run.name} — {run.task}", run.model, *run.axes.values()]) + (f", seed {run.seed}" if run.seed is not None else "")
    body = [_metrics_table(run), *_run_figures(run, figures)]
    if not (run.path / "test_predictions.parquet").is_file():
        body.append("<p>No test_predictions.parquet (scored from streamed histograms): no ROC/PR or scatter.</p>")
    body.append("<details><summary>config.yaml</summary><pre>" + html.escape(run.config_text) + "</pre></details>")
    body.append("<details><summary>provenance (run.json)</summary>" + _provenance(run) + "</details>")
    return f"<section><h3>{html.escape(title)}</h3>{''.join(body)}</section>"


def _page(runs: list[RunInfo], benchmarks: list[dict[str, Any]], refs: dict[str, dict[str, float]], figures: _Figures) -> str:
    """The report's HTML, its PNGs written into `figures` on the way."""
    parts = ["<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>dnabench report</title>",
             f"<style>{_STYLE}</style></head><body><h1>dnabench report</h1>"]
    for results in benchmarks:
        parts += _benchmark_section(results, refs)
    tidy = _tidy(runs)
    if not benchmarks:
        parts.append("<h2>Results</h2>" + _run_table(tidy))
    bars = _bars(tidy, figures)
    if bars:
        parts.append("<h2>Metrics by model</h2><p>Bars: one per model and grid setting, mean over seeds; error bars: sample SD.</p>"
                     + "".join(bars))
    parts.append("<h2>Runs</h2>")
    parts += [_run_section(run, figures) for run in runs]
    parts.append("</body></html>")
    return "\n".join(parts)


def _publish(out: Path, text: str, folder: Path) -> Path:
    """Move the page and the plots in `folder` into place; an earlier report's plots/ is replaced whole, so none of its PNGs lingers."""
    page, plots = out / REPORT, out / "plots"
    tmp = out / f".{REPORT}.tmp-{os.getpid()}"
    try:
        tmp.write_text(text)
        if plots.exists():
            old = out / f".plots.old-{os.getpid()}"
            plots.rename(old)
            try:
                folder.rename(plots)
            except BaseException:
                old.rename(plots)
                raise
            shutil.rmtree(old)
        else:
            folder.rename(plots)
        os.replace(tmp, page)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return page


def _only_plots(folder: Path) -> bool:
    """Whether `folder` holds nothing but the numbered PNGs a report writes."""
    return folder.is_dir() and all(p.is_file() and re.fullmatch(r"\d{3}_[\w.-]*\.png", p.name) for p in folder.iterdir())
