"""DeepSEA import: tiny .mat files in both formats (v7.3 through h5py, v5 through scipy) -> store."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io

h5py = pytest.importorskip("h5py")

from dnabench.data.store import open_store  # noqa: E402
from dnabench.io.files import InputError  # noqa: E402
from dnabench.io.matlab import MatFile, SequenceMat, mat_version  # noqa: E402
from dnabench.tasks import get_prepare, get_task  # noqa: E402
from dnabench.tasks.deepsea import build_deepsea, deepsea_features, deepsea_label_names, prepare_deepsea  # noqa: E402

L, K = 1000, 919
CHANNEL = np.array([0, 2, 1, 3])  # dnabench code A0 C1 G2 T3 -> DeepSEA channel (A, G, C, T)
SIZES = {"train": 23, "val": 6, "test": 11}


def onehot(codes: np.ndarray) -> np.ndarray:
    """dnabench codes [n, L] -> DeepSEA one-hot [n, 4, L] (channels A, G, C, T; N all zero)."""
    x = np.zeros((codes.shape[0], 4, codes.shape[1]), dtype=np.uint8)
    for code in range(4):
        x[:, CHANNEL[code], :] += codes == code
    return x


def write_v73(path: Path, xname: str, yname: str, x: np.ndarray, y: np.ndarray, matlab_layout: bool = True) -> None:
    """As MATLAB -v7.3 writes: HDF5 behind a 512-byte user block, arrays seen reversed by h5py."""
    with h5py.File(path, "w", userblock_size=512) as f:
        xs, ys = (x.transpose(2, 1, 0), y.T) if matlab_layout else (x, y)
        sample_axis = 2 if matlab_layout else 0
        chunks = list(xs.shape)
        chunks[sample_axis] = 5
        f.create_dataset(xname, data=xs, chunks=tuple(chunks), compression="gzip").attrs["MATLAB_class"] = np.bytes_("uint8")
        f.create_dataset(yname, data=ys, compression="gzip").attrs["MATLAB_class"] = np.bytes_("uint8")
    with open(path, "r+b") as f:
        f.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2015 HDF5 schema 1.00 .".ljust(116))
        f.write(b"\x00" * 8 + b"\x00\x02IM")


def make_set(folder: Path, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """train.mat (v7.3), valid.mat (v5), test.mat (v5 compressed); returns split -> (codes, labels)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, n in SIZES.items():
        codes = rng.choice(5, size=(n, L), p=[0.24, 0.24, 0.24, 0.24, 0.04]).astype(np.uint8)
        labels = (rng.random((n, K)) < 0.03).astype(np.uint8)
        data[split] = (codes, labels)
    data["val"][0][0, :5] = [0, 1, 2, 3, 4]  # A C G T N: channels 0, 2, 1, 3, none
    data["test"][0][3] = data["train"][0][7]  # one sequence in two splits, for the leakage report
    write_v73(folder / "train.mat", "trainxdata", "traindata", onehot(data["train"][0]), data["train"][1])
    scipy.io.savemat(folder / "valid.mat", {"validxdata": onehot(data["val"][0]), "validdata": data["val"][1]})
    scipy.io.savemat(folder / "test.mat", {"testxdata": onehot(data["test"][0]), "testdata": data["test"][1].astype(bool)}, do_compression=True)
    return data


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deepsea")
    data = make_set(tmp / "mat")
    store = build_deepsea(tmp / "mat", tmp / "store", chunk_rows=4)
    return tmp, data, store


def test_formats_and_layouts(built):
    tmp, _, store = built
    assert [mat_version(tmp / "mat" / f) for f in ("train.mat", "valid.mat", "test.mat")] == ["7.3", "5", "5"]
    inputs = {i["file"]: i for i in store.card["inputs"]}
    assert inputs["train.mat"]["x"]["shape"] == [L, 4, SIZES["train"]] and inputs["train.mat"]["x"]["axes"] == {"rows": 2, "bases": 1, "positions": 0}
    assert inputs["train.mat"]["y"]["axes"] == {"rows": 1, "labels": 0}
    assert inputs["valid.mat"]["x"]["shape"] == [SIZES["val"], 4, L] and inputs["valid.mat"]["x"]["axes"] == {"rows": 0, "bases": 1, "positions": 2}
    assert inputs["test.mat"]["y"]["matlab_class"] == "logical"


def test_store_round_trip(built):
    tmp, data, store = built
    again = open_store(tmp / "store", verify=True)
    assert again.card["counts"] == SIZES and store.card["sequence_source"] == "codes" and store.input_length == L
    expected_codes = np.concatenate([data[s][0] for s in ("train", "val", "test")])
    expected_labels = np.concatenate([data[s][1] for s in ("train", "val", "test")])
    np.testing.assert_array_equal(np.asarray(again.codes), expected_codes)
    np.testing.assert_array_equal(again.labels.dense(slice(None)), expected_labels.astype(np.float32))
    assert again.labels.storage == "csr" and again.labels.nnz == int(expected_labels.sum())
    val0 = again.split_indices("val")[0]
    np.testing.assert_array_equal(again.sequences([val0])[0, :5], [0, 1, 2, 3, 4])  # base order and N
    r = again.regions
    assert list(r["source"].astype(str).unique()) == ["train.mat", "valid.mat", "test.mat"]
    np.testing.assert_array_equal(r.loc[r["split"] == "test", "source_row"], np.arange(SIZES["test"]))
    assert (r["chrom"].astype(str) == ".").all() and (r["start"] == 0).all()


def test_card(built):
    _, data, store = built
    c = store.card
    labels = c["labels"]
    assert c["task"] == "deepsea" and labels["kind"] == "multilabel" and len(labels["names"]) == K
    assert labels["group_sizes"] == {"dnase": 125, "tf": 690, "histone": 104} and len(labels["groups"]) == K
    assert labels["names"][0] == "8988T|DNase|None" and len(set(labels["names"])) == K
    assert c["metrics"] == ["auroc", "auprc"] and c["loss"] == "focal"
    assert [s["name"] for s in c["sources"]] == ["train.mat", "valid.mat", "test.mat"] and all(len(s["sha256"]) == 64 for s in c["sources"])
    assert c["parameters"]["base_order"] == "AGCT"
    assert c["leakage"]["identical_sequences"]["by_pair"]["train-test"]["distinct"] == 1
    assert sum(labels["positives_per_label"]) == sum(int(d[1].sum()) for d in data.values())


def test_trains_through_loader(built):
    from dnabench.training.data import load_store_data

    tmp, data, _ = built
    d = load_store_data(tmp / "store")
    assert {s: v.size for s, v in d.splits.items()} == SIZES and d.input_length == L
    assert d.spec.label_kind == "multilabel" and len(d.labels.groups) == K and d.spec.loss == "focal"
    rows = np.array([30, 2, 24])  # test, train, val
    codes, labels = d.source.get_batch(rows)
    assert codes.dtype == np.uint8 and codes.shape == (3, L) and labels.shape == (3, K)
    np.testing.assert_array_equal(codes[0], data["test"][0][30 - 29])
    np.testing.assert_array_equal(codes[1], data["train"][0][2])
    np.testing.assert_array_equal(labels[2], data["val"][1][1])


def test_either_orientation(tmp_path):
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 5, size=(9, L)).astype(np.uint8)
    y = (rng.random((9, K)) < 0.1).astype(np.uint8)
    x = onehot(codes)
    scipy.io.savemat(tmp_path / "t.mat", {"xx": x.transpose(2, 1, 0), "yy": y.T.astype(np.float64)})  # [L, 4, N], [K, N]
    write_v73(tmp_path / "h.mat", "xx", "yy", x, y, matlab_layout=False)  # h5py [N, 4, L], [N, K]
    for name in ("t.mat", "h.mat"):
        with SequenceMat(tmp_path / name, "xx", "yy", length=L, n_labels=K, base_order="AGCT") as m:
            got = list(m.chunks(4))
            assert [c.shape[0] for c, _ in got] == ([4, 4, 1] if name == "t.mat" else [5, 4])  # h5: rounded to 5-row chunks
            np.testing.assert_array_equal(np.concatenate([c for c, _ in got]), codes)
            np.testing.assert_array_equal(np.concatenate([lab for _, lab in got]), y)
    scipy.io.savemat(tmp_path / "a.mat", {"xx": np.zeros((4, 6, 6), np.uint8), "yy": np.zeros((6, 3), np.uint8)})
    with pytest.raises(InputError, match=r"a\.mat: variable xx: shape \[4, 6, 6\] \(MATLAB order\) is ambiguous"):
        SequenceMat(tmp_path / "a.mat", "xx", "yy", length=6, n_labels=3)


def test_missing_file(tmp_path):
    make_set(tmp_path / "mat")
    (tmp_path / "mat" / "test.mat").unlink()
    with pytest.raises(FileNotFoundError, match="test.mat"):
        build_deepsea(tmp_path / "mat", tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_bad_shapes(tmp_path):
    make_set(tmp_path / "mat")
    x = np.zeros((6, 5, L), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "mat" / "valid.mat", {"validxdata": x, "validdata": np.zeros((6, K), np.uint8)})
    with pytest.raises(InputError, match=r"valid\.mat: variable validxdata: shape \[6, 5, 1000\]"):
        build_deepsea(tmp_path / "mat", tmp_path / "store")
    scipy.io.savemat(tmp_path / "mat" / "valid.mat", {"validxdata": np.zeros((6, 4, L), np.uint8), "validdata": np.zeros((6, 918), np.uint8)})
    with pytest.raises(InputError, match=r"valid\.mat: variable validdata: .* no axis of 919"):
        build_deepsea(tmp_path / "mat", tmp_path / "store")
    scipy.io.savemat(tmp_path / "mat" / "valid.mat", {"x": np.zeros((6, 4, L), np.uint8)})
    with pytest.raises(InputError, match=r"valid\.mat: no variable 'validxdata'; variables: x"):
        build_deepsea(tmp_path / "mat", tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_bad_values_leave_nothing(tmp_path):
    data = make_set(tmp_path / "mat")
    codes, labels = data["test"]
    labels = labels.copy()
    labels[9, 17] = 2
    scipy.io.savemat(tmp_path / "mat" / "test.mat", {"testxdata": onehot(codes), "testdata": labels})
    with pytest.raises(InputError, match=r"test\.mat: variable testdata: label values must be 0 or 1, found 2 at row 9, label 17"):
        build_deepsea(tmp_path / "mat", tmp_path / "store", chunk_rows=4)
    assert not (tmp_path / "store").exists() and not list(tmp_path.glob(".store*"))
    x = onehot(codes)
    x[2, :, 10] = 1
    scipy.io.savemat(tmp_path / "mat" / "test.mat", {"testxdata": x, "testdata": data["test"][1]})
    with pytest.raises(InputError, match=r"testxdata: row 2, position 10 has 4 bases set"):
        build_deepsea(tmp_path / "mat", tmp_path / "store")
    assert not (tmp_path / "store").exists()


def test_without_h5py(tmp_path, monkeypatch):
    make_set(tmp_path / "mat")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"dnabench\[deepsea\]"):
        build_deepsea(tmp_path / "mat", tmp_path / "store")


def test_v5_reader_matches_scipy(tmp_path):
    rng = np.random.default_rng(2)
    variables = {
        "d": rng.random((3, 5, 2)),
        "i16": rng.integers(-300, 300, size=(4, 7)).astype(np.int16),
        "flag": rng.random((5, 3)) < 0.5,
        "one": np.array([[7.0]]),
        "a_longer_name": rng.integers(0, 2, size=(2, 3, 4)).astype(np.uint8),
        "text": "not numeric",
    }
    for compress in (False, True):
        path = tmp_path / f"v{int(compress)}.mat"
        scipy.io.savemat(path, variables, do_compression=compress)
        ref = scipy.io.loadmat(path)
        with MatFile(path) as m:
            assert m.names == list(variables)
            for name in variables:
                if name == "text":
                    with pytest.raises(InputError, match="char array"):
                        m.array(name)
                    continue
                got = np.asarray(m.array(name))
                assert got.shape == ref[name].shape
                np.testing.assert_array_equal(got, ref[name])


def test_not_a_mat_file(tmp_path):
    (tmp_path / "x.mat").write_bytes(b"hello" * 40)
    with pytest.raises(InputError, match="not a MATLAB v5 or v7.3"):
        MatFile(tmp_path / "x.mat")


def test_features_and_registry():
    f = deepsea_features()
    assert len(f) == K and list(f["index"]) == list(range(K))
    assert f["group"].value_counts().to_dict() == {"tf": 690, "dnase": 125, "histone": 104}
    assert (f.loc[f["group"] == "dnase", "assay"] == "DNase").all()
    names = deepsea_label_names(f)
    assert names.count("K562|CTCF|None") == 1 and "K562|CTCF|None#2" in names
    spec = get_task("deepsea")
    assert (spec.n_labels, spec.input_length, spec.label_groups) == (K, L, ("dnase", "tf", "histone"))
    assert get_prepare("deepsea").run is prepare_deepsea and get_prepare("deepsea").spec is spec


def test_cli(tmp_path):
    from typer.testing import CliRunner

    from dnabench.cli import app

    make_set(tmp_path / "mat")
    runner = CliRunner()
    res = runner.invoke(app, ["prepare", "deepsea", "--mat", str(tmp_path / "mat"), "--out", str(tmp_path / "s"), "--quiet", "--no-leakage"])
    assert res.exit_code == 0, res.output
    assert "deepsea" in res.output and open_store(tmp_path / "s").n_rows == sum(SIZES.values())
    res = runner.invoke(app, ["prepare", "deepsea", "--mat", str(tmp_path / "nope"), "--out", str(tmp_path / "t"), "--quiet"])
    assert res.exit_code == 2 and "no such folder" in res.output
