"""Optional fast paths for the Transformer on a CUDA GPU: fused boundaries and their Triton kernels.

They live apart from the model code because none of them is needed to run a model: each
``fused_*`` module checks whether its path applies (CUDA tensors, Triton importable, inside
``torch.compile`` where that matters) and otherwise runs the plain PyTorch expression with the
same parameters and the same result. The ``triton_*`` modules hold the kernels and are imported
only on first use, so importing dnabench never imports Triton.
"""
