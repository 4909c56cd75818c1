"""The demo's synthetic world: one genome with planted signals and the raw files of all six tasks.

One genome holds them all, so the signals are those of one world: genes are promoters with
enhancers, TF tracks peak at every planted site of their motif, CpG islands at promoters stay
unmethylated, fine-mapped variants break or make enhancer sites of the tissues' own TFs, MPRA
elements are motif-packed promoters. Files are written in the formats the real builders read
(EPD BED, bedMethyl, narrowPeak + track table, ExPecto's tables, GTEx DAP-G, the Kircher table,
VCF), and `World.truth` holds what each was generated from. One seed gives the same bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnabench.synthetic import GenomeBuilder, plant_repeats
from dnabench.synthetic import expression as expr
from dnabench.synthetic import finemap, methylation, mpra, peaks, promoters
from dnabench.synthetic.motifs import TF_MOTIFS
from dnabench.synthetic.vcf import write_vcf

__all__ = ["SCALES", "World", "make_world"]

#: chromosome sizes in kb, named like the real ones so the chromosome splits apply
_SIZES_KB = {
    "chr1": 520, "chr2": 470, "chr3": 330, "chr4": 300, "chr5": 300, "chr6": 280, "chr7": 260, "chr8": 480,
    "chr9": 240, "chr10": 280, "chr11": 280, "chr12": 240, "chr13": 200, "chrX": 280, "chrY": 120,
}

#: how much of everything each scale makes
SCALES: dict[str, dict[str, Any]] = {
    "demo": {"size": 1.0, "genes": 420, "promoters": 560, "elements": 5, "tf_sites": 80, "repeats": 110, "samples": 6,
             "cpgs": 3_000, "break": 300, "make": 200, "neutral": 500, "gwas_tissues": 4},
    "small": {"size": 0.5, "genes": 200, "promoters": 260, "elements": 3, "tf_sites": 40, "repeats": 50, "samples": 4,
              "cpgs": 1_500, "break": 150, "make": 100, "neutral": 250, "gwas_tissues": 4},
}

#: the DNase experiments and the TF motifs of the cells each one was measured in
_DNASE = {"DNase_K562": ("GATA", "ETS", "NFKB", "AP1"), "DNase_HepG2": ("FOXA", "CEBP", "CTCF", "EBOX")}
GENE_SLOT = 4_300  # room around a gene's TSS: the 4 kb GeneExp window and a margin


@dataclass
class World:
    """Paths of every raw file and the ground truth each was generated from.

    `files`: fasta, promoters (EPD BED), bedmethyl (one a sample), tracks (the track table),
    geneanno, expression, finemapping (DAP-G), mpra, mpra_promoters, vcf. `truth`: sites (every
    planted motif), promoters, enhancers, repeats, methylation (p_ACC per sample), genes,
    expression (noiseless log expression), variants (p_TISSUE, pip_TISSUE), mpra (effect), elements.
    """

    folder: Path
    seed: int
    scale: str
    sizes: dict[str, int]
    fasta: Path
    files: dict[str, Any]
    truth: dict[str, Any] = field(repr=False)
    tracks: list[peaks.Track] = field(repr=False, default_factory=list)
    samples: list[methylation.Sample] = field(default_factory=list)
    activity: pd.DataFrame = field(repr=False, default_factory=pd.DataFrame)

    @property
    def genome_bp(self) -> int:
        return int(sum(self.sizes.values()))


def make_world(folder: str | os.PathLike, seed: int = 0, scale: str = "demo") -> World:
    """Write the genome FASTA and every raw file under `folder`; returns their paths and truths.

    `scale` is "demo" (4.6 Mb, the demo's stores) or "small" (half of it, for tests).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}; got {scale!r}")
    cfg = SCALES[scale]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = dict(zip(
        ["genome", "genes", "promoters", "mpra", "enhancers", "tf", "repeats", "methyl", "peaks", "expression", "finemap", "measure"],
        [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(12)],
    ))
    sizes = {name: int(kb * 1000 * cfg["size"]) for name, kb in _SIZES_KB.items()}
    gb = GenomeBuilder(sizes, rng["genome"])

    # sequence: genes (promoter + enhancers), other promoters, MPRA elements, TF sites, repeats
    genes = promoters.plant_promoters(gb, cfg["genes"], rng["genes"], slot=GENE_SLOT, prefix="G", weights={"chr8": 1.6})
    others = promoters.plant_promoters(gb, cfg["promoters"], rng["promoters"], prefix="P")
    elements, element_sites = mpra.plant_elements(gb, cfg["elements"], rng["mpra"])
    enhancers = expr.plant_enhancers(gb, genes, rng["enhancers"])
    for name, m in TF_MOTIFS.items():
        for chrom, start in gb.free_positions(m.length, cfg["tf_sites"], rng["tf"], margin=150):
            gb.plant(chrom, start, m, "+" if rng["tf"].random() < 0.5 else "-", rng["tf"], kind="tf", owner=name)
    repeats = plant_repeats(gb, cfg["repeats"], rng["repeats"])
    genome = gb.to_genome()
    fasta = genome.write_fasta(folder / "genome.fa")
    sites = gb.sites_frame()
    all_promoters = pd.concat([genes.assign(gene=True), others.assign(gene=False)], ignore_index=True)
    files: dict[str, Any] = {"fasta": fasta}
    truth: dict[str, Any] = {"sites": sites, "promoters": all_promoters, "enhancers": enhancers, "repeats": repeats}

    # PromVary / PromFix: the listed promoters as EPD's BED
    files["promoters"] = promoters.write_epd_bed(all_promoters, folder / "promvary" / "Hs_EPDnew_demo.bed", gb.names)

    # Methyl96: RRBS-like CpGs, half in islands, and one bedMethyl file a sample
    cpgs = _rrbs_cpgs(gb, cfg["cpgs"], rng["methyl"])
    samples = methylation.make_samples(cfg["samples"], rng["methyl"])
    methyl = methylation.methylation_truth(gb.sequences, cpgs, samples, rng["methyl"])
    files["bedmethyl"] = []
    for s in samples:
        rows = methylation.bedmethyl_rows(methyl, s, rng["methyl"])
        files["bedmethyl"].append(methylation.write_bedmethyl(rows, folder / "methyl96" / f"{s.accession}.bed.gz", s.accession))
    truth["methylation"] = methyl

    # Track7878: narrowPeak files and the track table
    tracks = _tracks(all_promoters, enhancers, sites, repeats)
    peak_files = []
    for t in tracks:
        called = peaks.call_peaks(t, sizes, rng["peaks"])
        peak_files.append(f"{t.accession}.narrowPeak.gz")
        peaks.write_narrowpeak(called, folder / "track7878" / peak_files[-1])
    files["tracks"] = peaks.write_track_table(tracks, peak_files, folder / "track7878" / "tracks.tsv")

    # GeneExp: ExPecto's annotation and expression matrix
    activity = expr.tissue_activity(expr.TISSUES, rng["expression"])
    gene_table = genes.assign(
        gene_id=[f"ENSG{900000 + i:011d}" for i in range(len(genes))],
        tss_shift=rng["expression"].integers(-40, 41, len(genes)),
        gene_type=np.where(rng["expression"].random(len(genes)) < 0.8, "protein_coding", "lincRNA"),
    )
    log_truth, log_measured = expr.expression_truth(gene_table, sites, activity, rng["expression"])
    files["geneanno"] = expr.write_geneanno(gene_table, folder / "geneexp" / "geneanno.csv")
    files["expression"] = expr.write_expression(log_measured, folder / "geneexp" / "geneanno.exp.csv")
    truth["genes"] = gene_table
    truth["expression"] = log_truth

    # CausalSNP: variants that break or make enhancer sites, fine-mapped in four tissues
    tissues = list(expr.TISSUES)[: cfg["gwas_tissues"]]
    variants = finemap.make_variants(gb, gene_table, sites, rng["finemap"], cfg["break"], cfg["make"], cfg["neutral"])
    prob = finemap.causal_probability(variants, activity, tissues)
    pips = finemap.draw_pips(prob, rng["finemap"])
    gene_ids = dict(zip(gene_table["name"], gene_table["gene_id"] + ".1"))
    files["finemapping"] = finemap.write_dapg(variants, pips, gene_ids, folder / "causalsnp" / "GTEx_v8_finemapping_DAPG.txt.gz")
    truth["variants"] = variants.assign(**{f"p_{t}": prob[t].to_numpy() for t in tissues}, **{f"pip_{t}": pips[t].to_numpy() for t in tissues})

    # MPRAProm: saturation mutagenesis of the elements
    table = mpra.saturation_mutagenesis(gb, elements, element_sites, rng["measure"])
    files["mpra"] = mpra.write_kircher(table, folder / "mpraprom" / "elements.tsv.gz")
    files["mpra_promoters"] = mpra.write_experiment_list(list(elements["name"]), folder / "mpraprom" / "promoters.tsv")
    truth["mpra"] = table
    truth["elements"] = elements

    # a VCF of the fine-mapped variants for variant scoring, with their largest causal probability
    scored = variants.assign(id=variants["chrom"] + "_" + variants["pos"].astype(str), causal=prob.max(axis=1).to_numpy())
    files["vcf"] = write_vcf(scored, gb.sequences, folder / "variants.vcf", info={"causal": "CAUSAL_P"})

    return World(folder, seed, scale, sizes, fasta, files, truth, tracks, samples, activity)


def _rrbs_cpgs(gb: GenomeBuilder, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n` CpGs, as RRBS covers them: half from CpG-dense places (density >= 8), half from the rest."""
    every = methylation.cpg_sites(gb.sequences)
    dense = methylation.cpg_density(gb.sequences, every["chrom"].to_numpy(), every["pos"].to_numpy()) >= 8
    pick_dense = rng.choice(np.flatnonzero(dense), size=min(n // 2, int(dense.sum())), replace=False)
    pick_sparse = rng.choice(np.flatnonzero(~dense), size=min(n - pick_dense.size, int((~dense).sum())), replace=False)
    return every.iloc[np.sort(np.concatenate([pick_dense, pick_sparse]))].reset_index(drop=True)


def _tracks(all_promoters: pd.DataFrame, enhancers: pd.DataFrame, sites: pd.DataFrame, repeats: pd.DataFrame) -> list[peaks.Track]:
    """The tracks and their sources: one TF track a motif, two DNase, three histone marks."""
    tf_sites = sites[sites["kind"].isin(["tf", "enhancer", "mpra"]) & sites["motif"].isin(list(TF_MOTIFS))]
    centre = (tf_sites["start"] + tf_sites["end"]) // 2
    site_pi = 0.92 * np.exp(-0.45 * tf_sites["mismatches"].to_numpy())
    active = all_promoters[~all_promoters["silent"]]
    top = float(active["strength"].max())
    tracks = []
    for k, name in enumerate(TF_MOTIFS):
        mine = (tf_sites["motif"] == name).to_numpy()
        src = pd.DataFrame({"chrom": tf_sites["chrom"].to_numpy()[mine], "centre": centre.to_numpy()[mine], "pi": site_pi[mine]})
        tracks.append(peaks.Track(f"ENCFF{500 + k}TF{name[:2]}", "TF", "GM12878", name, src, width=240, jitter=30, noise_peaks=10))
    for k, (name, motifs) in enumerate(_DNASE.items()):
        mine = tf_sites["motif"].isin(motifs).to_numpy()
        src = pd.concat([
            pd.DataFrame({"chrom": tf_sites["chrom"].to_numpy()[mine], "centre": centre.to_numpy()[mine], "pi": 0.7 * site_pi[mine]}),
            pd.DataFrame({"chrom": active["chrom"].to_numpy(), "centre": active["tss"].to_numpy() - 60, "pi": 0.9}),
        ], ignore_index=True)
        tracks.append(peaks.Track(f"ENCFF{600 + k}DNS", "DNase", name.split("_")[1], "", src, width=300, jitter=40, noise_peaks=15))
    histone = [
        ("H3K4me3", pd.DataFrame({"chrom": active["chrom"], "centre": active["tss"], "pi": 0.35 + 0.6 * active["strength"] / top}), 800, 80),
        ("H3K27ac", pd.DataFrame({"chrom": enhancers["chrom"], "centre": enhancers["centre"], "pi": 0.85}), 500, 50),
        ("H3K9me3", pd.DataFrame({"chrom": repeats["chrom"], "centre": (repeats["start"] + repeats["end"]) // 2, "pi": 0.85}), 500, 50),
    ]
    for k, (mark, src, width, jitter) in enumerate(histone):
        tracks.append(peaks.Track(f"ENCFF{700 + k}HIS", "histone", "GM12878", mark, src.reset_index(drop=True), width=width, jitter=jitter, noise_peaks=15))
    return tracks
