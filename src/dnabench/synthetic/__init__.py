"""The synthetic world: a genome with planted, known signals and raw files in the real formats.

Each module plants one kind of signal and writes the files a real builder reads: `genome`
(sequence, FASTA), `motifs` (the PWMs every signal is made of), `promoters` (TSSs, EPD BED),
`methylation` (bedMethyl), `peaks` (narrowPeak and the track table), `expression` (ExPecto's
gene tables), `finemap` (GTEx DAP-G), `mpra` (the Kircher table) and `vcf`. Every generator
returns, with its files, the ground truth it used, so the best achievable score is computable.
"""

from dnabench.synthetic.genome import (
    DEMO_MOTIFS,
    HG19_SIZES,
    GenomeBuilder,
    SyntheticGenome,
    background,
    make_genome,
    plant_repeats,
    sizes_only_genome,
)

__all__ = [
    "DEMO_MOTIFS",
    "HG19_SIZES",
    "GenomeBuilder",
    "SyntheticGenome",
    "background",
    "make_genome",
    "plant_repeats",
    "sizes_only_genome",
]
