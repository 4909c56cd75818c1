"""Model zoo: Transformer (4 tokenizations x 3 position encodings) and CNN baselines.

    from dnabench.models import build_model, DNAModel
    model = build_model("transformer", tokenizer="patch", positions="rotary", num_outputs=919)
    batch = model.encode(codes)                     # uint8 codes [B, L] -> ids (+ mask)
    logits = model(batch.ids, batch.attention_mask)  # [B, num_outputs]
    model.save_pretrained("run/model"); model = DNAModel.from_pretrained("run/model")

Every model is front end + trunk + head, built from typed dataclasses (``config.py``).
Importing this package registers every model kind (``cnn``, ``transformer``) with the
registry; ``kernels/`` holds the optional fused GPU paths.
"""

from dnabench.models.base import DNAModel
from dnabench.models.cnn import CNNFCModel, CNNLSTMModel
from dnabench.models.config import (
    CNNFCConfig,
    CNNLSTMConfig,
    ConvStackConfig,
    EncoderConfig,
    FrontendConfig,
    HeadConfig,
    TransformerConfig,
    config_from_dict,
    config_to_dict,
)
from dnabench.models.heads import Head
from dnabench.models.io import load_pretrained, read_config, save_pretrained
from dnabench.models.losses import (
    Loss,
    LossConfig,
    bce_loss,
    build_loss,
    focal_loss,
    huber_loss,
    mse_loss,
)
from dnabench.models.registry import MODELS, build_model, make_config, model_class, register_model
from dnabench.models.transformer import TransformerModel

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
