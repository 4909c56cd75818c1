"""Save and load: ``config.json`` + ``model.safetensors`` + ``tokenizer/`` (no pickle, no remote code).

``config.json`` holds the model name, its full configuration, the tokenizer's own config, the
parameter count and the dnabench version that wrote it::

    {"format": 1, "model": "transformer", "dnabench_version": "0.1.0",
     "config": {...}, "tokenizer": {"type": "patch", "k": 4}, "num_parameters": 13081089}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file

from dnabench.models.config import config_to_dict
from dnabench.models.registry import make_config, model_class

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
FORMAT_VERSION = 1


def _version() -> str:
    from dnabench import __version__

    return __version__


def save_pretrained(model: Any, directory: str | Path) -> Path:
    """Write ``model`` (a DNAModel) into ``directory`` (created if needed); return the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt", "model": model.name})
    tokenizer = getattr(model, "tokenizer", None)
    meta = {
        "format": FORMAT_VERSION,
        "model": model.name,
        "dnabench_version": _version(),
        "torch_version": torch.__version__,
        "config": config_to_dict(model.config),
        "tokenizer": tokenizer.config() if tokenizer is not None else None,
        "num_parameters": model.num_parameters(),
    }
    if tokenizer is not None:
        tokenizer.save(directory / TOKENIZER_DIR)
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return directory


def read_config(directory: str | Path) -> tuple[str, Any, dict[str, Any]]:
    """``(model name, config dataclass, whole config.json)`` of a saved model."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} in {directory}: not a saved dnabench model")
    try:
        meta = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: damaged config, not JSON ({err})") from None
    if not isinstance(meta, dict) or "model" not in meta or "config" not in meta:
        raise ValueError(f"{path}: not a dnabench model config (needs 'model' and 'config')")
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path} has format {meta.get('format')!r}; this dnabench reads format {FORMAT_VERSION}")
    name = meta["model"]
    return name, make_config(name, meta["config"]), meta


def load_pretrained(directory: str | Path, *, device: Optional[str | torch.device] = None) -> Any:
    """Rebuild the model saved in ``directory`` and load its weights (strict)."""
    directory = Path(directory)
    name, config, meta = read_config(directory)
    tokenizer = None
    if (directory / TOKENIZER_DIR).is_dir():
        from dnabench.tokenize import load_tokenizer

        tokenizer = load_tokenizer(directory / TOKENIZER_DIR)
    model = model_class(name)(config, tokenizer=tokenizer)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no such file; the saved model in {directory} is incomplete")
    try:
        state = load_file(str(weights), device="cpu")
    except Exception as err:  # safetensors raises its own SafetensorError on damaged bytes
        raise ValueError(f"{weights}: damaged or truncated weights ({' '.join(str(err).split())}); save or copy the model again") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"weights in {directory / WEIGHTS_FILE} do not fit the config: missing {missing}, unexpected {unexpected}")
    if device is not None:
        model = model.to(device)
    return model
