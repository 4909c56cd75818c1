"""Every raw public source the paper's datasets are built from, with where to fetch it.

A Python table rather than a JSON file: it ships inside the package with no package-data
configuration, and each entry can carry a comment.

Checksums. A sha256 is given only where it was computed from the very bytes the URL serves:
the GitHub files below are pinned to a commit and were hashed from byte-identical copies (the
test data of this repository, see shared/data/SOURCES.md). Everything else has `sha256=None`:
the portals publish md5 at best (UCSC `bigZips/md5sum.txt`, ENCODE file metadata) or nothing
(EPD, GTEx, Princeton), and no hash is invented here. For those the fetcher trusts the first
download, prints its sha256 and writes it beside the file (`NAME.sha256`); later downloads to
the same place are checked against it. Pin a hash by adding it here (or pass `sha256=`).

ENCODE files are fetched by accession: `download("encode:ENCFF123ABC", dest)` uses
`ENCODE_URL`. The 96 RRBS bedMethyl accessions of Methyl96 are not listed in the paper, so
`METHYL96_ACCESSIONS` is None: pass your own list (a text file of accessions, one a line, to
`download_encode` / `dnabench download --accessions FILE`). ENCODE's portal lists candidate
files with the search in `ENCODE_RRBS_SEARCH` (not run by dnabench).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Source",
    "SOURCES",
    "ENCODE_URL",
    "ENCODE_RRBS_SEARCH",
    "METHYL96_ACCESSIONS",
    "TRACK7878_ACCESSIONS",
    "encode_url",
]


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    description: str
    tasks: tuple[str, ...]
    sha256: str | None = None
    filename: str | None = None  # default: the last part of the URL
    mirrors: tuple[str, ...] = ()
    checksum_note: str = ""
    terms: str = ""
    notes: str = ""
    size_hint: str = ""

    @property
    def file_name(self) -> str:
        return self.filename or self.url.rstrip("/").rsplit("/", 1)[-1]


ENCODE_URL = "https://www.encodeproject.org/files/{accession}/@@download/{accession}.{ext}"
ENCODE_RRBS_SEARCH = (
    "https://www.encodeproject.org/search/?type=File&assay_title=RRBS&file_format=bed"
    "&output_type=methylation+state+at+CpG&status=released&format=json&limit=all"
)
#: Not listed in the paper; pass your own list of ENCFF accessions (see the module docstring).
METHYL96_ACCESSIONS: tuple[str, ...] | None = None
#: Not shipped: the paper takes its 7878 accessions from DeepFun, whose repository lists them
#: (sources `deepfun_profiles_a` and `deepfun_profiles_b`); `dnabench.tasks.deepfun` turns those
#: lists into the metadata table and accession list of `dnabench prepare track7878`.
TRACK7878_ACCESSIONS: tuple[str, ...] | None = None


def encode_url(accession: str, ext: str = "bed.gz") -> str:
    """Download URL of an ENCODE file by accession (ENCFF...)."""
    return ENCODE_URL.format(accession=accession, ext=ext)


_UCSC = "https://hgdownload.soe.ucsc.edu/goldenPath"
_UCSC_MIRROR = "https://hgdownload.cse.ucsc.edu/goldenPath"
_UCSC_NOTE = "UCSC publishes md5 (not sha256) in bigZips/md5sum.txt"
_EPD = "https://epd.expasy.org/ftp/epdnew/H_sapiens/006"
_EPD_TERMS = "see the terms of use at epd.expasy.org"
_EXPECTO_COMMIT = "1b89458691e4dd86192c6ea93ad4bc02910a4df2"
_EXPECTO_RAW = f"https://raw.githubusercontent.com/FunctionLab/ExPecto/{_EXPECTO_COMMIT}/resources"
_EXPECTO_TERMS = "Princeton academic-use licence (see the ExPecto README)"
_KIRCHER_COMMIT = "c5cadb46a3ec9bbeb8f678e8dc2b2335191f121b"
_DEEPFUN_COMMIT = "ad65d4f2897de662504b8ae6ee80a3287aea97de"
_DEEPFUN_RAW = f"https://raw.githubusercontent.com/bsml320/DeepFun/{_DEEPFUN_COMMIT}"
_KIRCHER_RAW = f"https://raw.githubusercontent.com/kircherlab/MPRA_SaturationMutagenesis/{_KIRCHER_COMMIT}/data"
_GTEX = "https://storage.googleapis.com/adult-gtex/bulk-qtl/v8/fine-mapping-cis-eqtl"
_GTEX_OLD = "https://storage.googleapis.com/gtex_analysis_v8/single_tissue_qtl_data"
_GB_COMMIT = "605d8539830e16c85abe7826990958303ffc5e1c"
_GB_RAW = f"https://raw.githubusercontent.com/ML-Bioinfo-CEITEC/genomic_benchmarks/{_GB_COMMIT}/datasets/human_nontata_promoters"
_WGBS_COMMIT = "9ff7460d2863ec23a7494b352bc234b4fbbd5090"
_WGBS_RAW = f"https://raw.githubusercontent.com/ENCODE-DCC/wgbs-pipeline/{_WGBS_COMMIT}/tests/data"

_LIST = [
    # ----- reference genomes ------------------------------------------------------------------
    Source("hg38.fa.gz", f"{_UCSC}/hg38/bigZips/hg38.fa.gz", "UCSC hg38 (GRCh38) genome, gzip FASTA, soft-masked",
           ("promvary", "promfix", "methyl96", "causalsnp"), mirrors=(f"{_UCSC_MIRROR}/hg38/bigZips/hg38.fa.gz",),
           checksum_note=_UCSC_NOTE, size_hint="~0.9 GB"),
    Source("hg38.2bit", f"{_UCSC}/hg38/bigZips/hg38.2bit", "UCSC hg38 genome, 2bit",
           ("promvary", "promfix", "methyl96", "causalsnp"), mirrors=(f"{_UCSC_MIRROR}/hg38/bigZips/hg38.2bit",),
           checksum_note=_UCSC_NOTE, size_hint="~0.8 GB"),
    Source("hg19.fa.gz", f"{_UCSC}/hg19/bigZips/hg19.fa.gz", "UCSC hg19 (GRCh37) genome, gzip FASTA",
           ("track7878", "geneexp", "mpraprom"), mirrors=(f"{_UCSC_MIRROR}/hg19/bigZips/hg19.fa.gz",),
           checksum_note=_UCSC_NOTE, size_hint="~0.9 GB"),
    Source("hg19.2bit", f"{_UCSC}/hg19/bigZips/hg19.2bit", "UCSC hg19 genome, 2bit",
           ("track7878", "geneexp", "mpraprom"), mirrors=(f"{_UCSC_MIRROR}/hg19/bigZips/hg19.2bit",),
           checksum_note=_UCSC_NOTE, size_hint="~0.8 GB"),
    Source("hs1.fa.gz", f"{_UCSC}/hs1/bigZips/hs1.fa.gz", "T2T-CHM13 v2.0 (UCSC hs1), gzip FASTA",
           ("pretraining",), checksum_note=_UCSC_NOTE, size_hint="~0.9 GB",
           notes="not used by the paper's tasks; an alternative reference for pretraining"),
    Source("hs1.2bit", f"{_UCSC}/hs1/bigZips/hs1.2bit", "T2T-CHM13 v2.0 (UCSC hs1), 2bit",
           ("pretraining",), checksum_note=_UCSC_NOTE, size_hint="~0.8 GB",
           notes="not used by the paper's tasks; an alternative reference for pretraining"),
    # ----- PromVary / PromFix: EPD human promoters ---------------------------------------------
    Source("epd_hg38_bed", f"{_EPD}/Hs_EPDnew_006_hg38.bed",
           "EPDnew human 006 promoters on hg38, BED (60 bp -49..+10, TSS marked by thickStart/thickEnd), 29,598 promoters",
           ("promvary", "promfix"), mirrors=("ftp://ccg.epfl.ch/epdnew/H_sapiens/006/Hs_EPDnew_006_hg38.bed",),
           checksum_note="EPD publishes no checksum", terms=_EPD_TERMS),
    Source("epd_hg38_sga", f"{_EPD}/Hs_EPDnew_006_hg38.sga",
           "EPDnew human 006 TSSs on hg38, SGA (RefSeq accession, 1-based TSS, strand, name)",
           ("promvary", "promfix"), checksum_note="EPD publishes no checksum", terms=_EPD_TERMS),
    Source("epd_hg19_bed", f"{_EPD}/Hs_EPDnew_006_hg19.bed", "EPDnew human 006 promoters on hg19, BED",
           ("promvary", "promfix"), checksum_note="EPD publishes no checksum", terms=_EPD_TERMS),
    Source("epd_promoter_motifs", f"{_EPD}/db/promoter_motifs.txt", "EPDnew 006 motif annotation (TATA, Inr, CCAAT, GC box)",
           ("promvary",), checksum_note="EPD publishes no checksum", terms=_EPD_TERMS),
    # ----- Track7878 / DeepSEA --------------------------------------------------------------------
    Source("deepsea_train_bundle", "https://deepsea.princeton.edu/media/code/deepsea_train_bundle.v0.9.tar.gz",
           "DeepSEA training data (919 labels, 1000 bp, hg19): train/valid/test .mat, used in paper 6.2",
           ("track7878",), mirrors=("http://deepsea.princeton.edu/media/code/deepsea_train_bundle.v0.9.tar.gz",),
           checksum_note="no published checksum", size_hint="~3.3 GB"),
    Source("deepfun_profiles_a", f"{_DEEPFUN_RAW}/Profiles_list_A.txt",
           "DeepFun's epigenomic profiles, list A (3,451 ENCODE peak files: target^biosample type^biosample^ENCFF)",
           ("track7878",), checksum_note="not hashed here (no local copy)",
           notes="Track7878's accessions come from DeepFun (paper 4.1.3); see dnabench.tasks.deepfun"),
    Source("deepfun_profiles_b", f"{_DEEPFUN_RAW}/Profiles_list_B.txt",
           "DeepFun's epigenomic profiles, list B (the other ENCODE peak files, same format)",
           ("track7878",), checksum_note="not hashed here (no local copy)",
           notes="Track7878's accessions come from DeepFun (paper 4.1.3); see dnabench.tasks.deepfun"),
    Source("deepsea_beluga_2002_features", f"{_EXPECTO_RAW}/deepsea_beluga_2002_features.tsv",
           "The 2,002 DeepSEA/Beluga chromatin features (cell type, assay, ENCODE/Roadmap file)",
           ("track7878", "geneexp"), sha256="04554efe4acb95a1e18ed47f3a1ad17ae969e19d46de47cdf9e9cca8df5c4ef9",
           terms=_EXPECTO_TERMS),
    # ----- GeneExp: ExPecto ----------------------------------------------------------------------
    Source("expecto_geneanno", f"{_EXPECTO_RAW}/geneanno.csv",
           "ExPecto gene annotation: 24,338 genes with representative TSS (hg19), row order of geneanno.exp.csv",
           ("geneexp",), sha256="0c1fa4f063016c94add6290dfff47d709bbf7cec33f8f778cad269e4ab958457", terms=_EXPECTO_TERMS),
    Source("expecto_geneanno_exp", f"{_EXPECTO_RAW}/geneanno.exp.csv",
           "ExPecto expression targets: genes x 218 tissues/cell types", ("geneexp",),
           checksum_note="not hashed here (no local copy)", terms=_EXPECTO_TERMS),
    Source("expecto_geneanno_pc_bed", f"{_EXPECTO_RAW}/geneanno.pc.sorted.bed",
           "ExPecto representative TSSs of 18,625 protein-coding genes (hg19 BED)", ("geneexp",),
           sha256="f5e1e6564148c50297e5e0f330e2eff8585985a5ca24e8d375ee98e4d6c5436d", terms=_EXPECTO_TERMS),
    Source("expecto_resources", "https://deepsea.princeton.edu/media/code/expecto/resources_20190807.tar.gz",
           "ExPecto resources bundle (Beluga model, precomputed features; the repository's download_resources.sh)",
           ("geneexp",), mirrors=("http://deepsea.princeton.edu/media/code/expecto/resources_20190807.tar.gz",),
           checksum_note="no published checksum", terms=_EXPECTO_TERMS, size_hint="several GB",
           notes="the ExPecto repository points at this Princeton URL; no S3 copy is referenced there"),
    # ----- CausalSNP: GTEx v8 fine-mapping --------------------------------------------------------
    Source("gtex_v8_finemapping_dapg", f"{_GTEX}/GTEx_v8_finemapping_DAPG.tar",
           "GTEx v8 eQTL fine-mapping with DAP-G (variant PIPs per tissue); the paper's positives PIP > 0.9, negatives < 0.01",
           ("causalsnp",), mirrors=(f"{_GTEX_OLD}/GTEx_v8_finemapping_DAPG.tar",),
           checksum_note="GTEx publishes no checksum", terms="GTEx portal open-access data; see gtexportal.org"),
    Source("gtex_v8_finemapping_caveman", f"{_GTEX}/GTEx_v8_finemapping_CaVEMaN.tar",
           "GTEx v8 eQTL fine-mapping with CaVEMaN", ("causalsnp",),
           mirrors=(f"{_GTEX_OLD}/GTEx_v8_finemapping_CaVEMaN.tar",), checksum_note="GTEx publishes no checksum"),
    Source("gtex_v8_finemapping_caviar", f"{_GTEX}/GTEx_v8_finemapping_CAVIAR.tar",
           "GTEx v8 eQTL fine-mapping with CAVIAR", ("causalsnp",),
           mirrors=(f"{_GTEX_OLD}/GTEx_v8_finemapping_CAVIAR.tar",), checksum_note="GTEx publishes no checksum"),
    # ----- MPRAProm: Kircher et al. 2019 -----------------------------------------------------------
    Source("kircher2019_elements", f"{_KIRCHER_RAW}/elements.tsv.gz",
           "Kircher 2019 saturation-mutagenesis MPRA: 89,316 variant rows (both builds), log2 effects",
           ("mpraprom",), sha256="fec2eed91fe27af3aae07ebce2eca65e9bad4bb6abba5d8c27f478887dd7b134",
           terms="GPL-3.0 repository; cite Kircher et al. 2019 Nat Commun 10:3583"),
    Source("kircher2019_promoters", f"{_KIRCHER_RAW}/promoters.tsv", "Kircher 2019: promoter element names",
           ("mpraprom",), sha256="3f30766c96b434f9ccb5d0044239e562a6775f8fc45ae368a5a0fff884e53c06"),
    Source("kircher2019_enhancers", f"{_KIRCHER_RAW}/enhancers.tsv", "Kircher 2019: enhancer element names",
           ("mpraprom",), sha256="c442c64144ac71663a12943b76c1a502168c71159299e5528cd781710aee0dd7"),
    # ----- small public files used by the tests and examples -------------------------------------
    Source("genomic_benchmarks_nontata_train_positive", f"{_GB_RAW}/train/positive.csv.gz",
           "genomic_benchmarks human_nontata_promoters train positives (EPD ids, GRCh38 251 bp windows)",
           ("examples",), sha256="8d8824518233a49cd02d9854a28154078bc69f3509719855dd4127a9024a44c9",
           filename="human_nontata_promoters_train_positive.csv.gz"),
    Source("encode_wgbs_cpg_10e5", f"{_WGBS_RAW}/encode_cpg_10e5.bed.gz",
           "ENCODE WGBS pipeline test bedMethyl (ENCSR156JXJ, 99,999 CpGs on chr1, GRCh38)", ("examples",),
           sha256="ba368249b722c9d1fc3827676b457a1a0bc6c8a515d93aba943655a3d39c2a81"),
    Source("encode_wgbs_cpg_10e5_gt_10x", f"{_WGBS_RAW}/encode_cpg_10e5_gt_10x_coverage.bed.gz",
           "ENCODE WGBS pipeline test bedMethyl: the 359 CpGs of the same sample with > 10x coverage", ("examples",),
           sha256="90cf550cc569fd8bd6428ded95311fe192e7ac97d8059ff1e690e2f74c10656c"),
]

#: name -> Source
SOURCES: dict[str, Source] = {s.name: s for s in _LIST}
