"""An experiment config expanded into an ordered list of steps: what to run, where, after what.

Kinds of step: ``tokenizer`` (BPE training), ``pretrain`` (MLM), ``train`` (a supervised run on
a window store), ``features`` (a backbone's representations of a pair or segmented store) and
``fit`` (a model trained on those features). Every step has a deterministic folder under OUT,
readable as ``runs/TASK/MODEL/AXIS-VALUE.../seed-N`` (``pretrain/DEP/...``, ``deps/DEP/...``,
``features/TASK/...``, ``tokenizers/DEP``), which is also its id, and the ids of the steps it
needs. Steps come out in dependency order (a step after everything it needs).

The cost of a step is an estimate, printed by ``--dry-run``: samples seen (training rows x
epochs, capped by max_steps x batch size) x input length / 1000 bp, divided by the samples a
second (at 1000 bp) of the model kind (`RATES`, or the config's ``rates``), plus `START_S`.
Rows and lengths come from each store's card when the store is there, else from the task's
``rows`` / ``length``. Features cost a third of a training pass over every row (forward only);
pretraining counts both strands of every chunk of the genome.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from dnabench.experiments.config import ExperimentConfig, ModelEntry, TaskEntry, deep_merge

__all__ = ["RATES", "START_S", "Plan", "Step", "build_plan", "select", "format_seconds"]

#: samples a second at 1000 bp of each model kind on one GPU (full-size models). The Transformer's
#: is docs/performance.md's `dnabench.training.run.train` rate on one H200 (6,537, eager, bf16); the
#: CNNs' are that rate times their bare-step speed ratio to the Transformer there (x2.1, x1.9);
#: the estimators' are rows a second of a fit; `bpe` is bases a second of tokenizer training.
RATES: dict[str, float] = {
    "transformer": 6500.0,
    "cnn_fc": 14000.0,
    "cnn_lstm": 12500.0,
    "pretrain": 6500.0,
    "upper_transformer": 2000.0,
    "random_forest": 20000.0,
    "xgboost": 50000.0,
    "kmer_lr": 50000.0,
    "bpe": 2.0e6,
}
#: seconds a step costs before its first sample (process, model, data, Lightning)
START_S = 5.0
KINDS = ("tokenizer", "pretrain", "train", "features", "fit")


@dataclass
class Step:
    """One unit of work: its folder under OUT is its id."""

    id: str
    kind: str
    needs: list[str] = field(default_factory=list)
    #: what the step's executor reads: a TrainConfig / PretrainConfig mapping, or the options of
    #: tokenizer training or feature extraction, with absolute paths
    config: dict[str, Any] = field(default_factory=dict)
    #: a cell of the table: task, model, axis values, seed and the labels of its row and column
    result: bool = False
    task: Optional[str] = None
    model: Optional[str] = None
    axes: dict[str, str] = field(default_factory=dict)
    seed: Optional[int] = None
    store: Optional[str] = None
    metrics: list[str] = field(default_factory=list)
    row: str = ""
    column: str = ""
    #: estimated seconds on the device it runs on (None: the store and the config give no size)
    cost_s: Optional[float] = None
    rows: Optional[int] = None

    def tags(self) -> list[str]:
        """What `--only` matches: the id, task, model, task/model, row label and axis values."""
        out = [self.id, self.kind]
        if self.task:
            out.append(self.task)
        if self.model:
            out.append(self.model)
        if self.task and self.model:
            out.append(f"{self.task}/{self.model}")
        if self.row:
            out.append(self.row)
        out += [f"{k}={v}" for k, v in self.axes.items()]
        return out


@dataclass
class Plan:
    name: str
    title: str
    table: str
    scale: str
    steps: list[Step]
    #: the table layout and the labels and order of every dimension's values (for results.py)
    layout: dict[str, Any]
    out: str = ""
    stores: str = ""
    config_path: str = ""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"no step {step_id!r} in the plan of {self.name}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "table": self.table, "scale": self.scale, "out": self.out,
            "stores": self.stores, "config": self.config_path, "layout": self.layout, "steps": [asdict(s) for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(data["name"], data.get("title", ""), data.get("table", ""), data.get("scale", ""),
                   [Step(**s) for s in data["steps"]], data.get("layout", {}), data.get("out", ""), data.get("stores", ""),
                   data.get("config", ""))

    @classmethod
    def read(cls, path: str | Path) -> Plan:
        path = Path(path)
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a benchmark plan ({err})") from None

    def total_cost(self) -> Optional[float]:
        costs = [s.cost_s for s in self.steps]
        return None if any(c is None for c in costs) else float(sum(costs))  # type: ignore[arg-type]


def format_seconds(seconds: Optional[float]) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _part(value: Any) -> str:
    """A path-safe folder name part."""
    text = str(value)
    return "".join(c if c.isalnum() or c in "._-+" else "_" for c in text) or "_"


def _path(stores: Path, name: str) -> Path:
    candidate = Path(name).expanduser()
    return candidate if candidate.is_absolute() else stores / candidate


def _card(path: Path) -> dict[str, Any]:
    """The store card at `path` (a store folder), or {} where there is none."""
    card = path / "dataset.json"
    try:
        return json.loads(card.read_text()) if card.is_file() else {}
    except (OSError, ValueError):
        return {}


def _size(stores: Path, store: str, rows: Optional[int], length: Optional[int]) -> tuple[Optional[int], Optional[int], Optional[int], int]:
    """(train rows, all rows, bases a sample sees, segments) of a store, from its card or the config's hints."""
    card = _card(_path(stores, store))
    counts = card.get("counts") or {}
    sample = card.get("sample") or {}
    train_rows = counts.get("train", rows)
    all_rows = sum(counts.values()) if counts else (None if rows is None else int(rows / 0.8))
    seq_len = card.get("input_length") or sample.get("length") or length
    segments = int(sample.get("segments", 1)) if sample.get("kind") == "segmented" else (2 if sample.get("kind") == "pair" else 1)
    return train_rows, all_rows, seq_len, segments


def _train_cost(rate: float, rows: Optional[int], length: Optional[int], options: dict[str, Any]) -> Optional[float]:
    """Seconds of a run; None where a size or an option is unknown or malformed (the step's own
    check then names the bad option: an estimate is no place for that error)."""
    if rows is None or length is None:
        return None
    try:
        epochs = int(options.get("max_epochs", 10))
        samples = rows * float(options.get("train_fraction", 1.0)) * epochs
        steps = int(options.get("max_steps", -1))
        if steps > 0:
            samples = min(samples, steps * int(options.get("batch_size", 64)))
        return START_S + samples * (float(length) / 1000) / rate
    except (TypeError, ValueError):
        return None


class _Builder:
    """Makes each step once (a dependency shared by several runs is one step) and keeps their order."""

    def __init__(self, config: ExperimentConfig, out: Path, stores: Path) -> None:
        self.config, self.out, self.stores = config, out, stores
        self.steps: dict[str, Step] = {}
        self.rates = {**RATES, **config.rates}

    def add(self, step: Step) -> Step:
        old = self.steps.get(step.id)
        if old is not None:
            if old.config != step.config:
                raise ValueError(f"{self.config.path}: two different runs would share the folder {step.id}; give them distinct keys")
            return old
        self.steps[step.id] = step
        return step

    def folder(self, step_id: str) -> str:
        return str(self.out / step_id)

    def rate(self, kind: str) -> float:
        return self.rates.get(kind, RATES["transformer"])

    # ----- the run's resolved settings

    def settings(self, task: TaskEntry, model: ModelEntry, combo: tuple) -> dict[str, Any]:
        model_options = copy.deepcopy(model.model_options)
        train = deep_merge(deep_merge(self.config.train, task.train), model.train)
        init, tokenizer, pretrain = model.init, model.tokenizer, {}
        for value in combo:
            model_options = deep_merge(model_options, value.model_options)
            train = deep_merge(train, value.train)
            pretrain = deep_merge(pretrain, value.pretrain)
            if value.sets_init:
                init = value.init
            if value.tokenizer:
                tokenizer = value.tokenizer
        shaping = [f"{axis}-{_part(v.key)}" for axis, v in zip(self.config.grid, combo) if v.shapes_model()]
        return {"model_options": model_options, "train": train, "init": init, "tokenizer": tokenizer, "pretrain": pretrain, "shaping": shaping}

    # ----- dependencies

    def tokenizer_step(self, name: str) -> Step:
        dep = self.config.dependencies[name]
        step_id = f"tokenizers/{_part(name)}"
        options = {"vocab_size": 16000, "sample_mbp": 100.0, "chunk": 10_000, "seed": 0, **dep.options}
        genome = _path(self.stores, dep.genome or "")
        config = {"genome": str(genome), "out": self.folder(step_id), **options}
        size = _genome_bases(genome)
        bases = min(float(options["sample_mbp"]) * 1e6, size) if size else float(options["sample_mbp"]) * 1e6
        return self.add(Step(step_id, "tokenizer", [], config, cost_s=START_S + bases / self.rate("bpe")))

    def init_step(self, name: str, model: ModelEntry, settings: dict[str, Any], seed: int) -> Step:
        dep = self.config.dependencies[name]
        seed = self.config.seeds[0] if dep.seeds == "first" else seed
        owner = self.config.models[dep.model] if dep.model else model
        parts = [_part(name), _part(owner.key), *settings["shaping"], f"seed-{seed}"]
        needs: list[str] = []
        tokenizer_path = None
        if settings["tokenizer"]:
            tok = self.tokenizer_step(settings["tokenizer"])
            needs.append(tok.id)
            tokenizer_path = tok.config["out"]
        model_options = deep_merge(owner.model_options, settings["model_options"]) if dep.model else settings["model_options"]
        if dep.kind == "pretrain":
            step_id = "pretrain/" + "/".join(parts)
            config = {
                **({"genome": str(_path(self.stores, dep.genome))} if dep.genome else {}),
                **({"data": [str(_path(self.stores, d)) for d in dep.data]} if dep.data else {}),
                "out": self.folder(step_id), "model_options": model_options, "tokenizer_path": tokenizer_path, "seed": seed, "progress": False,
                **deep_merge(dep.options, settings["pretrain"]),
            }
            cost, chunks = self._pretrain_cost(dep, config)
            return self.add(Step(step_id, "pretrain", needs, config, seed=seed, cost_s=cost, rows=chunks))
        step_id = "deps/" + "/".join(parts)
        options = deep_merge(self.config.train, dep.options)
        config = {
            "data": str(_path(self.stores, dep.store or "")), "model": owner.model, "model_options": model_options,
            "tokenizer_path": tokenizer_path, "seed": seed, "out": self.folder(step_id), "progress": False, **options,
        }
        train_rows, _, length, _ = _size(self.stores, dep.store or "", dep.rows, dep.length)
        cost = _train_cost(self.rate(owner.model), train_rows, length, options)
        return self.add(Step(step_id, "train", needs, config, model=owner.key, seed=seed, store=dep.store, cost_s=cost, rows=train_rows))

    def _pretrain_cost(self, dep: Any, config: dict[str, Any]) -> tuple[Optional[float], Optional[int]]:
        """(seconds, chunks of both strands) of a pretraining run on a genome cache (or `rows` chunks)."""
        try:
            length = int(config.get("length", 1024))
        except (TypeError, ValueError):  # the step's own check names the bad length
            return None, None
        bases = _genome_bases(Path(config["genome"])) if "genome" in config else None
        chunks = int(2 * bases / length) if bases else dep.rows
        if chunks is None:
            return None, None
        return _train_cost(self.rate("pretrain"), chunks, length, {"batch_size": 128, "max_epochs": 10, **config}), chunks

    # ----- the table's runs

    def run_steps(self, task: TaskEntry, model: ModelEntry, combo: tuple, seed: int) -> Step:
        """The step whose metrics are the cell (task, model, combo, seed), after the steps it needs."""
        settings = self.settings(task, model, combo)
        axes = {axis: v.key for axis, v in zip(self.config.grid, combo)}
        parts = [_part(task.key), _part(model.key), *[f"{a}-{_part(v)}" for a, v in axes.items()], f"seed-{seed}"]
        step_id = "runs/" + "/".join(parts)
        meta = dict(result=True, task=task.key, model=model.key, axes=axes, seed=seed, store=task.store, metrics=list(task.metrics),
                    row=self.label(self.config.layout.rows, task, model, combo), column=self.label(self.config.layout.columns, task, model, combo))
        if task.backbone is None:
            needs, extra = self.start_steps(model, settings, seed)
            config = {
                "data": str(_path(self.stores, task.store)), "model": model.model, "model_options": settings["model_options"],
                "seed": seed, "out": self.folder(step_id), "progress": False, **extra, **settings["train"],
            }
            train_rows, _, length, _ = _size(self.stores, task.store, task.rows, task.length)
            cost = _train_cost(self.rate(model.model), train_rows, length, settings["train"])
            return self.add(Step(step_id, "train", needs, config, cost_s=cost, rows=train_rows, **meta))
        backbone = self.backbone_step(task, model, combo, seed, settings)
        assert task.fit is not None
        feat_id = "features/" + "/".join(parts)
        _, all_rows, length, segments = _size(self.stores, task.store, task.rows, task.length)
        feat_config = {"model_dir": backbone.config["out"], "data": str(_path(self.stores, task.store)), "out": self.folder(feat_id), **task.fit.features}
        feat_cost = None if all_rows is None or length is None else START_S + all_rows * segments * (length / 1000) / (3 * self.rate(model.model))
        features = self.add(Step(feat_id, "features", [backbone.id], feat_config, task=task.key, model=model.key, axes=axes, seed=seed,
                                 store=task.store, cost_s=feat_cost, rows=all_rows))
        options = deep_merge(deep_merge(self.config.train, task.train), task.fit.train)
        config = {"data": features.config["out"], "model": task.fit.model, "model_options": task.fit.model_options, "seed": seed,
                  "out": self.folder(step_id), "progress": False, **options}
        train_rows, _, _, _ = _size(self.stores, task.store, task.rows, task.length)
        rate = self.rate(task.fit.model)
        if task.fit.model in ("random_forest", "xgboost", "kmer_lr"):
            cost = None if train_rows is None else START_S + train_rows / rate
        else:
            cost = _train_cost(rate, train_rows, 1000, options)
        return self.add(Step(step_id, "fit", [features.id], config, cost_s=cost, rows=train_rows, **meta))

    def start_steps(self, model: ModelEntry, settings: dict[str, Any], seed: int) -> tuple[list[str], dict[str, Any]]:
        """Steps a run starts from (its init and tokenizer) and the TrainConfig keys that point to them."""
        needs: list[str] = []
        extra: dict[str, Any] = {}
        if settings["tokenizer"]:
            tok = self.tokenizer_step(settings["tokenizer"])
            needs.append(tok.id)
            extra["tokenizer_path"] = tok.config["out"]
        if settings["init"]:
            dep = self.init_step(settings["init"], model, settings, seed)
            needs.append(dep.id)
            extra["init"] = dep.config["out"]
        return needs, extra

    def backbone_step(self, task: TaskEntry, model: ModelEntry, combo: tuple, seed: int, settings: dict[str, Any]) -> Step:
        name = task.backbone or ""
        if name in self.config.tasks:
            return self.run_steps(self.config.tasks[name], model, combo, seed)
        return self.init_step(name, model, settings, seed)

    def label(self, dims: list[str], task: TaskEntry, model: ModelEntry, combo: tuple) -> str:
        keys = {"task": task.key, "model": model.key, **{axis: v.key for axis, v in zip(self.config.grid, combo)}}
        return " / ".join(self.config.label(d, keys[d]) for d in dims if d != "metric")


def _genome_bases(path: Path) -> Optional[float]:
    meta = path / "genome.json"
    try:
        data = json.loads(meta.read_text()) if meta.is_file() else None
    except (OSError, ValueError):
        return None
    total = data.get("total_length") if isinstance(data, dict) else None
    return float(total) if isinstance(total, (int, float)) else None


def _layout(config: ExperimentConfig) -> dict[str, Any]:
    """The layout with every dimension's values in config order and their labels."""
    metrics: list[str] = []
    for t in config.tasks.values():
        metrics += [m for m in t.metrics if m not in metrics]
    values = {
        "task": list(config.tasks), "model": list(config.models), "metric": metrics,
        **{axis.key: list(axis.values) for axis in config.grid.values()},
    }
    names = {"task": "Dataset", "model": "Model", "metric": "Metric", **{a.key: a.label for a in config.grid.values()}}
    return {
        "rows": list(config.layout.rows), "columns": list(config.layout.columns), "best": config.layout.best,
        "order": values, "names": names,
        "labels": {dim: {key: config.label(dim, key) for key in keys} for dim, keys in values.items()},
    }


def build_plan(config: ExperimentConfig, out: str | Path, stores: str | Path) -> Plan:
    """Every step of `config` under `out`, reading stores from `stores`; nothing is read but store cards."""
    out, stores = Path(out).resolve(), Path(stores).resolve()
    builder = _Builder(config, out, stores)
    combos = list(itertools.product(*[list(axis.values.values()) for axis in config.grid.values()]))
    for task in config.tasks.values():
        for model in config.models.values():
            for combo in combos:
                for seed in config.seeds:
                    builder.run_steps(task, model, combo, seed)
    return Plan(config.name, config.title, config.table, config.scale, list(builder.steps.values()), _layout(config), str(out),
                str(stores), config.path)


def select(plan: Plan, patterns: list[str] | None) -> Plan:
    """The steps matching any glob (id, task, model, task/model, row label, axis=value), with what they need."""
    if not patterns:
        return plan
    by_id = {s.id: s for s in plan.steps}
    chosen: set[str] = set()
    for step in plan.steps:
        if step.result and any(fnmatch.fnmatchcase(tag, p) for p in patterns for tag in step.tags()):
            chosen.add(step.id)
        elif not step.result and any(fnmatch.fnmatchcase(step.id, p) for p in patterns):
            chosen.add(step.id)
    if not chosen:
        raise ValueError(f"--only {' '.join(patterns)}: matches no step of {plan.name}; steps are named like {plan.steps[-1].id}")
    stack = list(chosen)
    while stack:
        for need in by_id[stack.pop()].needs:
            if need not in chosen:
                chosen.add(need)
                stack.append(need)
    return Plan(plan.name, plan.title, plan.table, plan.scale, [s for s in plan.steps if s.id in chosen], plan.layout, plan.out,
                plan.stores, plan.config_path)
