"""eQTL fine-mapping in GTEx's DAP-G layout: variants that break or make a motif are causal where it acts.

Candidate variants sit in gene windows. A "break" variant turns a well-matched base of a
planted enhancer site into another base; a "make" variant turns a mismatched base back into the
consensus; a "neutral" variant touches no planted site. Its effect in tissue t is
activity[t, motif] times the change of the site's PWM score; it is causal in t (PIP > 0.9) with
probability `causal_probability`, a logistic function of that effect, else spurious (PIP < 0.01)
or, now and then, in between (ambiguous). Neutral variants are causal only by a small chance:
the label noise of fine-mapping. `causal_probability` is the best achievable prediction.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.alphabet import BASES
from dnabench.synthetic.files import write_text
from dnabench.synthetic.genome import GenomeBuilder
from dnabench.synthetic.motifs import TF_MOTIFS

__all__ = ["make_variants", "causal_probability", "draw_pips", "write_dapg"]


def make_variants(
    gb: GenomeBuilder, genes: pd.DataFrame, sites: pd.DataFrame, rng: np.random.Generator, n_break: int, n_make: int, n_neutral: int,
    window: int = 2_000,
) -> pd.DataFrame:
    """Variants with their site and PWM score change: chrom, pos (1-based), ref, alt, gene, kind, motif, delta."""
    enh = sites[sites["kind"] == "enhancer"].reset_index(drop=True)
    rows: list[dict] = []
    used: set[tuple[str, int]] = set()
    for kind, n in (("break", n_break), ("make", n_make)):
        order = rng.permutation(len(enh))
        got = 0
        for i in order:
            if got >= n:
                break
            s = enh.iloc[int(i)]
            motif = TF_MOTIFS[s["motif"]]
            along = gb.fetch(s["chrom"], s["start"], s["end"], s["strand"])
            match = along == motif.codes
            choices = np.flatnonzero(match if kind == "break" else ~match)
            if not choices.size:
                continue
            j = int(rng.choice(choices))
            ref_along = int(along[j])
            if kind == "break":
                alt_along = int(rng.choice([b for b in range(4) if b != ref_along]))
            else:
                alt_along = int(motif.codes[j])
            delta = float(motif.log_odds[j, alt_along] - motif.log_odds[j, ref_along])
            pos0 = s["start"] + j if s["strand"] == "+" else s["end"] - 1 - j
            if (s["chrom"], pos0) in used:
                continue
            ref, alt = (ref_along, alt_along) if s["strand"] == "+" else (3 - ref_along, 3 - alt_along)
            used.add((s["chrom"], pos0))
            rows.append({"chrom": s["chrom"], "pos": pos0 + 1, "ref": BASES[ref], "alt": BASES[alt], "gene": s["owner"],
                         "kind": kind, "motif": s["motif"], "delta": delta})
            got += 1
    by_name = genes.set_index("name")
    names = genes["name"].to_numpy()
    got, attempts = 0, 0
    while got < n_neutral:
        attempts += 1
        if attempts > 100 * n_neutral + 1000:
            raise ValueError(f"found only {got} of {n_neutral} free places for neutral variants in the gene windows")
        g = by_name.loc[names[int(rng.integers(len(names)))]]
        pos0 = int(g["tss"] + rng.integers(-window, window))
        if gb.occupied[g["chrom"]][pos0 - 15 : pos0 + 15].any() or (g["chrom"], pos0) in used:
            continue
        ref = int(gb.sequences[g["chrom"]][pos0])
        alt = int(rng.choice([b for b in range(4) if b != ref]))
        used.add((g["chrom"], pos0))
        rows.append({"chrom": g["chrom"], "pos": pos0 + 1, "ref": BASES[ref], "alt": BASES[alt], "gene": str(g.name),
                     "kind": "neutral", "motif": "", "delta": 0.0})
        got += 1
    return pd.DataFrame(rows)


def causal_probability(variants: pd.DataFrame, activity: pd.DataFrame, tissues: list[str], floor: float = 0.02) -> pd.DataFrame:
    """P(causal) of each variant in each tissue: floor + (0.95 - floor) * sigmoid(4 (|delta| activity - 1.5))."""
    act = np.zeros((len(variants), len(tissues)))
    has = variants["motif"].to_numpy() != ""
    for k, t in enumerate(tissues):
        act[has, k] = activity.loc[t, variants.loc[has, "motif"]].to_numpy()
    effect = np.abs(variants["delta"].to_numpy())[:, None] * act
    p = floor + (0.95 - floor) / (1 + np.exp(-4.0 * (effect - 1.5)))
    return pd.DataFrame(p, columns=tissues)


def draw_pips(prob: pd.DataFrame, rng: np.random.Generator, ambiguous: float = 0.1) -> pd.DataFrame:
    """PIPs drawn from the causal probabilities: causal > 0.9; else, by chance `ambiguous`, 0.02-0.85; else < 0.01."""
    p = prob.to_numpy()
    causal = rng.random(p.shape) < p
    middle = ~causal & (rng.random(p.shape) < ambiguous)
    pip = np.where(causal, rng.uniform(0.905, 0.999, p.shape), np.where(middle, rng.uniform(0.02, 0.85, p.shape), rng.uniform(0.0, 0.0095, p.shape)))
    return pd.DataFrame(np.round(pip, 5), columns=prob.columns)


def write_dapg(variants: pd.DataFrame, pips: pd.DataFrame, gene_ids: dict[str, str], path: str | os.PathLike) -> Path:
    """GTEx_v8_finemapping_DAPG.txt: tissue_id gene_id cluster_id cluster_pip variant_id variant_pip, one row per tissue and variant."""
    ids = variants["chrom"] + "_" + variants["pos"].astype(str) + "_" + variants["ref"] + "_" + variants["alt"] + "_b38"
    genes = variants["gene"].map(gene_ids)
    lines = ["tissue_id\tgene_id\tcluster_id\tcluster_pip\tvariant_id\tvariant_pip"]
    for t in pips.columns:
        cluster = pd.factorize(variants["gene"])[0] + 1
        for gid, cl, vid, pip in zip(genes, cluster, ids, pips[t]):
            lines.append(f"{t}\t{gid}\t{cl}\t{min(1.0, pip + 0.01):.5g}\t{vid}\t{pip:.5g}")
    return write_text(path, "\n".join(lines) + "\n")
