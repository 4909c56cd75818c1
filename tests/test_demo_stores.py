"""The demo stores: the real prepare commands build all seven from the world, small, and reproducibly."""

from __future__ import annotations

import pytest

from dnabench.data.store import open_store
from dnabench.demo.stores import DEMO_TASKS, GENEEXP_GEOMETRY, build_stores, store_options
from dnabench.demo.world import make_world


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stores")
    world = make_world(tmp / "world", seed=0, scale="small")
    seen = []
    stores = build_stores(world, tmp / "stores", progress=lambda stage, done, total: seen.append((done, total)))
    return world, stores, seen, tmp


def test_every_task_has_a_small_store(built):
    world, stores, seen, tmp = built
    assert list(stores) == list(DEMO_TASKS) and seen[-1] == (len(DEMO_TASKS) + 1, len(DEMO_TASKS) + 1)
    assert (tmp / "stores" / "genome" / "genome.json").is_file()
    for task, path in stores.items():
        store = open_store(path)
        assert store.card["task"] == task and 200 <= store.n_rows <= 5_000, (task, store.n_rows)
        assert all(store.card["counts"][s] > 0 for s in ("train", "val", "test")), task
    geneexp = open_store(stores["geneexp"])
    assert geneexp.card["sample"]["segments"] == GENEEXP_GEOMETRY["window"] // GENEEXP_GEOMETRY["segment_length"] == 20
    assert geneexp.card["sample"]["length"] == 1_000 and geneexp.n_rows == len(world.truth["genes"])
    track = open_store(stores["track7878"])
    assert track.label_names == [t.accession for t in world.tracks] and 8 <= len(track.label_names) <= 16
    assert open_store(stores["causalsnp"]).card["dropped"]["ref_mismatch"]["variants"] == 0


def test_same_seed_gives_identical_stores(built, tmp_path):
    world, stores, _, _ = built
    again = build_stores(make_world(tmp_path / "world", seed=0, scale="small"), tmp_path / "stores")
    for task in DEMO_TASKS:
        a, b = open_store(stores[task]).card, open_store(again[task]).card
        assert {k: v["sha256"] for k, v in a["files"].items()} == {k: v["sha256"] for k, v in b["files"].items()}, task
        assert [s["sha256"] for s in a["sources"]] == [s["sha256"] for s in b["sources"]], task


def test_options_are_those_of_the_prepare_commands(built, tmp_path):
    world, _, _, _ = built
    with pytest.raises(KeyError, match="unknown demo task"):
        store_options(world, "deepsea", tmp_path, tmp_path)
    with pytest.raises(FileExistsError):
        build_stores(world, built[3] / "stores", tasks=("promvary",))
