"""``python -m dnabench.models``: parameter counts of the default models (a markdown table).

Transformers use every default (4 x 512, 8 heads, GEGLU 1344, max_positions 2048) with one
output; BPE assumes the paper's 16k vocabulary (16000 ids). CNNs are sized for 1000 bp.
"""

from __future__ import annotations

import argparse

from dnabench.models.config import POSITIONS
from dnabench.models.registry import build_model
from dnabench.tokenize.base import TOKENIZERS



def rows(num_outputs: int = 1, bpe_vocab: int = 16000, seq_len: int = 1000) -> list[tuple[str, int, int, int]]:
    """(model, total, non-embedding, head) parameter counts."""
    out = []
    for kind in TOKENIZERS:
        for positions in POSITIONS:
            extra = {"vocab_size": bpe_vocab} if kind == "bpe" else {}
            m = build_model("transformer", tokenizer=kind, positions=positions, num_outputs=num_outputs, **extra)
            head = sum(p.numel() for p in m.head.parameters())
            out.append((f"transformer {kind}/{positions}", m.num_parameters(), m.num_parameters(True), head))
    for name in ("cnn_fc", "cnn_lstm"):
        m = build_model(name, seq_len=seq_len, num_outputs=num_outputs)
        head = sum(p.numel() for p in m.head.parameters())
        out.append((f"{name} ({seq_len} bp)", m.num_parameters(), m.num_parameters(True), head))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-outputs", type=int, default=1)
    p.add_argument("--bpe-vocab", type=int, default=16000)
    p.add_argument("--seq-len", type=int, default=1000, help="input length of the CNN baselines")
    args = p.parse_args()
    print(f"| model | parameters | non-embedding | head ({args.num_outputs} output{'s' if args.num_outputs > 1 else ''}) |")
    print("|---|---:|---:|---:|")
    for name, total, non_embedding, head in rows(args.num_outputs, args.bpe_vocab, args.seq_len):
        print(f"| {name} | {total:,} | {non_embedding:,} | {head:,} |")


if __name__ == "__main__":
    main()
