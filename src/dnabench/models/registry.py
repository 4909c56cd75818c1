"""Model registry: ``build_model(name, config or kwargs)`` for ``transformer``, ``cnn_fc``, ``cnn_lstm``.

A leaf of the models package: model modules add their classes with ``@register_model`` and
``dnabench.models`` imports them all, so the registry (and save/load, which looks classes up
by name here) needs no model code of its own and no import cycle runs through it.
"""

from __future__ import annotations

from typing import Any, Optional, TypeVar

from dnabench.models.config import config_from_dict, config_with

#: a DNAModel subclass (typed loosely: the registry does not import the model base class)
ModelClass = TypeVar("ModelClass", bound=type)

#: model name -> DNAModel subclass (its ``config_class`` is the config dataclass)
MODELS: dict[str, Any] = {}


def register_model(cls: ModelClass) -> ModelClass:
    """Class decorator / call: make ``cls`` buildable and loadable by ``cls.name``."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__name__} has no name")
    MODELS[cls.name] = cls
    return cls


#: the modules that register model kinds, imported the first time a name is looked up (so that
#: reading a config dataclass does not import PyTorch)
MODEL_MODULES = ("dnabench.models.cnn", "dnabench.models.transformer", "dnabench.models.upper")


def _register_all() -> None:
    import importlib

    for module in MODEL_MODULES:
        importlib.import_module(module)


def model_class(name: str) -> Any:
    """The DNAModel subclass registered as ``name``."""
    if name not in MODELS:
        _register_all()
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


def make_config(name: str, config: Any = None, **kwargs: Any) -> Any:
    """The config dataclass of model ``name``: ``config`` (a dataclass or dict) with flat overrides.

    Flat keyword names are routed to the part that owns them, e.g. for ``transformer``:
    ``tokenizer`` / ``k`` -> frontend, ``hidden_size`` / ``positions`` -> encoder,
    ``num_outputs`` / ``output`` -> head.
    """
    cls = model_class(name).config_class
    if isinstance(config, dict):
        config = config_from_dict(cls, config)
    if config is not None and not isinstance(config, cls):
        raise TypeError(f"model {name!r} takes a {cls.__name__}, got {type(config).__name__}")
    if config is None or kwargs:
        config = config_with(cls, config, **kwargs)
    return config


def build_model(name: str, config: Any = None, *, tokenizer: Optional[Any] = None, **kwargs: Any) -> Any:
    """Build a model (a ``DNAModel``) by name from its config dataclass, a dict, flat keyword options, or a mix.

    ``build_model("transformer", tokenizer="kmer", positions="relative", num_outputs=919)``: see
    :func:`make_config` for the routing. ``tokenizer`` is either the front end's kind (a string)
    or a tokenizer object (needed for BPE, whose vocabulary comes from training); without a
    ``config``, the model class reads its options from the object
    (``DNAModel.options_from_tokenizer``).
    """
    cls = model_class(name)
    if isinstance(tokenizer, str):  # the front end's kind, e.g. build_model("transformer", tokenizer="kmer")
        kwargs["tokenizer"] = tokenizer
        tokenizer = None
    elif tokenizer is not None and config is None:
        for key, value in cls.options_from_tokenizer(tokenizer).items():
            kwargs.setdefault(key, value)
    return cls(make_config(name, config, **kwargs), tokenizer=tokenizer)
