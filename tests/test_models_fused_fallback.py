"""Where the fused kernels cannot run (Triton without a C compiler, an unsupported GPU), the
first failure is reported once and the plain PyTorch ops take over for the rest of the process."""

from __future__ import annotations

import warnings

import pytest
import torch

from dnabench.models.kernels import fused_norm


def test_first_kernel_failure_warns_once_and_falls_back(monkeypatch):
    def broken_kernels():
        raise RuntimeError("no C compiler found")

    monkeypatch.setattr(fused_norm, "_kernels", broken_kernels)
    monkeypatch.setattr(fused_norm, "_kernels_ran", False)
    monkeypatch.setattr(fused_norm, "_failure", None)
    # Route these CPU tensors to the fused path, as CUDA tensors would be.
    monkeypatch.setattr(fused_norm, "fused_applies", lambda branch, norm: fused_norm._failure is None)
    norm = torch.nn.LayerNorm(16)
    res, branch, bias = torch.randn(3, 5, 16), torch.randn(3, 5, 16), torch.randn(16)
    expected_new = res + branch + bias
    with pytest.warns(RuntimeWarning, match="no C compiler found"):
        new, out = fused_norm.add_dropout_norm(res, branch, norm, 0.1, training=False, branch_bias=bias)
    torch.testing.assert_close(new, expected_new)
    torch.testing.assert_close(out, norm(expected_new))
    assert fused_norm._failure == "RuntimeError: no C compiler found"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fused_norm.add_dropout_norm(res, branch, norm, 0.1, training=False)  # plain now, silently
