"""What each kind of step does, how to tell that its folder is complete, and the worker process.

State of a step folder:
    done     complete (train / fit: metrics.json and run.json; pretrain: metrics.json and
             encoder/; tokenizer: its tokenizer_config.json; features: features.json): skipped
    partial  a checkpoint (last.ckpt or interrupted.ckpt) and no result: resumed
    empty    no folder, or an empty one: started
    stale    files but no checkpoint and no result (a run that failed early): the runner moves
             a folder it made aside to NAME.failed-N and starts again; one it did not make is an error

`python -m dnabench.experiments.steps PLAN.json STEP_ID` runs one step in its own process (the
runner starts one per GPU with CUDA_VISIBLE_DEVICES set).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from dnabench.experiments.plan import Plan, Step

__all__ = ["DONE_FILES", "check_step", "execute_step", "step_state", "move_aside"]

#: files whose presence means a step of that kind is complete
DONE_FILES: dict[str, tuple[str, ...]] = {
    "train": ("metrics.json", "run.json"),
    "fit": ("metrics.json", "run.json"),
    "pretrain": ("metrics.json", "encoder/config.json"),
    "tokenizer": ("tokenizer_config.json",),
    "features": ("features.json",),
}
_CHECKPOINTS = ("checkpoints/last.ckpt", "checkpoints/interrupted.ckpt")


def step_state(step: Step) -> str:
    """done | partial | empty | stale (see the module docstring)."""
    folder = Path(step.config["out"])
    if all((folder / name).exists() for name in DONE_FILES[step.kind]):
        return "done"
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return "empty"
    if step.kind in ("train", "fit", "pretrain") and any((folder / c).is_file() for c in _CHECKPOINTS):
        return "partial"
    return "stale"


def move_aside(folder: Path) -> Path:
    """Rename `folder` to the first free FOLDER.failed-N (nothing is deleted)."""
    n = 1
    while (target := folder.with_name(f"{folder.name}.failed-{n}")).exists():
        n += 1
    folder.rename(target)
    return target


def check_step(step: Step) -> None:
    """Build the step's typed config (every option checked) and check its inputs exist; raises ValueError."""
    cfg = step.config
    if step.kind in ("train", "fit"):
        from dnabench.training.config import TrainConfig

        TrainConfig.from_dict(dict(cfg), where=f"step {step.id}")
        if step.kind == "train" and not Path(cfg["data"]).exists():
            raise FileNotFoundError(f"step {step.id}: no store or table at {cfg['data']}")
    elif step.kind == "pretrain":
        from dnabench.training.pretrain import PretrainConfig

        PretrainConfig.from_dict(dict(cfg), where=f"step {step.id}")
        for path in ([cfg["genome"]] if cfg.get("genome") else []) + list(cfg.get("data") or []):
            if not Path(path).exists():
                raise FileNotFoundError(f"step {step.id}: no genome or sequence file at {path}")
    elif step.kind == "tokenizer":
        if not (Path(cfg["genome"]) / "genome.json").is_file():
            raise FileNotFoundError(f"step {step.id}: no genome cache at {cfg['genome']} (genome.json)")
    elif step.kind == "features":
        if not Path(cfg["data"]).exists():
            raise FileNotFoundError(f"step {step.id}: no store at {cfg['data']}")
        if importlib.util.find_spec("dnabench.training.features") is None:
            raise ValueError(f"step {step.id}: this dnabench has no feature extraction (dnabench.training.features)")


def execute_step(step: Step, device: str | None = None) -> None:
    """Run one step in this process: start it, or resume it from its checkpoint."""
    state = step_state(step)
    if state == "done":
        return
    cfg = dict(step.config)
    folder = Path(cfg["out"])
    if step.kind in ("train", "fit"):
        from dnabench.training.config import TrainConfig
        from dnabench.training.run import resume_run, train

        if state == "partial":
            resume_run(folder, {"progress": False})
        else:
            train(TrainConfig.from_dict(cfg, where=f"step {step.id}"))
    elif step.kind == "pretrain":
        from dnabench.training.pretrain import PretrainConfig, pretrain, resume_pretrain

        if state == "partial":
            resume_pretrain(folder, {"progress": False})
        else:
            pretrain(PretrainConfig.from_dict(cfg, where=f"step {step.id}"))
    elif step.kind == "tokenizer":
        _train_tokenizer(cfg)
    elif step.kind == "features":
        from dnabench.training.features import extract_features

        extract_features(cfg.pop("model_dir"), cfg.pop("data"), cfg.pop("out"), device=device, progress=False, **cfg)
    else:
        raise ValueError(f"step {step.id}: unknown kind {step.kind!r}")


def _train_tokenizer(cfg: dict[str, Any]) -> None:
    """BPE on random N-free chunks of the genome (`dnabench tokenizer train-bpe`), written in one rename."""
    from dnabench.io.files import atomic_dir
    from dnabench.io.genome import open_genome
    from dnabench.io.sampling import genome_chunks
    from dnabench.tokenize.bpe import train_bpe

    genome = open_genome(cfg["genome"])
    chunks = genome_chunks(genome, total_bases=int(float(cfg["sample_mbp"]) * 1e6), chunk=int(cfg["chunk"]), seed=int(cfg["seed"]))
    tokenizer = train_bpe(chunks, vocab_size=int(cfg["vocab_size"]))
    with atomic_dir(cfg["out"]) as tmp:
        tokenizer.save(tmp)


def main(argv: list[str] | None = None) -> int:
    """The worker: run STEP_ID of PLAN.json here; exit status 0 when it finished."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m dnabench.experiments.steps PLAN.json STEP_ID", file=sys.stderr)
        return 2
    step = Plan.read(args[0]).step(args[1])
    execute_step(step, device="cuda" if _has_cuda() else None)
    return 0


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
