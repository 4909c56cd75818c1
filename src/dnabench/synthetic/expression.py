"""Gene expression set by promoter and enhancer motifs, per tissue, as ExPecto's gene tables.

Genes are promoters with room around them. Each gets a few enhancers (two or three TF motifs
within 120 bp) between `ENHANCER_RANGE` bp of its TSS, inside the GeneExp window. In tissue t
its log expression is base_t + promoter strength + the sum, over its enhancer sites, of
activity[t, motif] times the site's match, plus noise: `log_expression` holds the noiseless
part, the best achievable prediction. The files are ExPecto's geneanno.csv (1-based TSS) and
geneanno.exp.csv (genes x tissues in the annotation's row order, expression not logged).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.synthetic.files import write_text
from dnabench.synthetic.genome import GenomeBuilder
from dnabench.synthetic.motifs import TF_MOTIFS

__all__ = ["ENHANCER_RANGE", "TISSUES", "tissue_activity", "plant_enhancers", "expression_truth", "write_geneanno", "write_expression"]

#: distance of enhancers from the TSS (bp): outside the 500 bp promoter windows, inside the GeneExp window
ENHANCER_RANGE = (650, 1_850)
#: tissues with the motifs active in each (the first four are the fine-mapping tissues too)
TISSUES: dict[str, tuple[str, ...]] = {
    "Liver": ("FOXA", "CEBP"),
    "Whole_Blood": ("GATA", "ETS", "NFKB"),
    "Lung": ("AP1", "FOXA"),
    "Brain_Cortex": ("EBOX", "CTCF"),
    "Heart_Left_Ventricle": ("GATA", "EBOX"),
    "Spleen": ("ETS", "NFKB"),
    "Stomach": ("CEBP", "AP1"),
    "Thyroid": ("FOXA", "ETS"),
}


def tissue_activity(tissues: dict[str, tuple[str, ...]], rng: np.random.Generator) -> pd.DataFrame:
    """activity[tissue, motif]: 0.8-1.6 for a tissue's own motifs, 0-0.1 for the others."""
    motifs = list(TF_MOTIFS)
    act = rng.uniform(0.0, 0.1, (len(tissues), len(motifs)))
    for i, own in enumerate(tissues.values()):
        for m in own:
            act[i, motifs.index(m)] = rng.uniform(0.8, 1.6)
    return pd.DataFrame(act, index=list(tissues), columns=motifs)


def plant_enhancers(gb: GenomeBuilder, genes: pd.DataFrame, rng: np.random.Generator, mean_enhancers: float = 1.6) -> pd.DataFrame:
    """Plant enhancers around each gene's TSS; returns one row per enhancer (chrom, centre, gene, motifs).

    The sites themselves go to `gb.sites` with kind "enhancer" and the gene as owner.
    """
    names = list(TF_MOTIFS)
    rows = []
    for g in genes.itertuples():
        for _ in range(int(rng.poisson(mean_enhancers))):
            for _attempt in range(20):
                side = 1 if rng.random() < 0.5 else -1
                centre = g.tss + side * int(rng.integers(*ENHANCER_RANGE))
                if gb.is_free(g.chrom, centre - 70, centre + 70):
                    break
            else:
                continue
            k = int(rng.integers(2, 4))
            chosen = rng.choice(names, size=k, replace=True)
            cursor = centre - 60
            planted = []
            for m in chosen:
                motif = TF_MOTIFS[str(m)]
                strand = "+" if rng.random() < 0.5 else "-"
                site = gb.plant(g.chrom, cursor, motif, strand, rng, kind="enhancer", owner=g.name)
                planted.append(site["motif"])
                cursor += motif.length + int(rng.integers(4, 20))
                if cursor > centre + 50:
                    break
            gb.reserve(g.chrom, centre - 70, centre + 70)
            rows.append({"chrom": g.chrom, "centre": centre, "gene": g.name, "motifs": ",".join(planted)})
    return pd.DataFrame(rows, columns=["chrom", "centre", "gene", "motifs"])


def expression_truth(
    genes: pd.DataFrame, sites: pd.DataFrame, activity: pd.DataFrame, rng: np.random.Generator, noise: float = 0.75
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(noiseless log expression, measured log expression), genes x tissues, from the rule above."""
    enh = sites[sites["kind"] == "enhancer"]
    match = enh["score"].to_numpy() / enh["motif"].map(lambda m: TF_MOTIFS[m].max_score).to_numpy()
    per_gene = pd.DataFrame({"gene": enh["owner"].to_numpy(), "motif": enh["motif"].to_numpy(), "match": match})
    load = per_gene.pivot_table(index="gene", columns="motif", values="match", aggfunc="sum", fill_value=0.0)
    load = load.reindex(index=genes["name"], columns=activity.columns, fill_value=0.0)
    base = rng.normal(1.0, 0.3, len(activity))
    truth = base[None, :] + 1.2 * genes["strength"].to_numpy()[:, None] + load.to_numpy() @ activity.to_numpy().T
    truth = pd.DataFrame(truth, index=genes["name"].to_numpy(), columns=activity.index)
    measured = truth + rng.normal(0.0, noise, truth.shape)
    return truth, measured


def write_geneanno(genes: pd.DataFrame, path: str | os.PathLike) -> Path:
    """ExPecto's geneanno.csv: id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type (1-based TSS).

    The CAGE TSS is the planted TSS; the annotated TSS lies a few bases away, as in ExPecto's file.
    """
    lines = ["id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type"]
    for g in genes.itertuples():
        lines.append(f"{g.gene_id},{g.name},{g.chrom},{g.strand},{g.tss + 1 + g.tss_shift},{g.tss + 1},{g.gene_type}")
    return write_text(path, "\n".join(lines) + "\n")


def write_expression(measured: pd.DataFrame, path: str | os.PathLike) -> Path:
    """geneanno.exp.csv: an unnamed row-number column, then one column per tissue of exp(log expression)."""
    values = np.exp(measured.to_numpy())
    lines = ["," + ",".join(measured.columns)]
    for i, row in enumerate(values):
        lines.append(f"{i}," + ",".join(f"{v:.6g}" for v in row))
    return write_text(path, "\n".join(lines) + "\n")
