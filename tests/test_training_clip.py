"""Gradient clipping is done by the module, so a fused AdamW under mixed precision can clip too."""

import torch

from dnabench.models import build_model
from dnabench.data.task import LabelKind, LabelSet, table_spec
from dnabench.training.module import DNATaskModule

SPEC, LABELS = table_spec(LabelKind.BINARY, 1, 64), LabelSet(("y",))


def _module(grad_clip):
    model = build_model("cnn_fc", seq_len=64, num_outputs=1, channels=(8, 8), fc_size=8)
    return DNATaskModule(model, SPEC, LABELS, grad_clip=grad_clip)


def _grad_norm(module) -> float:
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.model.parameters()])))


def _big_gradients(module) -> None:
    for p in module.model.parameters():
        p.grad = torch.full_like(p, 10.0)


def test_gradient_norm_clipped_before_the_optimizer_step():
    module = _module(grad_clip=1.0)
    _big_gradients(module)
    module.on_before_optimizer_step(None)
    assert abs(_grad_norm(module) - 1.0) < 1e-4


def test_no_clipping_when_off():
    module = _module(grad_clip=0.0)
    _big_gradients(module)
    before = _grad_norm(module)
    module.on_before_optimizer_step(None)
    assert _grad_norm(module) == before > 1.0
