"""Model zoo: Transformer (4 tokenizations x 3 position encodings) and CNN baselines.

    from dnabench.models import build_model, DNAModel
    model = build_model("transformer", tokenizer="patch", positions="rotary", num_outputs=919)
    batch = model.encode(codes)                     # uint8 codes [B, L] -> ids (+ mask)
    logits = model(batch.ids, batch.attention_mask)  # [B, num_outputs]
    model.save_pretrained("run/model"); model = DNAModel.from_pretrained("run/model")

Every model is front end + trunk + head, built from typed dataclasses (``config.py``).
Names load on first use (PEP 562), so reading a config or a choice list does not import
PyTorch; the registry imports every model kind (``cnn``, ``transformer``, ``upper``) the first
time a name is looked up. ``kernels/`` holds the optional fused GPU paths.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the submodule that defines it
_EXPORTS = {
    "CNNFCConfig": "config",
    "CNNFCModel": "cnn",
    "CNNLSTMConfig": "config",
    "CNNLSTMModel": "cnn",
    "ConvStackConfig": "config",
    "DNAModel": "base",
    "EncoderConfig": "config",
    "FrontendConfig": "config",
    "Head": "heads",
    "HeadConfig": "config",
    "Loss": "losses",
    "LossConfig": "losses",
    "MODELS": "registry",
    "TransformerConfig": "config",
    "TransformerModel": "transformer",
    "UpperTransformerConfig": "upper",
    "UpperTransformerModel": "upper",
    "bce_loss": "losses",
    "build_loss": "losses",
    "build_model": "registry",
    "config_from_dict": "config",
    "config_to_dict": "config",
    "focal_loss": "losses",
    "huber_loss": "losses",
    "load_pretrained": "io",
    "make_config": "registry",
    "model_class": "registry",
    "mse_loss": "losses",
    "read_config": "io",
    "register_model": "registry",
    "save_pretrained": "io",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dnabench.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dnabench.models.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = [
    "CNNFCConfig",
    "CNNFCModel",
    "CNNLSTMConfig",
    "CNNLSTMModel",
    "ConvStackConfig",
    "DNAModel",
    "EncoderConfig",
    "FrontendConfig",
    "Head",
    "HeadConfig",
    "Loss",
    "LossConfig",
    "MODELS",
    "TransformerConfig",
    "TransformerModel",
    "UpperTransformerConfig",
    "UpperTransformerModel",
    "bce_loss",
    "build_loss",
    "build_model",
    "config_from_dict",
    "config_to_dict",
    "focal_loss",
    "huber_loss",
    "load_pretrained",
    "make_config",
    "model_class",
    "mse_loss",
    "read_config",
    "register_model",
    "save_pretrained",
]
