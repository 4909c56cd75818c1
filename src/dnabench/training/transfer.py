"""`dnabench train --init`: start a model from a pretrained encoder or from another run's model (paper 6.3, Table 4).

The source is a pretraining run (its ``encoder/``), a supervised run (its ``best/``: the
Track7878-trained backbone of Table 4's third column), or any folder written by
``save_pretrained``. Its front end and encoder are copied into the new model; the new head
keeps its fresh initialisation (a new task has other outputs).

The architecture comes from the source: options that the run does not set (tokenizer kind, k,
hidden size, layers, heads, positions, ...) are taken from it, and options it sets must agree
with it. A disagreement (a 5-mer source for a 4-patch run, a 512-wide source for a 256-wide
run, another BPE vocabulary) is a ValueError that names both values. Dropout and the
attention implementation are the new run's own.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dnabench.models import DNAModel, TransformerModel
from dnabench.models.config import config_to_dict

__all__ = ["init_from", "merged_config", "resolve_init_dir"]

#: encoder fields that neither shape a weight nor change what a weight means
_FREE_ENCODER_FIELDS = frozenset({"dropout", "attention_dropout", "relative_impl"})
_PARTS = ("frontend", "encoder", "head")


def resolve_init_dir(path: str | os.PathLike) -> Path:
    """The saved model of `path`: itself, a pretraining run's encoder/, or a supervised run's best/."""
    path = Path(path)
    for candidate in (path, path / "encoder", path / "best"):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"{path}: not a saved model (config.json), a pretraining run (encoder/) or a training run (best/)"
    )


def _given(options: Mapping[str, Any] | None) -> set[str]:
    """Flat names of the model options a run sets itself (whole parts count for all their keys)."""
    names: set[str] = set()
    for key, value in (options or {}).items():
        if key in _PARTS and isinstance(value, Mapping):
            names.update(value)
        else:
            names.add(key)
    return names


def merged_config(own: Any, source: Any, given: Mapping[str, Any] | None, where: str) -> Any:
    """The config a run with `given` model options builds from a `source` TransformerConfig: the
    source's front end and encoder shape with this run's head, pooling and free options; an option
    the run sets that disagrees with the source is a ValueError naming both values."""
    return _merged(own, source, _given(given), where)


def _merged(own: Any, theirs: Any, given: set[str], where: str) -> Any:
    mine_fe, src_fe = config_to_dict(own.frontend), config_to_dict(theirs.frontend)
    mine_enc, src_enc = config_to_dict(own.encoder), config_to_dict(theirs.encoder)
    if "max_positions" not in given and src_enc["positions"] != "absolute":
        src_enc = {**src_enc, "max_positions": max(src_enc["max_positions"], mine_enc["max_positions"])}
    for part, mine, src, free in (("frontend", mine_fe, src_fe, frozenset()), ("encoder", mine_enc, src_enc, _FREE_ENCODER_FIELDS)):
        for name, value in src.items():
            if name in free or mine[name] == value:
                continue
            if name in given:
                raise ValueError(
                    f"--init {where}: the source model has {name}={value!r} but this run asks for {name}={mine[name]!r}; "
                    f"drop the option (the source's value is used) or start from a model with {name}={mine[name]!r}"
                )
    encoder = {**src_enc, **{name: mine_enc[name] for name in _FREE_ENCODER_FIELDS}}
    return dataclasses.replace(
        own,
        frontend=type(own.frontend)(**src_fe),
        encoder=type(own.encoder)(**encoder),
    )


def _check_tokenizer(model: TransformerModel, source: TransformerModel, where: str) -> None:
    """A BPE run given its own trained tokenizer must use the source's vocabulary."""
    mine, theirs = model.tokenizer, source.tokenizer
    if mine is None or theirs is None or mine.name != "bpe" or theirs.name != "bpe":
        return
    if mine.hf_tokenizer.get_vocab() != theirs.hf_tokenizer.get_vocab():  # type: ignore[attr-defined]
        raise ValueError(
            f"--init {where}: the source's BPE tokenizer ({theirs.vocab_size} ids) is not this run's "
            f"--tokenizer-path tokenizer ({mine.vocab_size} ids); leave --tokenizer-path out to use the source's"
        )


def init_from(
    model: DNAModel, path: str | os.PathLike, given: Mapping[str, Any] | None = None, own_tokenizer: bool = False
) -> DNAModel:
    """`model` with the front end and encoder of the saved model at `path`; the head stays fresh.

    `given` holds the model options the run set itself (TrainConfig.model_options) and
    `own_tokenizer` says it brought a trained tokenizer (--tokenizer-path): those must match the
    source; the rest is taken from it, so the returned model may be a new one built for the
    source's architecture (with `model`'s head config and a freshly initialised head).
    """
    where = str(path)
    directory = resolve_init_dir(path)
    source = DNAModel.from_pretrained(directory)
    if not isinstance(model, TransformerModel) or not isinstance(source, TransformerModel):
        raise ValueError(
            f"--init {where}: the source is a {source.name!r} model and this run builds a {model.name!r} model; "
            "--init copies a transformer's front end and encoder into a transformer"
        )
    names = _given(given) | ({"tokenizer", "vocab_size", "k", "stride"} if own_tokenizer else set())
    _check_tokenizer(model, source, where)
    config = _merged(model.config, source.config, names, where)
    if config != model.config:
        model = TransformerModel(config, tokenizer=source.tokenizer)
    own = model.state_dict()
    incoming = {key: value for key, value in source.state_dict().items() if not key.startswith("head.")}
    missing = sorted(key for key in own if not key.startswith("head.") and key not in incoming)
    shapes = sorted(
        f"{key}: source {tuple(value.shape)} vs this model {tuple(own[key].shape)}"
        for key, value in incoming.items() if key in own and own[key].shape != value.shape
    )
    if missing or shapes:
        raise ValueError(f"--init {where}: the source's weights do not fit this model: missing {missing}, shape mismatches {shapes}")
    own.update({key: value for key, value in incoming.items() if key in own})
    model.load_state_dict(own)
    return model
